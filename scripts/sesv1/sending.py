"""SES v1 sending actions through boto3's "ses" client and `aws ses`
(docs/ses-v1.md, sending): SendEmail, SendRawEmail, SendTemplatedEmail,
SendBulkTemplatedEmail — the message delivered at the sink, its events
(ses:operation the action's name) — and the errors MessageRejected
(unverified sender, bad address), ConfigurationSetDoesNotExist,
TemplateDoesNotExist, ConfigurationSetSendingPausedException,
MailFromDomainNotVerifiedException, Throttling (rate and daily quota) and
AccountSendingPausedException.

It sends from t.domain to addresses v1send-*@sink.example, creates its own
template (through sesv2: v1 CreateTemplate is the templates area's), its own
configuration sets and three accounts of its own (v1send-*), and leaves the
default account as it found it.
"""

import base64
import json
import time

import botocore.exceptions

FROM = "v1send@v1.example"
TEMPLATE = "v1send-welcome"


def rcpt(name):
    return f"v1send-{name}@sink.example"


def _op(ev):
    return ev["mail"]["tags"].get("ses:operation", [""])[0]


def _delivered_once(t, message_id, n=1):
    """The message's events once each of its n recipients has a Delivery."""
    evs = t.events(message_id, until=lambda evs: sum(e["eventType"] == "Delivery" for e in evs) >= n)
    t.check(f"message {message_id[:20]}…: Send and {n} Delivery events",
            [e["eventType"] for e in evs].count("Send") == 1 and [e["eventType"] for e in evs].count("Delivery") == n,
            [e["eventType"] for e in evs])
    return evs


def _one(t, addr, marker):
    """The one message the sink received for addr that contains marker."""
    msgs = [m for m in t.delivered(addr) if marker.encode() in m]
    t.check(f"the sink received {marker!r} for {addr}", len(msgs) == 1, [m[:300] for m in t.delivered(addr)])
    return msgs[0]


def _send_actions(t):
    b = t.boto

    # --- SendEmail
    r = b.send_email(Source=f"V1 Sender <{FROM}>",
                     Destination={"ToAddresses": [rcpt("simple")], "CcAddresses": [rcpt("simple-cc")]},
                     Message={"Subject": {"Data": "v1 simple boto", "Charset": "UTF-8"},
                              "Body": {"Text": {"Data": "simple text body"}, "Html": {"Data": "<p>simple html</p>"}}},
                     ReplyToAddresses=[rcpt("reply")], ReturnPath=rcpt("feedback"),
                     Tags=[{"Name": "campaign", "Value": "v1"}])
    t.check("boto3 send_email: a MessageId", isinstance(r.get("MessageId"), str) and r["MessageId"], r)
    evs = _delivered_once(t, r["MessageId"], 2)
    mail = evs[0]["mail"]
    t.check("send_email: mail.source as given, tags, ses:operation SendEmail",
            mail["source"] == f"V1 Sender <{FROM}>" and mail["tags"]["campaign"] == ["v1"] and _op(evs[0]) == "SendEmail",
            mail)
    m = _one(t, rcpt("simple"), "v1 simple boto")
    t.check("send_email delivered: text, html, Reply-To",
            b"simple text body" in m and b"<p>simple html</p>" in m and b"Reply-To: " + rcpt("reply").encode() in m, m[:2000])
    out = t.aws("send-email", "--from", FROM, "--destination", json.dumps({"ToAddresses": [rcpt("simple-cli")]}),
                "--message", json.dumps({"Subject": {"Data": "v1 simple cli"}, "Body": {"Text": {"Data": "cli text"}}}))
    t.check("aws ses send-email: a MessageId", set(out) == {"MessageId"}, out)
    _delivered_once(t, out["MessageId"])
    t.check("send-email delivered", b"cli text" in _one(t, rcpt("simple-cli"), "v1 simple cli"))

    # --- SendRawEmail: recipients from the header fields, X-SES-* applied
    # and removed; then with Source and Destinations.
    raw = (f"From: Raw <{FROM}>\r\nTo: {rcpt('raw')}\r\nBcc: {rcpt('raw-bcc')}\r\nSubject: v1 raw boto\r\n"
           "X-SES-MESSAGE-TAGS: tier=gold\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
           "raw body line\r\n.\r\nafter a lone dot\r\n")
    r = b.send_raw_email(RawMessage={"Data": raw.encode()})
    t.check("boto3 send_raw_email: a MessageId", isinstance(r.get("MessageId"), str) and r["MessageId"], r)
    evs = _delivered_once(t, r["MessageId"], 2)
    t.check("send_raw_email: X-SES-MESSAGE-TAGS applied, ses:operation SendRawEmail",
            evs[0]["mail"]["tags"].get("tier") == ["gold"] and _op(evs[0]) == "SendRawEmail", evs[0]["mail"]["tags"])
    m = _one(t, rcpt("raw-bcc"), "v1 raw boto")
    t.check("send_raw_email delivered: body intact, X-SES- and Bcc removed",
            b"raw body line\r\n.\r\nafter a lone dot" in m and b"X-SES-" not in m and b"Bcc:" not in m, m[:2000])
    data = base64.b64encode(raw.replace("v1 raw boto", "v1 raw cli").encode()).decode()
    out = t.aws("send-raw-email", "--source", FROM, "--destinations", rcpt("raw-cli"), "--raw-message", f"Data={data}")
    t.check("aws ses send-raw-email: a MessageId", set(out) == {"MessageId"}, out)
    evs = _delivered_once(t, out["MessageId"])
    t.check("send-raw-email: only the Destinations", evs[0]["mail"]["destination"] == [rcpt("raw-cli")], evs[0]["mail"])
    _one(t, rcpt("raw-cli"), "v1 raw cli")

    # --- SendTemplatedEmail and SendBulkTemplatedEmail
    t.sesv2.create_email_template(TemplateName=TEMPLATE, TemplateContent={
        "Subject": "Welcome {{name}}", "Text": "Dear {{name}}, v1 templated.", "Html": "<p>Dear {{name}}</p>"})
    r = b.send_templated_email(Source=FROM, Destination={"ToAddresses": [rcpt("tpl")]}, Template=TEMPLATE,
                               TemplateData=json.dumps({"name": "Boto"}), Tags=[{"Name": "kind", "Value": "tpl"}])
    t.check("boto3 send_templated_email: a MessageId", isinstance(r.get("MessageId"), str) and r["MessageId"], r)
    evs = _delivered_once(t, r["MessageId"])
    t.check("send_templated_email: rendered, ses:operation SendTemplatedEmail",
            evs[0]["mail"]["commonHeaders"]["subject"] == "Welcome Boto" and _op(evs[0]) == "SendTemplatedEmail", evs[0]["mail"])
    t.check("send_templated_email delivered", b"Dear Boto, v1 templated." in _one(t, rcpt("tpl"), "Welcome Boto"))
    out = t.aws("send-templated-email", "--source", FROM, "--destination", json.dumps({"ToAddresses": [rcpt("tpl-cli")]}),
                "--template", TEMPLATE, "--template-data", json.dumps({"name": "Cli"}))
    t.check("aws ses send-templated-email: a MessageId", set(out) == {"MessageId"}, out)
    _delivered_once(t, out["MessageId"])
    _one(t, rcpt("tpl-cli"), "Welcome Cli")

    r = b.send_bulk_templated_email(Source=FROM, Template=TEMPLATE, DefaultTemplateData=json.dumps({"name": "all"}),
                                    DefaultTags=[{"Name": "kind", "Value": "bulk"}], Destinations=[
        {"Destination": {"ToAddresses": [rcpt("bulk-a")]}, "ReplacementTemplateData": json.dumps({"name": "Ann"}),
         "ReplacementTags": [{"Name": "kind", "Value": "ann"}]},
        {"Destination": {"ToAddresses": [rcpt("bulk-b")]}},
        {"Destination": {"ToAddresses": [rcpt("bulk-c")]}, "ReplacementTemplateData": "[1]"},
    ])
    st = r.get("Status", [])
    t.check("boto3 send_bulk_templated_email: Success, Success, InvalidParameterValue",
            [s["Status"] for s in st] == ["Success", "Success", "InvalidParameterValue"]
            and all(s.get("MessageId") for s in st[:2]) and st[2].get("Error") and "MessageId" not in st[2], st)
    evs = _delivered_once(t, st[0]["MessageId"])
    t.check("bulk: replacement tags, ses:operation SendBulkTemplatedEmail",
            evs[0]["mail"]["tags"]["kind"] == ["ann"] and _op(evs[0]) == "SendBulkTemplatedEmail", evs[0]["mail"]["tags"])
    _one(t, rcpt("bulk-a"), "Welcome Ann")
    _one(t, rcpt("bulk-b"), "Welcome all")
    out = t.aws("send-bulk-templated-email", "--source", FROM, "--template", TEMPLATE,
                "--default-template-data", json.dumps({"name": "cli"}),
                "--destinations", json.dumps([{"Destination": {"ToAddresses": [rcpt("bulk-cli")]}}]))
    t.check("aws ses send-bulk-templated-email: one Success",
            [s["Status"] for s in out.get("Status", [])] == ["Success"] and out["Status"][0].get("MessageId"), out)
    _delivered_once(t, out["Status"][0]["MessageId"])
    _one(t, rcpt("bulk-cli"), "Welcome cli")


def _errors(t):
    b = t.boto
    dest = {"ToAddresses": [rcpt("err")]}
    msg = {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}}
    dest_json, msg_json = json.dumps(dest), json.dumps(msg)

    # MessageRejected: an unverified sender, a bad address.
    e = t.boto_error("MessageRejected", b.send_email, Source="v1send@unverified.example", Destination=dest, Message=msg)
    t.check("MessageRejected says the address is not verified",
            e.response["Error"]["Message"].startswith("Email address is not verified."), e.response["Error"])
    t.aws_error("MessageRejected", "send-email", "--from", "v1send@unverified.example", "--destination", dest_json,
                "--message", msg_json)
    bad = f"From: not an address\r\nTo: {rcpt('err')}\r\nSubject: s\r\n\r\nb\r\n".encode()
    e = t.boto_error("MessageRejected", b.send_raw_email, RawMessage={"Data": bad})
    t.check("MessageRejected: Illegal address", "Illegal address" in e.response["Error"]["Message"], e.response["Error"])

    # ConfigurationSetDoesNotExist, TemplateDoesNotExist.
    t.boto_error("ConfigurationSetDoesNotExist", b.send_email, Source=FROM, Destination=dest, Message=msg,
                 ConfigurationSetName="v1send-nope")
    ok_raw = f"From: {FROM}\r\nTo: {rcpt('err')}\r\nSubject: s\r\n\r\nb\r\n".encode()
    t.aws_error("ConfigurationSetDoesNotExist", "send-raw-email", "--configuration-set-name", "v1send-nope",
                "--raw-message", "Data=" + base64.b64encode(ok_raw).decode())
    t.boto_error("TemplateDoesNotExist", b.send_templated_email, Source=FROM, Destination=dest, Template="v1send-nope",
                 TemplateData="{}")
    t.aws_error("TemplateDoesNotExist", "send-bulk-templated-email", "--source", FROM, "--template", "v1send-nope",
                "--default-template-data", "{}", "--destinations", json.dumps([{"Destination": dest}]))

    # ConfigurationSetSendingPausedException: a set of its own, paused.
    t.sesv2.create_configuration_set(ConfigurationSetName="v1send-paused")
    t.sesv2.put_configuration_set_sending_options(ConfigurationSetName="v1send-paused", SendingEnabled=False)
    t.boto_error("ConfigurationSetSendingPausedException", b.send_email, Source=FROM, Destination=dest, Message=msg,
                 ConfigurationSetName="v1send-paused")

    # MailFromDomainNotVerifiedException: a domain of its own whose custom
    # MAIL FROM domain is not verified, under REJECT_MESSAGE.
    t.petrel("identity", "add", "mf.v1send.example", "--account", "default", "--verified")
    t.sesv2.put_email_identity_mail_from_attributes(EmailIdentity="mf.v1send.example",
                                                    MailFromDomain="bounce.mf.v1send.example",
                                                    BehaviorOnMxFailure="REJECT_MESSAGE")
    t.boto_error("MailFromDomainNotVerifiedException", b.send_email, Source="a@mf.v1send.example", Destination=dest,
                 Message=msg)
    t.sesv2.delete_email_identity(EmailIdentity="mf.v1send.example")

    # Throttling: sandboxed accounts of their own (a production account's
    # quota grows as it is reached), one at 1 message a second, one with a
    # daily quota of 1; running nodes apply a new quota within 5 s, so each
    # sends until refused in those words. (Each error code is also produced
    # through `aws ses` where it does not depend on time; the CLI takes
    # about a second a call, so the others are boto3's only.)
    for name, flags, words in (("v1send-rate", ("--max-send-rate", "1"), "Maximum sending rate exceeded."),
                               ("v1send-daily", ("--max-24h-send", "1", "--max-send-rate", "100"),
                                "Daily message quota exceeded.")):
        c = t.new_account(name, sandbox=True)
        t.petrel("identity", "add", f"{name}.example", "--account", name, "--verified")
        t.petrel("account", "quota", name, *flags)
        src, own = f"a@{name}.example", {"ToAddresses": [f"b@{name}.example"]}
        err, deadline = None, time.time() + 15
        while time.time() < deadline:
            try:
                c.send_email(Source=src, Destination=own, Message=msg)
            except botocore.exceptions.ClientError as e:
                err = e.response["Error"]
                if err.get("Message") == words:
                    break
                time.sleep(0.2)
        t.check(f"{name}: sending until refused gives Throttling {words!r}",
                err == {"Type": "Sender", "Code": "Throttling", "Message": words}, err)
        if name == "v1send-daily":  # the rate refills while the CLI starts
            t.aws_error("Throttling", "send-email", "--from", src, "--destination", json.dumps(own),
                        "--message", msg_json, account=name)

    # AccountSendingPausedException: an account that paused its own sending.
    c = t.new_account("v1send-paused", sandbox=False)
    t.petrel("identity", "add", "v1send-paused.example", "--account", "v1send-paused", "--verified")
    t._boto("sesv2", "v1send-paused").put_account_sending_attributes(SendingEnabled=False)
    t.boto_error("AccountSendingPausedException", c.send_raw_email,
                 RawMessage={"Data": ok_raw.replace(FROM.encode(), b"a@v1send-paused.example")})
    t.aws_error("AccountSendingPausedException", "send-email", "--from", "a@v1send-paused.example",
                "--destination", dest_json, "--message", msg_json, account="v1send-paused")


def check(t):
    _send_actions(t)
    _errors(t)
