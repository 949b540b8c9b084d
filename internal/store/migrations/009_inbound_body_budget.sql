-- One budget for every stored inbound body (issue 10): inbound_budget.bytes
-- now counts the bodies of all inbound messages, attributed ones included
-- (an attacker holding a real feedback token can send attributed mail), and
-- the budget drops the oldest bodies whatever their state. dropped_through
-- restarts at 0; bodies dropped before count 0 bytes and are passed over.
--
-- inbound_outcomes records, per original message, recipient and event kind,
-- when return-path mail last produced that event, so that a later report
-- about the same message, recipient and kind makes no second event (a
-- DeliveryDelay at most one an hour). Owned by package inbound.
UPDATE inbound_budget SET bytes = (SELECT COALESCE(SUM(LENGTH(body)), 0) FROM inbound_messages), dropped_through = 0 WHERE id = 1;
CREATE TABLE inbound_outcomes (
	message_id TEXT NOT NULL,
	recipient TEXT NOT NULL,
	kind TEXT NOT NULL,
	last_ms BIGINT NOT NULL,
	PRIMARY KEY (message_id, recipient, kind)
);
CREATE INDEX inbound_outcomes_last ON inbound_outcomes (last_ms)
