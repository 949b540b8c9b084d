-- Message bodies larger than 1 MiB (issue 10): stored as rows of at most
-- 1 MiB here, in the transaction that stores the message (its messages.body
-- is then empty), so that no database driver holds copies of a whole 40 MB
-- body at once. Bodies up to 1 MiB stay inline in messages.body. Owned by
-- package spool.
CREATE TABLE message_chunks (
	message_id TEXT NOT NULL,
	seq INTEGER NOT NULL,
	data {{BLOB}} NOT NULL,
	PRIMARY KEY (message_id, seq)
)
