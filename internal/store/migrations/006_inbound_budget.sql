-- The total budget for the bodies of inbound mail that is not tied to a
-- message Petrel sent (issue 10): bytes is what the bodies of unattributed,
-- ignored and duplicate messages take now; dropped_through is the highest
-- inbound_messages id whose body (in those states) the budget has dropped,
-- oldest first, so the next drop starts after it. One row, owned by
-- package inbound and updated in the transaction that stores each message.
CREATE TABLE inbound_budget (
	id INTEGER PRIMARY KEY,
	bytes BIGINT NOT NULL,
	dropped_through BIGINT NOT NULL
);
INSERT INTO inbound_budget (id, bytes, dropped_through)
	SELECT 1, COALESCE(SUM(LENGTH(body)), 0), 0 FROM inbound_messages WHERE state IN ('unattributed', 'ignored', 'duplicate')
