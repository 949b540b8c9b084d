-- Email templates (issue 17; SES v2 EmailTemplate, ../shared/spec/ses.md
-- §1.11). Owned by package template.
--
-- One row per template of an account: subject, text_part and html are the
-- TemplateContent parts as given ('' when absent); tags a JSON array of
-- [key, value] pairs; created_ms and updated_ms Unix milliseconds.
CREATE TABLE email_templates (
	account TEXT NOT NULL,
	name TEXT NOT NULL,
	subject TEXT NOT NULL DEFAULT '',
	text_part TEXT NOT NULL DEFAULT '',
	html TEXT NOT NULL DEFAULT '',
	tags TEXT NOT NULL DEFAULT '[]',
	created_ms BIGINT NOT NULL,
	updated_ms BIGINT NOT NULL,
	PRIMARY KEY (account, name)
);
