-- Suppression (issue 13). Owned by package suppression.
--
-- The account-level suppression list (SES: SuppressedDestination). address
-- is the comparison key (address.Address.Key: local part lower-cased in
-- ASCII, domain as an A-label), email the address as last written.
-- expires_ms is 0 for entries that stay until removed (every SES entry);
-- the soft-bounce policy adds entries that expire.
CREATE TABLE suppressed_destinations (
	account TEXT NOT NULL,
	address TEXT NOT NULL,
	email TEXT NOT NULL,
	reason TEXT NOT NULL,
	updated_ms BIGINT NOT NULL,
	expires_ms BIGINT NOT NULL DEFAULT 0,
	message_id TEXT NOT NULL DEFAULT '',
	feedback_id TEXT NOT NULL DEFAULT '',
	cause TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (account, address)
);
CREATE INDEX suppressed_destinations_updated ON suppressed_destinations (account, updated_ms);
-- For pruning the entries that expired (most have expires_ms 0).
CREATE INDEX suppressed_destinations_expires ON suppressed_destinations (expires_ms);
-- For the send path's prefilter, which reads the rows changed since its last read.
CREATE INDEX suppressed_destinations_changed ON suppressed_destinations (updated_ms);

-- Each account's suppression attributes (SES: SuppressionAttributes plus
-- Petrel's soft-bounce policy, JSON, '' for none). No row: the default for
-- new accounts, BOUNCE and COMPLAINT.
CREATE TABLE suppression_attributes (
	account TEXT PRIMARY KEY,
	reasons TEXT NOT NULL,
	soft_bounce TEXT NOT NULL DEFAULT ''
);

-- The global suppression list, shared by every account of this Petrel:
-- hard-bounced addresses, for a time that grows with each repeat.
-- bounces counts the hard bounces that (re)listed it.
CREATE TABLE global_suppressions (
	address TEXT PRIMARY KEY,
	email TEXT NOT NULL,
	first_ms BIGINT NOT NULL,
	updated_ms BIGINT NOT NULL,
	expires_ms BIGINT NOT NULL,
	bounces INTEGER NOT NULL,
	account TEXT NOT NULL DEFAULT '',
	message_id TEXT NOT NULL DEFAULT '',
	cause TEXT NOT NULL DEFAULT ''
);
CREATE INDEX global_suppressions_expires ON global_suppressions (expires_ms);
CREATE INDEX global_suppressions_changed ON global_suppressions (updated_ms);

-- Transient bounces counted by the soft-bounce policy, one row each.
CREATE TABLE soft_bounces (
	id {{AUTOID}},
	account TEXT NOT NULL,
	address TEXT NOT NULL,
	at_ms BIGINT NOT NULL,
	reason TEXT NOT NULL DEFAULT '',
	message_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX soft_bounces_address ON soft_bounces (account, address, at_ms);
