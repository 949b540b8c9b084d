-- System mail at delivery (issue 14). Owned by package queue.
--
-- system_mail is 1 for Petrel's own mail (feedback-forwarding reports, SNS email
-- notifications: sending.Sender.SendSystemMail); such an entry is sent with
-- mail_from as its envelope sender ('' = the null reverse-path <>, RFC 5321
-- §4.5.5) instead of the per-recipient VERP return path, and its outcomes
-- never change the suppression lists. Normal entries keep system_mail 0 and
-- mail_from ''.
ALTER TABLE queue ADD COLUMN system_mail INTEGER NOT NULL DEFAULT 0;
ALTER TABLE queue ADD COLUMN mail_from TEXT NOT NULL DEFAULT '';
