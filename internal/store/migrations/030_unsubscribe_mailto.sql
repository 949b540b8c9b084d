-- The List-Unsubscribe mailto: addresses of sent messages (issue 17).
-- Owned by package contacts.
--
-- A mailto: address is short (u- + base32 of the compact message ID and
-- a MAC: RFC 5321 §4.5.3.1.1 allows 64 octets of local part), so the
-- unsubscribe it stands for is kept here: one row per message sent with
-- list management to one recipient, written in the transaction that stores
-- the message. token is the self-contained signed unsubscribe token
-- (contacts.Token.Sign); created_ms the message's acceptance, Unix ms.
-- Rows are pruned with the message records (package retention).
CREATE TABLE unsubscribe_mailto (
	message_id TEXT PRIMARY KEY,
	token TEXT NOT NULL,
	created_ms BIGINT NOT NULL
);
CREATE INDEX unsubscribe_mailto_created ON unsubscribe_mailto (created_ms);
