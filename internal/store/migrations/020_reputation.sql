-- Reputation (issue 15). Owned by package reputation.
--
-- The enforcement status of each account (configuration_set '') and of each
-- configuration set with reputation metrics enabled, with the figures of
-- its last evaluation: the window's start (window_start_ms, Unix ms) and
-- what counted in it (sends, hard_bounces; complaints over feedback_sends,
-- the sends to ISPs that report complaints), and whether the window held
-- the minimum volume (enforced 1) or the rates were only reported
-- (enforced 0). status is HEALTHY, PROBATION or SHUTDOWN; SHUTDOWN is the
-- enforcement pause: the accept path refuses the account's (or the set's)
-- mail until the operator resumes it. fresh_start_ms (0: never) is the
-- operator's last resume: only traffic from the next 15-minute boundary on
-- counts. quota_grown_ms (account rows; 0: never) is the last warm-up
-- growth of the account's quota. No row: HEALTHY, never evaluated.
CREATE TABLE reputation_status (
	account TEXT NOT NULL,
	configuration_set TEXT NOT NULL,
	status TEXT NOT NULL,
	evaluated_ms BIGINT NOT NULL,
	window_start_ms BIGINT NOT NULL,
	sends BIGINT NOT NULL,
	hard_bounces BIGINT NOT NULL,
	feedback_sends BIGINT NOT NULL,
	complaints BIGINT NOT NULL,
	enforced INTEGER NOT NULL,
	fresh_start_ms BIGINT NOT NULL,
	quota_grown_ms BIGINT NOT NULL,
	PRIMARY KEY (account, configuration_set)
);
-- For the sweep of statuses that may change as time passes.
CREATE INDEX reputation_status_status ON reputation_status (status);

-- Every status change (kind 'status': from_status → to_status with the
-- figures that caused it) and every quota change (kind 'quota': the old
-- and new Max24HourSend and MaxSendRate), with its cause ('evaluation',
-- 'resume', 'warm-up').
CREATE TABLE reputation_history (
	id {{AUTOID}},
	account TEXT NOT NULL,
	configuration_set TEXT NOT NULL,
	at_ms BIGINT NOT NULL,
	kind TEXT NOT NULL,
	cause TEXT NOT NULL,
	from_status TEXT NOT NULL,
	to_status TEXT NOT NULL,
	window_start_ms BIGINT NOT NULL,
	sends BIGINT NOT NULL,
	hard_bounces BIGINT NOT NULL,
	feedback_sends BIGINT NOT NULL,
	complaints BIGINT NOT NULL,
	old_max_24h_send BIGINT NOT NULL,
	new_max_24h_send BIGINT NOT NULL,
	old_max_send_rate DOUBLE PRECISION NOT NULL,
	new_max_send_rate DOUBLE PRECISION NOT NULL
);
CREATE INDEX reputation_history_account ON reputation_history (account, at_ms);
