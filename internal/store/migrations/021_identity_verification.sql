-- Identity verification by DNS (issue 16; SES §9.2, §9.3). Owned by
-- package identity; identity_records is written by its checker
-- (identity.Checker: each check's outcome), by the record sync that
-- StartVerification and the checker run (rows added PENDING or deleted as
-- keys and settings come and go), by PutMailFrom (a FAILED MAIL FROM check
-- restarted) and by identity.Delete.
--
-- identities.vouched: 1 when the operator vouched for the identity
-- (petrel identity add --verified / identity verify): verified whatever
-- DNS says. Identities verified before this migration were verified by
-- the operator's word, so they become vouched and stay verified.
-- identities.verification_token: the `_amazonses.<domain>` TXT token of a
-- domain identity ('' for addresses; filled in by the checker for domains
-- created before this migration).
ALTER TABLE identities ADD COLUMN vouched INTEGER NOT NULL DEFAULT 0;
ALTER TABLE identities ADD COLUMN verification_token TEXT NOT NULL DEFAULT '';
UPDATE identities SET vouched = 1 WHERE verified = 1;

-- One row per DNS record an identity must publish: purpose is DKIM,
-- DOMAIN_TOKEN, MAIL_FROM_MX or MAIL_FROM_SPF; name is the FQDN queried
-- (lower case, no trailing dot). status: PENDING, SUCCESS, FAILED or
-- TEMPORARY_FAILURE. Times in Unix milliseconds (0 = never):
-- started_ms begins the 72-hour window, missing_since_ms is when a record
-- that had succeeded was first seen missing or wrong, next_check_ms when
-- the checker looks again (a FAILED record: daily). error_type is SES's
-- VerificationInfo.ErrorType ('' when none); expected and found are what
-- the record should hold and what DNS returned; soa is the zone's SOA as
-- JSON ('' when unknown); detail is the checker's explanation.
CREATE TABLE identity_records (
	account TEXT NOT NULL,
	identity TEXT NOT NULL,
	purpose TEXT NOT NULL,
	name TEXT NOT NULL,
	rtype TEXT NOT NULL DEFAULT 'TXT',
	status TEXT NOT NULL DEFAULT 'PENDING',
	started_ms BIGINT NOT NULL,
	last_checked_ms BIGINT NOT NULL DEFAULT 0,
	last_success_ms BIGINT NOT NULL DEFAULT 0,
	missing_since_ms BIGINT NOT NULL DEFAULT 0,
	error_type TEXT NOT NULL DEFAULT '',
	expected TEXT NOT NULL DEFAULT '',
	found TEXT NOT NULL DEFAULT '',
	soa TEXT NOT NULL DEFAULT '',
	detail TEXT NOT NULL DEFAULT '',
	next_check_ms BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (account, identity, purpose, name)
);
CREATE INDEX identity_records_due ON identity_records (next_check_ms);
