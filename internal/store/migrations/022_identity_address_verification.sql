-- Email-address verification (issue 16, ../shared/spec/ses.md §9.1).
-- Owned by package identity.
--
-- verification_links: one row per verification email sent. token_hash is
-- the lower-case hex SHA-256 of the link's token (the token itself, 256
-- random bits, is only in the email); the link verifies address (a
-- normalised identity name) for account, once (used_ms > 0 after), until
-- expires_ms. template: the custom verification template the email was
-- made from ('' = Petrel's own), whose redirection URLs the link follows;
-- success_url and failure_url are copied from it when the email is sent.
CREATE TABLE verification_links (
	token_hash TEXT PRIMARY KEY,
	account TEXT NOT NULL,
	address TEXT NOT NULL,
	template TEXT NOT NULL DEFAULT '',
	success_url TEXT NOT NULL DEFAULT '',
	failure_url TEXT NOT NULL DEFAULT '',
	created_ms BIGINT NOT NULL,
	expires_ms BIGINT NOT NULL,
	used_ms BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX verification_links_address ON verification_links (account, address);
CREATE INDEX verification_links_expires ON verification_links (expires_ms);

-- custom_verification_templates: SES v2 custom verification email
-- templates (CreateCustomVerificationEmailTemplate), per account. tags:
-- the template's tags as a JSON array of {"Key","Value"}.
CREATE TABLE custom_verification_templates (
	account TEXT NOT NULL,
	name TEXT NOT NULL,
	from_address TEXT NOT NULL,
	subject TEXT NOT NULL,
	content TEXT NOT NULL,
	success_url TEXT NOT NULL,
	failure_url TEXT NOT NULL,
	tags TEXT NOT NULL DEFAULT '[]',
	created_ms BIGINT NOT NULL,
	PRIMARY KEY (account, name)
);
