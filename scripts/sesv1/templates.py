"""SES v1 template actions (docs/ses-v1.md): email templates (CreateTemplate,
GetTemplate, ListTemplates, UpdateTemplate, TestRenderTemplate,
DeleteTemplate) and custom verification email templates (Create/Get/List/
Update/DeleteCustomVerificationEmailTemplate, SendCustomVerificationEmail),
each through boto3 and `aws ses`, with their shapes and SES v1's error
codes. The custom verification emails go to sink.example and are read from
the sink."""

import datetime
import json
import re


def _names(pages):
    return [m["Name"] for p in pages for m in p["TemplatesMetadata"]]


def _email_templates(t):
    ses = t.boto
    ses.create_template(Template={"TemplateName": "v1tpl-welcome", "SubjectPart": "Hi {{name}}",
                                  "TextPart": "Dear {{name}},\nwelcome.", "HtmlPart": "<p>Dear {{name}}</p>"})
    t.aws("create-template", "--template", json.dumps({"TemplateName": "v1tpl-cli", "SubjectPart": "CLI {{name}}",
                                                       "TextPart": "Text for {{name}}"}))

    got = ses.get_template(TemplateName="v1tpl-welcome")["Template"]
    t.check("boto3 get_template: every part", got == {"TemplateName": "v1tpl-welcome", "SubjectPart": "Hi {{name}}",
                                                      "TextPart": "Dear {{name}},\nwelcome.", "HtmlPart": "<p>Dear {{name}}</p>"}, got)
    got = t.aws("get-template", "--template-name", "v1tpl-cli")["Template"]
    t.check("aws ses get-template: the parts it has", got == {"TemplateName": "v1tpl-cli", "SubjectPart": "CLI {{name}}",
                                                              "TextPart": "Text for {{name}}"}, got)

    # ListTemplates: MaxItems pages with NextToken.
    pages, kw = [], {"MaxItems": 1}
    while True:
        p = ses.list_templates(**kw)
        pages.append(p)
        if "NextToken" not in p:
            break
        kw["NextToken"] = p["NextToken"]
    names = _names(pages)
    meta = [m for p in pages for m in p["TemplatesMetadata"] if m["Name"] == "v1tpl-welcome"]
    now = datetime.datetime.now(datetime.timezone.utc)
    t.check("boto3 list_templates: one a page, both templates, a CreatedTimestamp",
            len(pages) == len(names) >= 2 and {"v1tpl-welcome", "v1tpl-cli"} <= set(names) and names == sorted(names)
            and len(meta) == 1 and abs((now - meta[0]["CreatedTimestamp"]).total_seconds()) < 300, pages)
    out = t.aws("list-templates", "--page-size", "1")
    t.check("aws ses list-templates", {"v1tpl-welcome", "v1tpl-cli"} <= {m["Name"] for m in out["TemplatesMetadata"]}
            and all("CreatedTimestamp" in m for m in out["TemplatesMetadata"]), out)

    ses.update_template(Template={"TemplateName": "v1tpl-welcome", "SubjectPart": "Hello {{name}}",
                                  "HtmlPart": "<b>{{name}}</b>"})
    got = ses.get_template(TemplateName="v1tpl-welcome")["Template"]
    t.check("boto3 update_template replaces the parts", got.get("SubjectPart") == "Hello {{name}}" and "TextPart" not in got, got)
    t.aws("update-template", "--template", json.dumps({"TemplateName": "v1tpl-cli", "SubjectPart": "CLI2 {{name}}",
                                                       "TextPart": "Text {{name}}"}))
    got = ses.get_template(TemplateName="v1tpl-cli")["Template"]
    t.check("aws ses update-template", got.get("SubjectPart") == "CLI2 {{name}}", got)

    r = ses.test_render_template(TemplateName="v1tpl-welcome", TemplateData='{"name":"Jane"}')["RenderedTemplate"]
    t.check("boto3 test_render_template: a MIME message", "Subject: Hello Jane" in r and "<b>Jane</b>" in r, r)
    r = t.aws("test-render-template", "--template-name", "v1tpl-cli", "--template-data", '{"name":"Ann"}')["RenderedTemplate"]
    t.check("aws ses test-render-template", "Subject: CLI2 Ann" in r and "Text Ann" in r, r)

    # Errors.
    t.boto_error("AlreadyExists", ses.create_template, Template={"TemplateName": "v1tpl-welcome", "TextPart": "x"})
    t.boto_error("InvalidTemplate", ses.create_template, Template={"TemplateName": "v1tpl-broken", "TextPart": "{{#if x}}open"})
    t.boto_error("TemplateDoesNotExist", ses.get_template, TemplateName="v1tpl-nope")
    t.aws_error("TemplateDoesNotExist", "get-template", "--template-name", "v1tpl-nope")
    t.boto_error("TemplateDoesNotExist", ses.update_template, Template={"TemplateName": "v1tpl-nope", "TextPart": "x"})
    e = t.boto_error("MissingRenderingAttribute", ses.test_render_template, TemplateName="v1tpl-welcome", TemplateData='{"x":1}')
    t.check("MissingRenderingAttribute names the attribute", "Attribute 'name' is not present" in e.response["Error"]["Message"],
            e.response["Error"])
    t.aws_error("MissingRenderingAttribute", "test-render-template", "--template-name", "v1tpl-cli", "--template-data", "{}")
    t.boto_error("InvalidRenderingParameter", ses.test_render_template, TemplateName="v1tpl-welcome", TemplateData="not json")
    t.boto_error("TemplateDoesNotExist", ses.test_render_template, TemplateName="v1tpl-nope", TemplateData="{}")

    ses.delete_template(TemplateName="v1tpl-welcome")
    t.aws("delete-template", "--template-name", "v1tpl-cli")
    t.boto_error("TemplateDoesNotExist", ses.get_template, TemplateName="v1tpl-welcome")
    ses.delete_template(TemplateName="v1tpl-welcome")  # SES v1: no error for a template that is gone
    t.check("delete_template of a deleted template succeeds", True)


def _custom_templates(t):
    ses = t.boto
    base = {"FromEmailAddress": f"verify@{t.domain}", "TemplateSubject": "Please confirm your address",
            "TemplateContent": "<html><body><h1>Welcome to v1</h1><p>Follow the link.</p></body></html>",
            "SuccessRedirectionURL": "https://v1.example/ok", "FailureRedirectionURL": "https://v1.example/fail"}
    ses.create_custom_verification_email_template(TemplateName="v1tpl-verify", **base)
    t.aws("create-custom-verification-email-template", "--template-name", "v1tpl-verify-cli",
          "--from-email-address", base["FromEmailAddress"], "--template-subject", "CLI confirm",
          "--template-content", "<p>From the CLI</p>", "--success-redirection-url", "https://v1.example/ok",
          "--failure-redirection-url", "https://v1.example/fail")

    got = ses.get_custom_verification_email_template(TemplateName="v1tpl-verify")
    got.pop("ResponseMetadata")
    t.check("boto3 get_custom_verification_email_template", got == dict(base, TemplateName="v1tpl-verify"), got)
    got = t.aws("get-custom-verification-email-template", "--template-name", "v1tpl-verify-cli")
    t.check("aws ses get-custom-verification-email-template",
            got.get("TemplateSubject") == "CLI confirm" and got.get("TemplateContent") == "<p>From the CLI</p>", got)

    p1 = ses.list_custom_verification_email_templates(MaxResults=1)
    p2 = ses.list_custom_verification_email_templates(MaxResults=1, NextToken=p1["NextToken"])
    listed = p1["CustomVerificationEmailTemplates"] + p2["CustomVerificationEmailTemplates"]
    t.check("boto3 list_custom_verification_email_templates: pages of 1",
            [m["TemplateName"] for m in listed] == ["v1tpl-verify", "v1tpl-verify-cli"]
            and listed[0] == {k: v for k, v in dict(base, TemplateName="v1tpl-verify").items() if k != "TemplateContent"}, listed)
    out = t.aws("list-custom-verification-email-templates", "--page-size", "1")
    t.check("aws ses list-custom-verification-email-templates",
            {"v1tpl-verify", "v1tpl-verify-cli"} <= {m["TemplateName"] for m in out["CustomVerificationEmailTemplates"]}, out)

    # v1's update takes any members: the others stay.
    ses.update_custom_verification_email_template(TemplateName="v1tpl-verify", TemplateSubject="Confirm, please")
    got = ses.get_custom_verification_email_template(TemplateName="v1tpl-verify")
    t.check("boto3 update_custom_verification_email_template: one member",
            got["TemplateSubject"] == "Confirm, please" and got["TemplateContent"] == base["TemplateContent"], got)
    t.aws("update-custom-verification-email-template", "--template-name", "v1tpl-verify-cli", "--template-content", "<p>CLI 2</p>")
    got = ses.get_custom_verification_email_template(TemplateName="v1tpl-verify-cli")
    t.check("aws ses update-custom-verification-email-template", got.get("TemplateContent") == "<p>CLI 2</p>"
            and got.get("TemplateSubject") == "CLI confirm", got)

    # Errors.
    t.boto_error("CustomVerificationEmailTemplateAlreadyExists", ses.create_custom_verification_email_template,
                 TemplateName="v1tpl-verify", **base)
    t.boto_error("FromEmailAddressNotVerified", ses.create_custom_verification_email_template, TemplateName="v1tpl-x",
                 **dict(base, FromEmailAddress="me@unverified.test"))
    t.boto_error("CustomVerificationEmailInvalidContent", ses.create_custom_verification_email_template, TemplateName="v1tpl-x",
                 **dict(base, TemplateContent="<p>x</p><script>steal()</script>"))
    t.boto_error("CustomVerificationEmailTemplateDoesNotExist", ses.get_custom_verification_email_template, TemplateName="v1tpl-nope")
    t.aws_error("CustomVerificationEmailTemplateDoesNotExist", "get-custom-verification-email-template", "--template-name", "v1tpl-nope")
    t.boto_error("CustomVerificationEmailTemplateDoesNotExist", ses.update_custom_verification_email_template,
                 TemplateName="v1tpl-nope", TemplateSubject="x")
    t.boto_error("CustomVerificationEmailTemplateDoesNotExist", ses.send_custom_verification_email,
                 EmailAddress="someone@sink.example", TemplateName="v1tpl-nope")

    # SendCustomVerificationEmail: the email reaches the sink with a link.
    mid = ses.send_custom_verification_email(EmailAddress="v1tpl-new@sink.example", TemplateName="v1tpl-verify")["MessageId"]
    t.check("boto3 send_custom_verification_email: a MessageId", bool(mid), mid)
    msgs = t.delivered("v1tpl-new@sink.example")
    flat = msgs[0].replace(b"=\r\n", b"").decode("latin-1") if msgs else ""
    t.check("the custom verification email: subject, content, link",
            "Subject: Confirm, please" in flat and "Welcome to v1" in flat and re.search(r"/verify-email/[A-Za-z0-9_-]{43}", flat), flat[:3000])
    out = t.aws("send-custom-verification-email", "--email-address", "v1tpl-cli@sink.example", "--template-name", "v1tpl-verify-cli")
    msgs = t.delivered("v1tpl-cli@sink.example")
    t.check("aws ses send-custom-verification-email", out.get("MessageId") and msgs and b"CLI 2" in msgs[0], out)

    sandy = t.new_account("v1tpl-sandbox")
    t.petrel("identity", "add", "v1tpl-sandbox.example", "--account", "v1tpl-sandbox", "--verified")
    sandy.create_custom_verification_email_template(TemplateName="w", **dict(base, FromEmailAddress="hi@v1tpl-sandbox.example"))
    t.boto_error("ProductionAccessNotGranted", sandy.send_custom_verification_email, EmailAddress="x@sink.example", TemplateName="w")

    ses.delete_custom_verification_email_template(TemplateName="v1tpl-verify")
    t.aws("delete-custom-verification-email-template", "--template-name", "v1tpl-verify-cli")
    t.boto_error("CustomVerificationEmailTemplateDoesNotExist", ses.get_custom_verification_email_template, TemplateName="v1tpl-verify")
    left = ses.list_custom_verification_email_templates()["CustomVerificationEmailTemplates"]
    t.check("both custom templates deleted", not any(m["TemplateName"].startswith("v1tpl-") for m in left), left)


def check(t):
    _email_templates(t)
    _custom_templates(t)
