-- Sending statistics (issue 15). Owned by package stats.
--
-- One row per 15-minute bucket (bucket_ms: its start, Unix milliseconds,
-- a multiple of 900000), account, configuration set ('' for none), sending
-- identity, recipient ISP, metric and node: n is how many recipients the
-- metric counted there. Each node writes its own rows (node; on PostgreSQL
-- "node/backend pid", each connection its own), so that several nodes and
-- committers sharing PostgreSQL never wait on each other's counter rows;
-- readers sum over node. Rows are written in the transaction of the event
-- they count, and pruned after the statistics retention period.
CREATE TABLE send_counters (
	account TEXT NOT NULL,
	bucket_ms BIGINT NOT NULL,
	configuration_set TEXT NOT NULL,
	identity TEXT NOT NULL,
	isp TEXT NOT NULL,
	metric TEXT NOT NULL,
	node TEXT NOT NULL,
	n BIGINT NOT NULL,
	PRIMARY KEY (account, bucket_ms, configuration_set, identity, isp, metric, node)
);
CREATE INDEX send_counters_bucket ON send_counters (bucket_ms);
