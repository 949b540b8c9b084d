-- The running daemon's settings that identity work depends on (issue 16,
-- fix of the admin CLI judging records against its own defaults). Owned by
-- package identity. petrel serve writes them at start, all in one
-- transaction that first deletes the previous ones; the administrative
-- commands (petrel identity check, dkim, verify-email) read them as their
-- defaults. With several nodes on one database the last one started wins.
--
-- One row per setting: name is petrel serve's flag name (dns,
-- return-path-domain, verify-recheck, …), value its value in flag syntax;
-- node the id of the node that wrote it, recorded_ms when (Unix ms).
CREATE TABLE identity_settings (
	name TEXT PRIMARY KEY,
	value TEXT NOT NULL,
	node TEXT NOT NULL,
	recorded_ms BIGINT NOT NULL
);
