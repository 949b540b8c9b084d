-- Sending authorisation policies and resource tags of identities (issue 16;
-- SES CreateEmailIdentityPolicy and friends, CreateEmailIdentity.Tags,
-- TagResource; ../shared/spec/ses.md §1.2, §1.5, §11.3, §11.6). Owned by
-- package identity; deleting an identity deletes its rows.
--
-- identity_policies: one row per (account, identity, name); document is the
-- policy JSON as the owner gave it (at most 4 KB, checked by
-- identity.ParsePolicy); created_ms/updated_ms in Unix milliseconds.
CREATE TABLE identity_policies (
	account TEXT NOT NULL,
	identity TEXT NOT NULL,
	name TEXT NOT NULL,
	document TEXT NOT NULL,
	created_ms BIGINT NOT NULL,
	updated_ms BIGINT NOT NULL,
	PRIMARY KEY (account, identity, name)
);

-- identity_tags: one row per (account, identity, tag key); at most 50 per
-- identity.
CREATE TABLE identity_tags (
	account TEXT NOT NULL,
	identity TEXT NOT NULL,
	tag_key TEXT NOT NULL,
	tag_value TEXT NOT NULL,
	PRIMARY KEY (account, identity, tag_key)
);
