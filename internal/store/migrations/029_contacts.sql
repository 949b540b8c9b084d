-- Contact lists, topics and contacts (issue 17, SES list management,
-- ../shared/spec/ses.md §1.12). Owned by package contacts.
--
-- One contact list per account (SES), so account is the key; name is the
-- ContactListName. topics is the list's topics as JSON, in the order given
-- ([{"TopicName","DisplayName","Description","DefaultSubscriptionStatus"}]);
-- tags its resource tags as JSON ([["key","value"],…]). Times are Unix ms.
CREATE TABLE contact_lists (
	account TEXT PRIMARY KEY,
	name TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	topics TEXT NOT NULL DEFAULT '[]',
	tags TEXT NOT NULL DEFAULT '[]',
	created_ms BIGINT NOT NULL,
	updated_ms BIGINT NOT NULL
);

-- The contacts of a list. address is the comparison key
-- (address.Address.Key: local part lower-cased in ASCII, domain as an
-- A-label), email the address as last written. attributes is
-- AttributesData ('' for none).
CREATE TABLE contacts (
	account TEXT NOT NULL,
	list TEXT NOT NULL,
	address TEXT NOT NULL,
	email TEXT NOT NULL,
	unsubscribe_all INTEGER NOT NULL DEFAULT 0,
	attributes TEXT NOT NULL DEFAULT '',
	created_ms BIGINT NOT NULL,
	updated_ms BIGINT NOT NULL,
	PRIMARY KEY (account, list, address)
);

-- A contact's explicit preference for one topic of its list: OPT_IN or
-- OPT_OUT. A topic without a row follows the topic's default.
CREATE TABLE contact_topic_preferences (
	account TEXT NOT NULL,
	list TEXT NOT NULL,
	address TEXT NOT NULL,
	topic TEXT NOT NULL,
	status TEXT NOT NULL,
	PRIMARY KEY (account, list, address, topic)
);
-- ListContacts's topic filter (the contacts with a preference of a status,
-- in address order) and removing a topic's preferences when
-- UpdateContactList drops it.
CREATE INDEX contact_topic_preferences_topic ON contact_topic_preferences (account, list, topic, status, address);

-- Import jobs into a contact list (SES: ContactListDestination): the
-- list's name; '' for a job into the suppression list. The column belongs
-- to package importjob, which owns import_jobs.
ALTER TABLE import_jobs ADD COLUMN contact_list TEXT NOT NULL DEFAULT '';
