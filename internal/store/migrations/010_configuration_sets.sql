-- Configuration sets (issue 13; SES v2 ConfigurationSet, ../shared/spec/ses.md
-- §1.8). Owned by package configset.
--
-- One row per set. Booleans are 0/1. max_delivery_seconds is 0 when not
-- set. suppression_override is 0 when the set uses its account's
-- suppression policy; when 1, suppression_reasons (comma-separated, '' for
-- "suppression disabled") and suppression_soft (SoftBounceJSON, '' for
-- none) are the set's own (suppression.EncodePolicy). vdm and archiving are
-- the JSON objects as given ('' for none); tags a JSON array of
-- {"Key","Value"}.
CREATE TABLE configuration_sets (
	account TEXT NOT NULL,
	name TEXT NOT NULL,
	created_ms BIGINT NOT NULL,
	sending_enabled INTEGER NOT NULL DEFAULT 1,
	tls_policy TEXT NOT NULL DEFAULT 'OPTIONAL',
	sending_pool TEXT NOT NULL DEFAULT '',
	max_delivery_seconds BIGINT NOT NULL DEFAULT 0,
	reputation_metrics INTEGER NOT NULL DEFAULT 0,
	last_fresh_start_ms BIGINT NOT NULL DEFAULT 0,
	suppression_override INTEGER NOT NULL DEFAULT 0,
	suppression_reasons TEXT NOT NULL DEFAULT '',
	suppression_soft TEXT NOT NULL DEFAULT '',
	custom_redirect_domain TEXT NOT NULL DEFAULT '',
	https_policy TEXT NOT NULL DEFAULT '',
	vdm TEXT NOT NULL DEFAULT '',
	archiving TEXT NOT NULL DEFAULT '',
	tags TEXT NOT NULL DEFAULT '[]',
	PRIMARY KEY (account, name)
);
