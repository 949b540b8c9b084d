-- SNS-compatible topics (issue 14; ../shared/spec/ses.md §4.8). Owned by
-- package sns.
--
-- sns_topics: one row per topic; arn is arn:aws:sns:<region>:<account id>:<name>;
-- attributes the JSON object of the topic's settable attributes
-- (DisplayName, Policy, DeliveryPolicy, SignatureVersion).
CREATE TABLE sns_topics (
	arn TEXT PRIMARY KEY,
	account TEXT NOT NULL,
	name TEXT NOT NULL,
	attributes TEXT NOT NULL DEFAULT '{}',
	created_ms BIGINT NOT NULL
);
CREATE UNIQUE INDEX sns_topics_name ON sns_topics (account, name);

-- sns_subscriptions: one row per subscription; arn is the topic's ARN, ':'
-- and a UUID. account is the topic's owner. protocol http, https, email or
-- email-json; endpoint the URL or address. token is the confirmation token
-- (valid 3 days from token_ms); confirmed 0/1; attributes the JSON object
-- of RawMessageDelivery, FilterPolicy, FilterPolicyScope, DeliveryPolicy.
CREATE TABLE sns_subscriptions (
	arn TEXT PRIMARY KEY,
	account TEXT NOT NULL,
	topic_arn TEXT NOT NULL,
	protocol TEXT NOT NULL,
	endpoint TEXT NOT NULL,
	token TEXT NOT NULL,
	token_ms BIGINT NOT NULL,
	confirmed INTEGER NOT NULL DEFAULT 0,
	authenticated INTEGER NOT NULL DEFAULT 0,
	attributes TEXT NOT NULL DEFAULT '{}',
	created_ms BIGINT NOT NULL
);
CREATE INDEX sns_subscriptions_topic ON sns_subscriptions (topic_arn, arn);
CREATE UNIQUE INDEX sns_subscriptions_endpoint ON sns_subscriptions (topic_arn, protocol, endpoint);
CREATE INDEX sns_subscriptions_account ON sns_subscriptions (account, arn);

-- sns_signing_keys: the RSA keys that sign notifications, shared by every
-- node. key_sealed is the PKCS #8 DER sealed with the data-dir key (binding
-- "sns-signing-key:<id>"); cert_pem the self-signed certificate served at
-- <public-url>/sns/SimpleNotificationService-<id>.pem. The oldest key signs.
CREATE TABLE sns_signing_keys (
	id TEXT PRIMARY KEY,
	key_sealed {{BLOB}} NOT NULL,
	cert_pem TEXT NOT NULL,
	created_ms BIGINT NOT NULL
);
