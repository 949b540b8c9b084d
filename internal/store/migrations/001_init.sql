-- Accounts are tenants. sending_account_id is the 12-digit id shown as
-- mail.sendingAccountId and in ARNs.
CREATE TABLE accounts (
	name TEXT PRIMARY KEY,
	sending_account_id TEXT NOT NULL UNIQUE,
	sending_enabled INTEGER NOT NULL DEFAULT 1,
	created_ms BIGINT NOT NULL
);

-- Access keys: the secret is sealed with the data-dir key (AES-GCM); SigV4
-- needs the plaintext, so it cannot be hashed.
CREATE TABLE access_keys (
	access_key_id TEXT PRIMARY KEY,
	account TEXT NOT NULL REFERENCES accounts(name),
	secret_sealed {{BLOB}} NOT NULL,
	active INTEGER NOT NULL DEFAULT 1,
	created_ms BIGINT NOT NULL
);

CREATE TABLE identities (
	account TEXT NOT NULL REFERENCES accounts(name),
	name TEXT NOT NULL,
	kind TEXT NOT NULL,
	verified INTEGER NOT NULL DEFAULT 0,
	created_ms BIGINT NOT NULL,
	PRIMARY KEY (account, name)
);

-- One row per accepted message: the body as it will be delivered and the
-- SES "mail" object that every event of the message carries.
CREATE TABLE messages (
	id TEXT PRIMARY KEY,
	account TEXT NOT NULL,
	created_ms BIGINT NOT NULL,
	mail_from TEXT NOT NULL,
	mail_json TEXT NOT NULL,
	body {{BLOB}} NOT NULL
);
CREATE INDEX messages_account_created ON messages (account, created_ms);

-- Live delivery work, one row per (message, recipient). Finished rows are
-- deleted; their history is in events.
CREATE TABLE queue (
	id TEXT PRIMARY KEY,
	message_id TEXT NOT NULL REFERENCES messages(id),
	account TEXT NOT NULL,
	rcpt TEXT NOT NULL,
	domain TEXT NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	created_ms BIGINT NOT NULL,
	next_attempt_ms BIGINT NOT NULL,
	deadline_ms BIGINT NOT NULL,
	lease_owner TEXT NOT NULL DEFAULT '',
	lease_until_ms BIGINT NOT NULL DEFAULT 0,
	last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX queue_due ON queue (next_attempt_ms);
CREATE INDEX queue_owner ON queue (lease_owner);

-- SES-format events. detail is the event-specific object ("delivery",
-- "bounce", …); the "mail" object comes from messages.mail_json.
CREATE TABLE events (
	id {{AUTOID}},
	message_id TEXT NOT NULL,
	account TEXT NOT NULL,
	kind TEXT NOT NULL,
	recipient TEXT NOT NULL DEFAULT '',
	created_ms BIGINT NOT NULL,
	detail TEXT NOT NULL
);
CREATE INDEX events_message ON events (message_id);
CREATE INDEX events_account ON events (account, id);

-- Mail received at the return path, kept until the bounce parsers consume it.
CREATE TABLE inbound_messages (
	id {{AUTOID}},
	received_ms BIGINT NOT NULL,
	mail_from TEXT NOT NULL,
	rcpt TEXT NOT NULL,
	message_id TEXT NOT NULL DEFAULT '',
	recipient TEXT NOT NULL DEFAULT '',
	body {{BLOB}} NOT NULL
)
