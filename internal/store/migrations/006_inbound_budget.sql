-- The budget for the bodies of mail received at the return path (issue 10):
-- bytes is what the stored bodies of all inbound messages take now,
-- whatever their state (an attacker holding a real feedback token can send
-- attributed mail too); dropped_through is the highest inbound_messages id
-- whose body the budget has dropped, oldest first, so the next drop starts
-- after it. One row, owned by package inbound and updated in the
-- transaction that stores each message.
CREATE TABLE inbound_budget (
	id INTEGER PRIMARY KEY,
	bytes BIGINT NOT NULL,
	dropped_through BIGINT NOT NULL
);
INSERT INTO inbound_budget (id, bytes, dropped_through)
	SELECT 1, COALESCE(SUM(LENGTH(body)), 0), 0 FROM inbound_messages;
-- inbound_outcomes records, per original message, recipient and event kind,
-- when return-path mail last produced that event, so that a later report
-- about the same message, recipient and kind makes no second event (a
-- DeliveryDelay at most one an hour). Owned by package inbound.
CREATE TABLE inbound_outcomes (
	message_id TEXT NOT NULL,
	recipient TEXT NOT NULL,
	kind TEXT NOT NULL,
	last_ms BIGINT NOT NULL,
	PRIMARY KEY (message_id, recipient, kind)
);
CREATE INDEX inbound_outcomes_last ON inbound_outcomes (last_ms)
