-- Notifications (issue 14). Owned by package notify.
--
-- notify_outbox: one row per event that something may want to hear about,
-- written in the event's own transaction (event.Log → notify.Engine.AddTx),
-- so a crash can repeat a notification but never lose one. The fan-out
-- leases rows (lease_owner until lease_until_ms), asks the router which jobs
-- each produces, and in one transaction stores the jobs and deletes the row.
-- mail is the SES "mail" object for test events (petrel notifications
-- test); NULL means the router reads the message's own. attempts and
-- last_error count routing failures (the row is retried, never dropped).
CREATE TABLE notify_outbox (
	id {{AUTOID}},
	kind TEXT NOT NULL,
	message_id TEXT NOT NULL,
	account TEXT NOT NULL,
	recipient TEXT NOT NULL DEFAULT '',
	created_ms BIGINT NOT NULL,
	detail TEXT NOT NULL,
	mail TEXT,
	attempts INTEGER NOT NULL DEFAULT 0,
	last_error TEXT NOT NULL DEFAULT '',
	lease_owner TEXT NOT NULL DEFAULT '',
	lease_until_ms BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX notify_outbox_lease ON notify_outbox (lease_until_ms);

-- notify_deliveries: one row per notification job (notify.Job) to one
-- endpoint. id is the job's stable ID (X-Petrel-Event-Id, SNS MessageId).
-- state is 'pending' (being retried; leased while an attempt runs) or
-- 'dead' (a dead letter, kept until replayed). created_ms starts the retry
-- period (Replay restarts it); headers and secrets are JSON.
CREATE TABLE notify_deliveries (
	id TEXT PRIMARY KEY,
	account TEXT NOT NULL,
	target TEXT NOT NULL,
	channel TEXT NOT NULL,
	kind TEXT NOT NULL DEFAULT '',
	url TEXT NOT NULL DEFAULT '',
	headers TEXT NOT NULL DEFAULT '',
	body {{BLOB}} NOT NULL,
	secrets TEXT NOT NULL DEFAULT '',
	mail_from TEXT NOT NULL DEFAULT '',
	rcpt TEXT NOT NULL DEFAULT '',
	state TEXT NOT NULL DEFAULT 'pending',
	attempts INTEGER NOT NULL DEFAULT 0,
	created_ms BIGINT NOT NULL,
	next_attempt_ms BIGINT NOT NULL,
	dead_ms BIGINT NOT NULL DEFAULT 0,
	last_error TEXT NOT NULL DEFAULT '',
	lease_owner TEXT NOT NULL DEFAULT '',
	lease_until_ms BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX notify_deliveries_due ON notify_deliveries (state, next_attempt_ms);
CREATE INDEX notify_deliveries_target ON notify_deliveries (target, state, next_attempt_ms);
CREATE INDEX notify_deliveries_account ON notify_deliveries (account, state);
CREATE INDEX notify_deliveries_owner ON notify_deliveries (lease_owner);
