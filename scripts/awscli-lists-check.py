#!/usr/bin/env python3
"""Templates, SendBulkEmail, contact lists and one-click unsubscribe through
the real AWS CLI v2 against a running Petrel (docs/templates.md,
docs/contacts.md).

Usage: awscli-lists-check.py AWS PETREL WORKDIR

AWS is the CLI v2 binary (/usr/bin/aws), PETREL the petrel binary, WORKDIR
an empty directory. The check runs its own Petrel (SQLite, a fresh data
directory under WORKDIR) that relays all mail to an SMTP sink this script
serves on 127.0.0.1, so it can read what was delivered: the rendered
template, the List-Unsubscribe header fields; then it POSTs the one-click
unsubscribe (RFC 8058) to the URL taken from the delivered message and sends
to the mailto address from it through Petrel's inbound receiver. Each check
prints one line; the first failure exits 1 with what was expected.
"""

import email
import email.policy
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import smtpsink  # noqa: E402
from smtpsink import free_port  # noqa: E402

AWS, PETREL, WORK = sys.argv[1:4]
checks = 0


def check(name, cond, detail=""):
    global checks
    checks += 1
    if not cond:
        print("FAIL:", name, str(detail)[:3000])
        sys.exit(1)
    print("ok:", name)


def aws(*args, ok=True):
    """Runs `aws sesv2 ARGS`; returns (exit code, parsed JSON or None, stderr)."""
    cmd = [AWS, "sesv2", "--endpoint-url", endpoint, "--output", "json", *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    out = json.loads(p.stdout) if p.stdout.strip() else None
    if ok and p.returncode != 0:
        print("FAIL:", " ".join(cmd))
        print("  stdout:", p.stdout.strip()[:2000])
        print("  stderr:", p.stderr.strip()[:2000])
        sys.exit(1)
    return p.returncode, out, p.stderr


def error(code, *args):
    """Runs a command that must fail with SES error code."""
    rc, _, err = aws(*args, ok=False)
    check(f"{args[0]} → {code}", rc != 0 and f"({code})" in err, f"exit {rc}, stderr {err.strip()[:500]}")


def events(message_id, until=None, tries=100):
    """The message's events (SES JSON) once until(events) holds."""
    evs = []
    for _ in range(tries):
        p = subprocess.run([PETREL, "events", "--message-id", message_id, "--data-dir", data], capture_output=True, text=True)
        evs = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
        if until is None or until(evs):
            break
        time.sleep(0.1)
    return evs


def kinds(evs):
    return sorted(e["eventType"] for e in evs)


def wait_delivered(rcpt, n=1, tries=100):
    """The messages delivered to rcpt, once there are n."""
    for _ in range(tries):
        with delivered_lock:
            got = [m for r, m in delivered if rcpt in r]
        if len(got) >= n:
            return got
        time.sleep(0.1)
    return got


sink = smtpsink.start()
delivered, delivered_lock = sink.messages, sink.lock
http_port, inbound_port = free_port(), free_port()
data = os.path.join(WORK, "data")
endpoint = f"http://127.0.0.1:{http_port}"
log = open(os.path.join(WORK, "log"), "w")
petrel = subprocess.Popen([PETREL, "serve", "--data-dir", data, "--http", f"127.0.0.1:{http_port}", "--smtp", "", "--smtps", "",
                           "--inbound", f"127.0.0.1:{inbound_port}", "--hostname", "petrel.test",
                           "--relay-host", f"127.0.0.1:{sink.server_address[1]}", "--log-level", "warn"],
                          stdout=log, stderr=log)
try:
    for _ in range(100):
        try:
            urllib.request.urlopen(endpoint + "/readyz", timeout=1)
            break
        except Exception:
            time.sleep(0.1)
    env = dict(os.environ, AWS_SHARED_CREDENTIALS_FILE=os.path.join(data, "credentials"), AWS_PROFILE="petrel",
               AWS_CONFIG_FILE="/dev/null", AWS_DEFAULT_REGION="us-east-1", AWS_PAGER="")
    for name in ("ci.example", "sink.example"):
        subprocess.run([PETREL, "identity", "add", name, "--account", "default", "--verified", "--data-dir", data],
                       check=True, capture_output=True)

    # --- templates ----------------------------------------------------------
    content = {"Subject": "Hello {{name}}", "Text": "Hi {{name}}: {{#each items}}[{{this}}]{{/each}}",
               "Html": "<p>Hi {{name}} {{#if vip}}<b>VIP</b>{{/if}}</p>"}
    aws("create-email-template", "--template-name", "ci-welcome", "--template-content", json.dumps(content))
    error("AlreadyExistsException", "create-email-template", "--template-name", "ci-welcome", "--template-content",
          json.dumps(content))
    error("BadRequestException", "create-email-template", "--template-name", "bad name!", "--template-content",
          json.dumps(content))
    error("NotFoundException", "get-email-template", "--template-name", "no-such-template")
    _, out, _ = aws("get-email-template", "--template-name", "ci-welcome")
    check("get-email-template shape", out["TemplateName"] == "ci-welcome" and out["TemplateContent"] == content, json.dumps(out))
    aws("create-email-template", "--template-name", "ci-other", "--template-content", json.dumps({"Subject": "s", "Text": "t"}))
    _, out, _ = aws("list-email-templates", "--page-size", "1", "--no-paginate")
    check("list-email-templates pages", len(out["TemplatesMetadata"]) == 1 and out.get("NextToken")
          and "CreatedTimestamp" in out["TemplatesMetadata"][0], json.dumps(out))
    _, out, _ = aws("list-email-templates")
    check("list-email-templates lists both", sorted(t["TemplateName"] for t in out["TemplatesMetadata"]) == ["ci-other", "ci-welcome"],
          json.dumps(out))
    # {{amazonSESUnsubscribeUrl}} is not template data: rendering leaves it
    # for list management to replace.
    content["Html"] = "<p>Hi {{name}} {{#if vip}}<b>VIP</b>{{/if}} <a href=\"{{amazonSESUnsubscribeUrl}}\">prefs</a></p>"
    aws("update-email-template", "--template-name", "ci-welcome", "--template-content", json.dumps(content))
    data_ok = json.dumps({"name": "Ana <&>", "items": ["a", "b"], "vip": True})
    _, out, _ = aws("test-render-email-template", "--template-name", "ci-welcome", "--template-data", data_ok)
    rendered = out["RenderedTemplate"]
    check("test-render-email-template renders a MIME message, HTML not escaped",
          "Subject: Hello Ana <&>" in rendered and "MIME-Version: 1.0" in rendered, rendered)
    error("BadRequestException", "test-render-email-template", "--template-name", "ci-welcome", "--template-data", "{}")
    aws("delete-email-template", "--template-name", "ci-other")
    error("NotFoundException", "delete-email-template", "--template-name", "ci-other")

    # --- SendEmail with a template ----------------------------------------
    _, out, _ = aws("send-email", "--from-email-address", "app@ci.example", "--destination", "ToAddresses=ana@sink.example",
                    "--content", json.dumps({"Template": {"TemplateName": "ci-welcome", "TemplateData": data_ok}}))
    msgs = wait_delivered("ana@sink.example")
    check("send-email --content Template is delivered rendered", len(msgs) == 1, delivered)
    m = email.message_from_bytes(msgs[0], policy=email.policy.default)
    text = m.get_body(("plain",)).get_content()
    check("delivered Subject and text rendered", m["Subject"] == "Hello Ana <&>" and "Hi Ana <&>: [a][b]" in text, msgs[0][:3000])
    _, out, _ = aws("send-email", "--from-email-address", "app@ci.example", "--destination", "ToAddresses=missing@sink.example",
                    "--content", json.dumps({"Template": {"TemplateName": "ci-welcome", "TemplateData": "{\"items\": []}"}}))
    evs = events(out["MessageId"], lambda e: "Rendering Failure" in kinds(e))
    failure = next((e["failure"] for e in evs if e["eventType"] == "Rendering Failure"), None)
    check("missing data: Send and Rendering Failure events", "Send" in kinds(evs) and failure is not None
          and failure["templateName"] == "ci-welcome" and "name" in failure["errorMessage"], json.dumps(evs))
    # (Debian's AWS CLI 2.9 predates inline TemplateContent: internal/api
    # tests it through aws-sdk-go-v2.)
    error("NotFoundException", "send-email", "--from-email-address", "app@ci.example", "--destination",
          "ToAddresses=x@sink.example", "--content", json.dumps({"Template": {"TemplateName": "no-such", "TemplateData": "{}"}}))

    # --- SendBulkEmail ------------------------------------------------------
    aws("put-suppressed-destination", "--email-address", "gone@sink.example", "--reason", "BOUNCE")
    entries = [{"Destination": {"ToAddresses": [f"bulk{i}@sink.example"]},
                "ReplacementEmailContent": {"ReplacementTemplate": {"ReplacementTemplateData": json.dumps({"name": f"n{i}", "items": []})}}}
               for i in range(3)]
    entries.append({"Destination": {"ToAddresses": ["gone@sink.example"]}})
    entries.append({"Destination": {"ToAddresses": ["nodata@sink.example"]},
                    "ReplacementEmailContent": {"ReplacementTemplate": {"ReplacementTemplateData": "{}"}}})
    _, out, _ = aws("send-bulk-email", "--from-email-address", "app@ci.example",
                    "--default-content", json.dumps({"Template": {"TemplateName": "ci-welcome",
                                                                  "TemplateData": json.dumps({"name": "friend", "items": []})}}),
                    "--bulk-email-entries", json.dumps(entries))
    results = out["BulkEmailEntryResults"]
    check("send-bulk-email: one SUCCESS result with a MessageId per entry, in order",
          len(results) == 5 and all(r["Status"] == "SUCCESS" and r.get("MessageId") for r in results), json.dumps(out))
    msgs = wait_delivered("bulk2@sink.example")
    check("bulk entry rendered with its own data", len(msgs) == 1 and b"Subject: Hello n2" in msgs[0], delivered)
    msgs = wait_delivered("nodata@sink.example")
    check("bulk entry with {} uses the default data", len(msgs) == 1 and b"Subject: Hello friend" in msgs[0], delivered)
    evs = events(results[3]["MessageId"], lambda e: "Bounce" in kinds(e))
    check("bulk entry to a suppressed address: Bounce event", "Bounce" in kinds(evs), json.dumps(evs))
    ids = {r["MessageId"] for r in results}
    check("bulk entries have distinct MessageIds", len(ids) == 5, json.dumps(out))

    # --- contact lists ------------------------------------------------------
    topics = [{"TopicName": "news", "DisplayName": "News & <stuff>", "Description": "weekly", "DefaultSubscriptionStatus": "OPT_IN"},
              {"TopicName": "offers", "DisplayName": "Offers", "Description": "deals", "DefaultSubscriptionStatus": "OPT_OUT"}]
    aws("create-contact-list", "--contact-list-name", "ci-list", "--description", "CI", "--topics", json.dumps(topics))
    error("LimitExceededException", "create-contact-list", "--contact-list-name", "ci-list-2")
    _, out, _ = aws("get-contact-list", "--contact-list-name", "ci-list")
    check("get-contact-list shape", out["ContactListName"] == "ci-list" and len(out["Topics"]) == 2
          and "CreatedTimestamp" in out and "LastUpdatedTimestamp" in out, json.dumps(out))
    _, out, _ = aws("list-contact-lists")
    check("list-contact-lists", [l["ContactListName"] for l in out["ContactLists"]] == ["ci-list"], json.dumps(out))
    aws("create-contact", "--contact-list-name", "ci-list", "--email-address", "reader@sink.example",
        "--topic-preferences", json.dumps([{"TopicName": "offers", "SubscriptionStatus": "OPT_IN"}]))
    aws("create-contact", "--contact-list-name", "ci-list", "--email-address", "other@sink.example")
    error("AlreadyExistsException", "create-contact", "--contact-list-name", "ci-list", "--email-address", "reader@sink.example")
    error("NotFoundException", "get-contact", "--contact-list-name", "ci-list", "--email-address", "nobody@sink.example")
    _, out, _ = aws("get-contact", "--contact-list-name", "ci-list", "--email-address", "reader@sink.example")
    check("get-contact shape", out["EmailAddress"] == "reader@sink.example" and out["UnsubscribeAll"] is False
          and {"TopicName": "offers", "SubscriptionStatus": "OPT_IN"} in out["TopicPreferences"]
          and out["TopicDefaultPreferences"] == [{"TopicName": "news", "SubscriptionStatus": "OPT_IN"}], json.dumps(out))
    _, out, _ = aws("list-contacts", "--contact-list-name", "ci-list", "--filter",
                    json.dumps({"FilteredStatus": "OPT_IN", "TopicFilter": {"TopicName": "offers"}}))
    check("list-contacts filtered by topic preference",
          [c["EmailAddress"] for c in out["Contacts"]] == ["reader@sink.example"], json.dumps(out))

    # --- list management on send, one-click unsubscribe ---------------------
    _, out, _ = aws("send-email", "--from-email-address", "app@ci.example", "--destination", "ToAddresses=reader@sink.example",
                    "--content", json.dumps({"Template": {"TemplateName": "ci-welcome", "TemplateData": data_ok}}),
                    "--list-management-options", "ContactListName=ci-list,TopicName=news")
    first = out["MessageId"]
    msgs = wait_delivered("reader@sink.example")
    check("list-managed message delivered", len(msgs) == 1, delivered)
    m = email.message_from_bytes(msgs[0], policy=email.policy.default)
    lu, lup = str(m["List-Unsubscribe"] or ""), str(m["List-Unsubscribe-Post"] or "")
    https = re.search(r"<(http[^>]+)>", lu)
    mailto = re.search(r"<mailto:([^>?]+)", lu)
    check("List-Unsubscribe has a URL and a mailto, List-Unsubscribe-Post is one-click",
          https and mailto and lup == "List-Unsubscribe=One-Click", f"{lu!r} {lup!r}")
    dkim = str(m["DKIM-Signature"] or "")
    check("DKIM signature covers List-Unsubscribe and List-Unsubscribe-Post",
          re.search(r"h=[^;]*list-unsubscribe:[^;]*list-unsubscribe-post", re.sub(r"\s+", "", dkim).lower()) is not None, dkim)
    html = m.get_body(("html",)).get_content()
    check("{{amazonSESUnsubscribeUrl}} replaced in the HTML part", "amazonSESUnsubscribeUrl" not in html and endpoint in html, html)
    forged = https.group(1)[:-3] + ("aaa" if not https.group(1).endswith("aaa") else "bbb")
    req = urllib.request.Request(forged, data=b"List-Unsubscribe=One-Click", method="POST",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        urllib.request.urlopen(req, timeout=10)
        forged_status = 200
    except urllib.error.HTTPError as e:
        forged_status = e.code
    check("an altered token is refused", forged_status >= 400, forged_status)
    with urllib.request.urlopen(https.group(1), timeout=10) as r:
        page = r.read().decode()
    _, out, _ = aws("get-contact", "--contact-list-name", "ci-list", "--email-address", "reader@sink.example")
    check("GET (the preferences page) changes nothing", "News &amp; &lt;stuff&gt;" in page
          and not any(p["TopicName"] == "news" for p in out["TopicPreferences"]), page[:2000] + json.dumps(out))
    req = urllib.request.Request(https.group(1), data=b"List-Unsubscribe=One-Click", method="POST",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(req, timeout=10) as r:
        check("one-click POST answers 200", r.status == 200, r.status)
    _, out, _ = aws("get-contact", "--contact-list-name", "ci-list", "--email-address", "reader@sink.example")
    prefs = {p["TopicName"]: p["SubscriptionStatus"] for p in out["TopicPreferences"]}
    check("one-click unsubscribed exactly that topic", prefs == {"news": "OPT_OUT", "offers": "OPT_IN"}
          and out["UnsubscribeAll"] is False, json.dumps(out))
    evs = events(first, lambda e: "Subscription" in kinds(e))
    sub = next((e["subscription"] for e in evs if e["eventType"] == "Subscription"), None)
    check("a Subscription event is recorded on the message", sub is not None and sub["contactList"] == "ci-list", json.dumps(evs))
    _, out, _ = aws("send-email", "--from-email-address", "app@ci.example", "--destination", "ToAddresses=reader@sink.example",
                    "--content", json.dumps({"Template": {"TemplateName": "ci-welcome", "TemplateData": data_ok}}),
                    "--list-management-options", "ContactListName=ci-list,TopicName=news")
    evs = events(out["MessageId"], lambda e: "Bounce" in kinds(e))
    check("the next send to the unsubscribed topic is not delivered: Bounce event", "Bounce" in kinds(evs)
          and len(wait_delivered("reader@sink.example", n=2, tries=20)) == 1, json.dumps(evs))
    error("NotFoundException", "send-email", "--from-email-address", "app@ci.example", "--destination",
          "ToAddresses=reader@sink.example", "--content", "Simple={Subject={Data=hi},Body={Text={Data=hello}}}",
          "--list-management-options", "ContactListName=no-such-list")

    # The mailto route: a message to the address from the header, through
    # Petrel's inbound receiver, unsubscribes other@ from the whole list.
    aws("send-email", "--from-email-address", "app@ci.example", "--destination", "ToAddresses=other@sink.example",
        "--content", "Simple={Subject={Data=hi},Body={Text={Data=hello}}}",
        "--list-management-options", "ContactListName=ci-list")
    msgs = wait_delivered("other@sink.example")
    m = email.message_from_bytes(msgs[0], policy=email.policy.default)
    to = re.search(r"<mailto:([^>?]+)", str(m["List-Unsubscribe"])).group(1)
    check("the mailto address's local part is within RFC 5321's 64 octets", len(to.split("@")[0]) <= 64, to)
    s = socket.create_connection(("127.0.0.1", inbound_port), timeout=10)
    f = s.makefile("rwb")

    def smtp(line, code):
        if line is not None:
            f.write(line.encode() + b"\r\n")
            f.flush()
        while True:
            r = f.readline().decode()
            if r[3:4] != "-":
                break
        check(f"inbound: {line or 'greeting'} → {code}", r.startswith(code), r)

    smtp(None, "220")
    smtp("EHLO client.sink.example", "250")
    smtp("MAIL FROM:<other@sink.example>", "250")
    smtp(f"RCPT TO:<{to}>", "250")
    smtp("DATA", "354")
    smtp(f"From: other@sink.example\r\nTo: {to}\r\nSubject: unsubscribe\r\n\r\nunsubscribe\r\n.", "250")
    smtp("QUIT", "221")
    _, out, _ = aws("get-contact", "--contact-list-name", "ci-list", "--email-address", "other@sink.example")
    check("the mailto route unsubscribed the contact from the list", out["UnsubscribeAll"] is True, json.dumps(out))

    aws("delete-contact", "--contact-list-name", "ci-list", "--email-address", "other@sink.example")
    aws("delete-contact-list", "--contact-list-name", "ci-list")
    error("NotFoundException", "get-contact-list", "--contact-list-name", "ci-list")
    print(f"awscli lists: {checks} checks passed")
except SystemExit:
    log.flush()
    print("--- petrel log")
    print(open(os.path.join(WORK, "log")).read()[-5000:])
    raise
finally:
    petrel.terminate()
    petrel.wait(timeout=30)
