-- DKIM key rotation (issue 16; SES §1.6). A domain identity may hold
-- several keys, one row each, keyed by selector:
--   state ACTIVE   signs (at most one per identity);
--         NEXT     published, waiting for its DNS record to verify before it
--                  takes over (at most one);
--         RETIRING no longer signs; its record must stay published until
--                  state_since_ms + the overlap, then the row is deleted.
-- state_since_ms: when the key entered its state (Unix ms). reason: why
-- the key was made: CREATE (the identity's first), ROTATE (petrel
-- identity dkim rotate or the schedule), KEY_LENGTH (a NextSigningKeyLength
-- change, which SES allows once per 24 hours), BYODKIM (an operator's key)
-- or EASY (back to Easy DKIM from BYODKIM). retire_ms: for a RETIRING key,
-- when the overlap ends, the row is deleted and its record may be removed
-- (set at the switch from the overlap then configured). The columns
-- account, identity, selector, key_sealed and origin keep their meaning
-- (the DNS checker reads every row as one record to check).
-- dkim_keys_one_per_state enforces "at most one ACTIVE and one NEXT key per
-- identity" on both backends (a partial unique index); the code also locks
-- the identity row while it changes keys, so the index only ever refuses a
-- writer that skipped the lock.
-- identities.dkim_length_changed_ms: when the identity's NextSigningKeyLength
-- last changed (Unix ms; 0 = never), for SES's once-per-24-hours rule; kept
-- on the identity because the NEXT key that a change made can be replaced.
-- The old table is renamed and copied (SQLite cannot change a primary
-- key); the new key is named so as not to meet the old one's on PostgreSQL.
ALTER TABLE dkim_keys RENAME TO dkim_keys_025;
CREATE TABLE dkim_keys (
	account TEXT NOT NULL,
	identity TEXT NOT NULL,
	selector TEXT NOT NULL,
	algorithm TEXT NOT NULL,
	origin TEXT NOT NULL,
	key_sealed {{BLOB}} NOT NULL,
	signing_enabled INTEGER NOT NULL DEFAULT 1,
	created_ms BIGINT NOT NULL,
	state TEXT NOT NULL DEFAULT 'ACTIVE',
	state_since_ms BIGINT NOT NULL DEFAULT 0,
	reason TEXT NOT NULL DEFAULT 'CREATE',
	retire_ms BIGINT NOT NULL DEFAULT 0,
	CONSTRAINT dkim_keys_selector_pkey PRIMARY KEY (account, identity, selector)
);
INSERT INTO dkim_keys (account, identity, selector, algorithm, origin, key_sealed, signing_enabled, created_ms, state, state_since_ms)
	SELECT account, identity, selector, algorithm, origin, key_sealed, signing_enabled, created_ms, 'ACTIVE', created_ms FROM dkim_keys_025;
DROP TABLE dkim_keys_025;
CREATE INDEX dkim_keys_state ON dkim_keys (state);
CREATE UNIQUE INDEX dkim_keys_one_per_state ON dkim_keys (account, identity, state) WHERE state IN ('ACTIVE', 'NEXT');
ALTER TABLE identities ADD COLUMN dkim_length_changed_ms BIGINT NOT NULL DEFAULT 0;
