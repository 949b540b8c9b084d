-- Custom MAIL FROM domains (issue 16; SES PutEmailIdentityMailFromAttributes,
-- ../shared/spec/ses.md §1.7, §9.3). Owned by package identity.
--
-- One row per identity that was ever given MAIL FROM attributes.
-- domain: the MAIL FROM domain, a subdomain of the identity's domain, in
-- lower-case A-labels ('' = custom MAIL FROM disabled); behavior:
-- BehaviorOnMxFailure, USE_DEFAULT_VALUE or REJECT_MESSAGE; status:
-- MailFromDomainStatus, PENDING | SUCCESS | FAILED | TEMPORARY_FAILURE, the
-- combined verdict of the domain's MX and SPF records (identity.MailFromStatus),
-- reset to PENDING whenever domain changes; updated_ms: when domain or
-- behavior was last set (Unix ms).
CREATE TABLE identity_mail_from (
    account    TEXT NOT NULL,
    identity   TEXT NOT NULL,
    domain     TEXT NOT NULL DEFAULT '',
    behavior   TEXT NOT NULL DEFAULT 'USE_DEFAULT_VALUE',
    status     TEXT NOT NULL DEFAULT 'PENDING',
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (account, identity)
);
