-- The write probe (issue 10): an idle Batcher updates this one row every few
-- seconds to prove the store still takes writes, so readiness sees a full
-- disk without traffic, and sees it recover. Owned by package store.
CREATE TABLE store_probe (
	id INTEGER PRIMARY KEY,
	probed_ms BIGINT NOT NULL
);
INSERT INTO store_probe (id, probed_ms) VALUES (1, 0)
