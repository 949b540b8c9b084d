-- Configuration-set event destinations (issue 14; SES v2 EventDestination,
-- ../shared/spec/ses.md §1.8). Owned by package configset.
--
-- One row per destination of a set; deleting the set deletes its rows.
-- enabled is 0/1. matching_event_types is the SES EventType values,
-- comma-separated, in the order given. Exactly one kind is set:
-- sns_topic_arn (SnsDestination) or webhook_url (Petrel's
-- WebhookDestination). A webhook's signing secret is sealed with the
-- data-dir key, bound to "webhook:<account>/<set>/<name>"; during a
-- rotation the previous one stays in previous_secret_sealed until
-- previous_until_ms (epoch ms; 0: none).
CREATE TABLE configuration_set_event_destinations (
	account TEXT NOT NULL,
	configuration_set TEXT NOT NULL,
	name TEXT NOT NULL,
	enabled INTEGER NOT NULL DEFAULT 0,
	matching_event_types TEXT NOT NULL,
	sns_topic_arn TEXT NOT NULL DEFAULT '',
	webhook_url TEXT NOT NULL DEFAULT '',
	secret_sealed {{BLOB}},
	previous_secret_sealed {{BLOB}},
	previous_until_ms BIGINT NOT NULL DEFAULT 0,
	created_ms BIGINT NOT NULL,
	PRIMARY KEY (account, configuration_set, name)
);
