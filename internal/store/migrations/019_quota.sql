-- Sending quotas, the sandbox and production access (issue 15,
-- ../shared/spec/ses.md §1.10, docs/quotas.md).
--
-- Account columns, owned by package account. production_access is 1 for an
-- account out of the sandbox; max_24h_send (recipients per rolling 24 h) and
-- max_send_rate (recipients per second) are SES's SendQuota, -1 unlimited.
-- Accounts that existed before keep production access and no limits. The
-- review_* columns hold the last PutAccountDetails request: mail_type
-- (MARKETING or TRANSACTIONAL), website_url, contact_language (EN or JA),
-- use_case, contact_addresses (a JSON array of addresses), review_status
-- ('' none, PENDING, GRANTED or DENIED), review_case_id, and when it was
-- asked and decided (0 = not).
ALTER TABLE accounts ADD COLUMN production_access INTEGER NOT NULL DEFAULT 1;
ALTER TABLE accounts ADD COLUMN max_24h_send BIGINT NOT NULL DEFAULT -1;
ALTER TABLE accounts ADD COLUMN max_send_rate DOUBLE PRECISION NOT NULL DEFAULT -1;
ALTER TABLE accounts ADD COLUMN mail_type TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN website_url TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN contact_language TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN use_case TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN contact_addresses TEXT NOT NULL DEFAULT '[]';
ALTER TABLE accounts ADD COLUMN review_status TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN review_case_id TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN review_requested_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN review_decided_ms BIGINT NOT NULL DEFAULT 0;

-- Recipients each node accepted per account per minute, owned by package
-- quota: written in each send's transaction (recipients += n), summed over
-- the last 24 h for the daily quota and GetAccount's SentLast24Hours, and
-- pruned after 24 h by the quota's heartbeat loop. minute_ms is the start
-- of the minute (Unix ms). conn is the PostgreSQL backend of the writing
-- transaction (pg_backend_pid(); 0 on SQLite), so that concurrent
-- group commits of one node never wait on each other's row.
CREATE TABLE send_usage (
	account TEXT NOT NULL,
	minute_ms BIGINT NOT NULL,
	node TEXT NOT NULL,
	conn BIGINT NOT NULL,
	recipients BIGINT NOT NULL,
	PRIMARY KEY (account, minute_ms, node, conn)
);
CREATE INDEX send_usage_minute ON send_usage (minute_ms);

-- Nodes' heartbeats, owned by package quota: a node seen within 30 s is
-- live, and each live node enforces its share of an account's sending rate.
CREATE TABLE quota_nodes (
	node TEXT PRIMARY KEY,
	seen_ms BIGINT NOT NULL
);
