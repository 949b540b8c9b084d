-- Identity notification settings and default configuration set (issue 14;
-- SES IdentityNotificationAttributes, ../shared/spec/ses.md §1.5, §4.1).
-- Owned by package identity.
--
-- *_topic: the SNS topic ARN the identity's Bounce, Complaint and Delivery
-- notifications go to ('' = none); headers_*: 1 when that notification
-- includes the original headers; forwarding: 1 when bounces and complaints
-- are emailed to the sender (SES's default); configuration_set: the
-- identity's default configuration set ('' = none).
ALTER TABLE identities ADD COLUMN bounce_topic TEXT NOT NULL DEFAULT '';
ALTER TABLE identities ADD COLUMN complaint_topic TEXT NOT NULL DEFAULT '';
ALTER TABLE identities ADD COLUMN delivery_topic TEXT NOT NULL DEFAULT '';
ALTER TABLE identities ADD COLUMN headers_bounce INTEGER NOT NULL DEFAULT 0;
ALTER TABLE identities ADD COLUMN headers_complaint INTEGER NOT NULL DEFAULT 0;
ALTER TABLE identities ADD COLUMN headers_delivery INTEGER NOT NULL DEFAULT 0;
ALTER TABLE identities ADD COLUMN forwarding INTEGER NOT NULL DEFAULT 1;
ALTER TABLE identities ADD COLUMN configuration_set TEXT NOT NULL DEFAULT '';
