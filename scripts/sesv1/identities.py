"""SES v1 identity actions through boto3's "ses" client and `aws ses`
(docs/ses-v1.md, identities): VerifyEmailIdentity, VerifyEmailAddress,
VerifyDomainIdentity, VerifyDomainDkim, ListIdentities,
GetIdentityVerificationAttributes, GetIdentityDkimAttributes,
SetIdentityDkimEnabled, GetIdentityMailFromDomainAttributes,
SetIdentityMailFromDomain, ListVerifiedEmailAddresses,
DeleteVerifiedEmailAddress, DeleteIdentity; the error InvalidParameterValue.

It works on identities of its own (ident.example and addresses in it) and
leaves t.domain and sink.example as they are. The AWS CLI has no
verify-email-address, list-verified-email-addresses nor
delete-verified-email-address (awscli/customizations/removals.py removes
the deprecated commands), so those three run through boto3 only.
"""

import re
import urllib.request

DOMAIN = "ident.example"
DKIM_DOMAIN = "dkim-ident.example"
ADDR = "v1ident-a@ident.example"
ADDR2 = "v1ident-b@ident.example"

_LINK = re.compile(rb"/verify-email/[A-Za-z0-9_-]{43}")


def _follow_link(t, msg):
    """Follows the verification link of msg (quoted-printable soft breaks
    removed) on Petrel's HTTP endpoint."""
    m = _LINK.search(msg.replace(b"=\r\n", b"").replace(b"=\n", b""))
    t.check("the verification email has a link", m is not None, msg[:2000])
    with urllib.request.urlopen(t.endpoint + m.group(0).decode(), timeout=10) as r:
        t.check("following the verification link", r.status == 200, r.status)


def check(t):
    b = t.boto

    # --- addresses: VerifyEmailIdentity / VerifyEmailAddress, idempotent
    r = b.verify_email_identity(EmailAddress=ADDR)
    t.check("boto3 verify_email_identity: an empty result", set(r) == {"ResponseMetadata"}, r)
    t.check("verify_email_identity sends the verification email", len(t.delivered(ADDR, 1)) == 1)
    t.aws("verify-email-identity", "--email-address", ADDR)
    t.check("verify-email-identity again sends it again (v1 is idempotent)", len(t.delivered(ADDR, 2)) == 2)
    r = b.verify_email_address(EmailAddress=ADDR2)
    t.check("boto3 verify_email_address: no result", set(r) == {"ResponseMetadata"}, r)
    b.verify_email_address(EmailAddress=ADDR2)
    msgs = t.delivered(ADDR2, 2)
    t.check("verify_email_address sends the email each time", len(msgs) == 2)
    _follow_link(t, msgs[-1])

    # --- domains: VerifyDomainIdentity (the _amazonses token), VerifyDomainDkim
    token = b.verify_domain_identity(Domain=DOMAIN)["VerificationToken"]
    t.check("boto3 verify_domain_identity: a VerificationToken", isinstance(token, str) and len(token) == 44, token)
    out = t.aws("verify-domain-identity", "--domain", DOMAIN)
    t.check("verify-domain-identity again: the same token", out == {"VerificationToken": token}, out)
    dkim = b.verify_domain_dkim(Domain=DOMAIN)["DkimTokens"]
    t.check("boto3 verify_domain_dkim: DkimTokens", isinstance(dkim, list) and len(dkim) >= 1 and all(dkim), dkim)
    v2 = t.sesv2.get_email_identity(EmailIdentity=DOMAIN)["DkimAttributes"]["Tokens"]
    t.check("VerifyDomainDkim's tokens are GetEmailIdentity's", dkim == v2, (dkim, v2))
    out = t.aws("verify-domain-dkim", "--domain", DKIM_DOMAIN)
    t.check("verify-domain-dkim of a new domain creates it, with tokens",
            set(out) == {"DkimTokens"} and len(out["DkimTokens"]) >= 1, out)

    # --- ListIdentities: filter, paging (boto3's paginator and the CLI's)
    r = b.list_identities(IdentityType="Domain", MaxItems=1)
    t.check("boto3 list_identities MaxItems=1: one domain and a NextToken",
            len(r["Identities"]) == 1 and r.get("NextToken"), r)
    domains = [i for page in b.get_paginator("list_identities").paginate(IdentityType="Domain", PaginationConfig={"PageSize": 2})
               for i in page["Identities"]]
    t.check("boto3 list_identities pages: every domain, in order",
            {DOMAIN, DKIM_DOMAIN, t.domain, "sink.example"} <= set(domains) and domains == sorted(domains)
            and not any("@" in d for d in domains), domains)
    out = t.aws("list-identities", "--identity-type", "EmailAddress", "--max-items", "10")
    t.check("list-identities --identity-type EmailAddress", {ADDR, ADDR2} <= set(out["Identities"])
            and all("@" in i for i in out["Identities"]), out)

    # --- GetIdentityVerificationAttributes
    r = b.get_identity_verification_attributes(Identities=[DOMAIN, ADDR, ADDR2, t.domain, "nobody.example"])
    va = r["VerificationAttributes"]
    t.check("boto3 get_identity_verification_attributes: the identities that exist, as asked",
            set(va) == {DOMAIN, ADDR, ADDR2, t.domain}, va)
    t.check("a new domain: Pending, with its token",
            va[DOMAIN] == {"VerificationStatus": "Pending", "VerificationToken": token}, va[DOMAIN])
    t.check("an address not verified: Pending, no token", va[ADDR] == {"VerificationStatus": "Pending"}, va[ADDR])
    t.check("an address whose link was followed: Success", va[ADDR2] == {"VerificationStatus": "Success"}, va[ADDR2])
    t.check("t.domain: Success", va[t.domain]["VerificationStatus"] == "Success", va[t.domain])
    out = t.aws("get-identity-verification-attributes", "--identities", DOMAIN, "nobody.example")
    t.check("get-identity-verification-attributes",
            out == {"VerificationAttributes": {DOMAIN: {"VerificationStatus": "Pending", "VerificationToken": token}}}, out)

    # --- DKIM: GetIdentityDkimAttributes, SetIdentityDkimEnabled
    r = b.get_identity_dkim_attributes(Identities=[DOMAIN, "nobody.example"])["DkimAttributes"]
    t.check("boto3 get_identity_dkim_attributes",
            r == {DOMAIN: {"DkimEnabled": True, "DkimVerificationStatus": "Pending", "DkimTokens": dkim}}, r)
    t.aws("set-identity-dkim-enabled", "--identity", DOMAIN, "--no-dkim-enabled")
    out = t.aws("get-identity-dkim-attributes", "--identities", DOMAIN)
    t.check("get-identity-dkim-attributes after --no-dkim-enabled",
            out["DkimAttributes"][DOMAIN]["DkimEnabled"] is False, out)
    r = b.set_identity_dkim_enabled(Identity=DOMAIN, DkimEnabled=True)
    t.check("boto3 set_identity_dkim_enabled: an empty result", set(r) == {"ResponseMetadata"}, r)
    t.check("DKIM signing enabled again",
            b.get_identity_dkim_attributes(Identities=[DOMAIN])["DkimAttributes"][DOMAIN]["DkimEnabled"] is True)

    # --- custom MAIL FROM
    r = b.get_identity_mail_from_domain_attributes(Identities=[DOMAIN])["MailFromDomainAttributes"]
    t.check("boto3 get_identity_mail_from_domain_attributes: none set",
            r == {DOMAIN: {"BehaviorOnMXFailure": "UseDefaultValue"}}, r)
    r = b.set_identity_mail_from_domain(Identity=DOMAIN, MailFromDomain="bounce." + DOMAIN, BehaviorOnMXFailure="RejectMessage")
    t.check("boto3 set_identity_mail_from_domain: an empty result", set(r) == {"ResponseMetadata"}, r)
    out = t.aws("get-identity-mail-from-domain-attributes", "--identities", DOMAIN, "nobody.example")
    t.check("get-identity-mail-from-domain-attributes",
            out == {"MailFromDomainAttributes": {DOMAIN: {"MailFromDomain": "bounce." + DOMAIN, "MailFromDomainStatus": "Pending",
                                                          "BehaviorOnMXFailure": "RejectMessage"}}}, out)
    t.aws("set-identity-mail-from-domain", "--identity", DOMAIN)
    r = b.get_identity_mail_from_domain_attributes(Identities=[DOMAIN])["MailFromDomainAttributes"]
    t.check("set-identity-mail-from-domain without a domain turns it off",
            r == {DOMAIN: {"BehaviorOnMXFailure": "UseDefaultValue"}}, r)

    # --- ListVerifiedEmailAddresses
    r = b.list_verified_email_addresses()["VerifiedEmailAddresses"]
    t.check("boto3 list_verified_email_addresses: the verified address only", ADDR2 in r and ADDR not in r, r)

    # --- errors
    t.boto_error("InvalidParameterValue", b.verify_domain_identity, Domain="someone@" + DOMAIN)
    t.boto_error("InvalidParameterValue", b.set_identity_mail_from_domain, Identity=DOMAIN, MailFromDomain="bounce.elsewhere.example")
    t.aws_error("InvalidParameterValue", "verify-email-identity", "--email-address", DOMAIN)
    t.boto_error("InvalidParameterValue", b.set_identity_dkim_enabled, Identity="nobody.example", DkimEnabled=True)

    # --- deletions (of identities that are gone too: no error)
    r = b.delete_verified_email_address(EmailAddress=ADDR2)
    t.check("boto3 delete_verified_email_address: no result", set(r) == {"ResponseMetadata"}, r)
    b.delete_verified_email_address(EmailAddress=ADDR)
    b.delete_verified_email_address(EmailAddress=ADDR)
    r = b.delete_identity(Identity=DOMAIN)
    t.check("boto3 delete_identity: an empty result", set(r) == {"ResponseMetadata"}, r)
    t.aws("delete-identity", "--identity", DKIM_DOMAIN)
    b.delete_identity(Identity=DKIM_DOMAIN)
    left = set(b.list_identities()["Identities"])
    t.check("the deleted identities are gone, t.domain and sink.example stay",
            not left & {DOMAIN, DKIM_DOMAIN, ADDR, ADDR2} and {t.domain, "sink.example"} <= left, left)
