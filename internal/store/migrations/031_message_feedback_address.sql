-- The feedback address a message was sent with. Owned by package spool.
--
-- feedback_address is the API's FeedbackForwardingEmailAddress (SES v1
-- ReturnPath), checked at acceptance to be covered by a verified identity
-- of the sender (or of the owner that authorised it), '' for none: feedback
-- forwarding emails the message's bounces and complaints to it before any
-- other address (../shared/spec/ses.md §4.1; package publish).
ALTER TABLE messages ADD COLUMN feedback_address TEXT NOT NULL DEFAULT '';
