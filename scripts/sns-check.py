#!/usr/bin/env python3
"""Drive Petrel's SNS-compatible topics with real clients and verify its
signatures with an independent implementation.

Usage: sns-check.py AWS ENDPOINT [PETREL DATA_DIR]

AWS is the AWS CLI v2 binary (/usr/bin/aws; "" skips the CLI checks) and
ENDPOINT the URL of a running Petrel whose notifications may reach
127.0.0.1 (petrel serve --notify-allow-networks 127.0.0.0/8) and whose
public URL (--public-url, default http://<--http>) is ENDPOINT.
Credentials and region come from the environment, as for
scripts/awscli-check.py (the shared-credentials file Petrel writes,
profile petrel; AWS_DEFAULT_REGION).

What it does:
  - the AWS CLI: `aws sns create-topic`, `subscribe` (protocol http, to a
    subscriber served by this script on 127.0.0.1), and
    `list-subscriptions-by-topic`;
  - boto3's `sns` client: get/set-topic-attributes, publish (Subject,
    MessageAttributes), set-subscription-attributes (FilterPolicy,
    RawMessageDelivery), unsubscribe, delete-topic, error codes;
  - the subscriber confirms by GETting SubscribeURL, and checks every
    message's signature itself: SigningCertURL fetched over HTTP, the
    certificate parsed and the RSA PKCS #1 v1.5 signature verified with
    SHA-1 (SignatureVersion 1) or SHA-256 (2) by the `cryptography` package
    (or `openssl dgst -verify` when it is not importable, or when
    SNS_CHECK_OPENSSL is set), over the string
    built as the AWS documentation describes;
  - an SES-to-SNS consumer written the usual way (json.loads(Message),
    bounce.bouncedRecipients) reads a published SES bounce notification;
  - with PETREL and DATA_DIR (the binary and the data dir of the running
    Petrel, whose account has the verified identity ci.example): a bounce
    from the mailbox simulator reaches the subscriber twice, through a
    configuration set's SNS event destination (eventType format, with
    tags) and through the identity's Bounce topic (notificationType
    format, without tags), and the usual consumer reads both.

Each check prints one line; the first failure exits 1.
"""

import base64
import http.server
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import urllib.request

import boto3
import botocore.exceptions

AWS, ENDPOINT = sys.argv[1], sys.argv[2].rstrip("/")
# Optional: the petrel binary and its data dir, for the SES-to-SNS flow.
PETREL, DATA_DIR = (sys.argv[3], sys.argv[4]) if len(sys.argv) > 4 else ("", "")
checks = 0


def check(name, cond, detail=""):
    global checks
    checks += 1
    if not cond:
        print("FAIL:", name, detail)
        sys.exit(1)
    print("ok:", name)


# --- independent signature verification ------------------------------------

NOTIFICATION_KEYS = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
CONFIRMATION_KEYS = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]


def string_to_sign(m):
    keys = NOTIFICATION_KEYS if m["Type"] == "Notification" else CONFIRMATION_KEYS
    return "".join(f"{k}\n{m[k]}\n" for k in keys if k in m)


def verify_cryptography(cert_pem, data, sig, version):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    cert = x509.load_pem_x509_certificate(cert_pem)
    h = hashes.SHA1() if version == "1" else hashes.SHA256()
    cert.public_key().verify(sig, data, padding.PKCS1v15(), h)  # raises InvalidSignature


def verify_openssl(cert_pem, data, sig, version):
    with tempfile.TemporaryDirectory() as d:
        paths = {n: os.path.join(d, n) for n in ("cert.pem", "pub.pem", "data", "sig")}
        for n, b in (("cert.pem", cert_pem), ("data", data), ("sig", sig)):
            with open(paths[n], "wb") as f:
                f.write(b)
        subprocess.run(["openssl", "x509", "-in", paths["cert.pem"], "-pubkey", "-noout", "-out", paths["pub.pem"]], check=True)
        dg = "-sha1" if version == "1" else "-sha256"
        p = subprocess.run(["openssl", "dgst", dg, "-verify", paths["pub.pem"], "-signature", paths["sig"], paths["data"]],
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise ValueError("openssl: " + p.stdout + p.stderr)


try:
    if os.environ.get("SNS_CHECK_OPENSSL"):
        raise ImportError("SNS_CHECK_OPENSSL is set")
    import cryptography  # noqa: F401
    verify_impl = verify_cryptography
    print("verifying with cryptography", cryptography.__version__)
except ImportError:
    verify_impl = verify_openssl
    print("verifying with openssl")


def verify(m):
    """Verifies an SNS message's signature; returns its SignatureVersion."""
    cert_url = m["SigningCertURL"]
    if not cert_url.startswith(ENDPOINT + "/sns/SimpleNotificationService-") or not cert_url.endswith(".pem"):
        raise ValueError("unexpected SigningCertURL " + cert_url)
    cert_pem = urllib.request.urlopen(cert_url, timeout=10).read()
    sig = base64.b64decode(m["Signature"])
    verify_impl(cert_pem, string_to_sign(m).encode(), sig, m["SignatureVersion"])
    # Tampering must break it.
    try:
        verify_impl(cert_pem, (string_to_sign(m) + "x").encode(), sig, m["SignatureVersion"])
    except Exception:
        pass
    else:
        raise ValueError("a tampered message verifies")
    return m["SignatureVersion"]


# --- the subscriber -----------------------------------------------------------

received = queue.Queue()


class Subscriber(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        item = {"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body.decode()}
        if self.headers.get("x-amz-sns-rawdelivery") != "true":
            m = json.loads(body)
            item["message"] = m
            try:
                item["version"] = verify(m)
            except Exception as e:  # reported by the check that reads the item
                item["verify_error"] = repr(e)
            if m.get("Type") == "SubscriptionConfirmation":
                with urllib.request.urlopen(m["SubscribeURL"], timeout=10) as r:
                    item["confirm"] = (r.status, r.read().decode())
        self.send_response(200)
        self.end_headers()
        received.put(item)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Subscriber)
threading.Thread(target=server.serve_forever, daemon=True).start()
SUB_URL = f"http://127.0.0.1:{server.server_address[1]}/sns"


def next_message(what):
    try:
        return received.get(timeout=60)
    except queue.Empty:
        check(what + " reaches the subscriber", False, "nothing within 60 s")


def nothing_more(what):
    try:
        item = received.get(timeout=3)
    except queue.Empty:
        check(what, True)
        return
    check(what, False, json.dumps(item)[:1000])


def aws(*args):
    cmd = [AWS, "sns", "--endpoint-url", ENDPOINT, "--output", "json", *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        print("FAIL:", " ".join(cmd), p.stdout, p.stderr)
        sys.exit(1)
    return json.loads(p.stdout) if p.stdout.strip() else None


sns = boto3.client("sns", endpoint_url=ENDPOINT)

# --- the AWS CLI: create-topic, subscribe, list-subscriptions-by-topic -------
if AWS:
    topic = aws("create-topic", "--name", "ci-bounces")["TopicArn"]
    out = aws("subscribe", "--topic-arn", topic, "--protocol", "http", "--notification-endpoint", SUB_URL)
    check("aws sns subscribe → pending confirmation", out["SubscriptionArn"] == "pending confirmation", json.dumps(out))
else:
    topic = sns.create_topic(Name="ci-bounces")["TopicArn"]
    out = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=SUB_URL)
    check("boto3 subscribe → pending confirmation", out["SubscriptionArn"] == "pending confirmation", json.dumps(out))
check("create-topic ARN", topic.startswith("arn:aws:sns:") and topic.endswith(":ci-bounces"), topic)

item = next_message("SubscriptionConfirmation")
m = item.get("message", {})
check("SubscriptionConfirmation headers", item["headers"].get("x-amz-sns-message-type") == "SubscriptionConfirmation"
      and item["headers"].get("x-amz-sns-topic-arn") == topic, json.dumps(item["headers"]))
check("SubscriptionConfirmation signature (v1) verifies", item.get("version") == "1", item.get("verify_error", ""))
check("GET SubscribeURL confirms", item["confirm"][0] == 200 and "<ConfirmSubscriptionResponse" in item["confirm"][1], repr(item["confirm"]))

if AWS:
    subs = aws("list-subscriptions-by-topic", "--topic-arn", topic)["Subscriptions"]
else:
    subs = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
check("list-subscriptions-by-topic shows the confirmed subscription",
      len(subs) == 1 and subs[0]["SubscriptionArn"].startswith(topic + ":") and subs[0]["Endpoint"] == SUB_URL
      and subs[0]["Protocol"] == "http", json.dumps(subs))
sub_arn = subs[0]["SubscriptionArn"]

# --- boto3 ------------------------------------------------------------------
attrs = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
check("get_topic_attributes", attrs["TopicArn"] == topic and attrs["SubscriptionsConfirmed"] == "1"
      and attrs["SignatureVersion"] == "1", json.dumps(attrs))

ses_bounce = {
    "notificationType": "Bounce",
    "bounce": {"bounceType": "Permanent", "bounceSubType": "General",
               "bouncedRecipients": [{"emailAddress": "nobody@example.com", "action": "failed", "status": "5.1.1"}],
               "timestamp": "2026-01-02T03:04:05.678Z", "feedbackId": "0100-ci"},
    "mail": {"timestamp": "2026-01-02T03:04:00.000Z", "source": "app@ci.example", "messageId": "0100-msg",
             "destination": ["nobody@example.com"]},
}
pub = sns.publish(TopicArn=topic, Message=json.dumps(ses_bounce), Subject="Bounce",
                  MessageAttributes={"eventType": {"DataType": "String", "StringValue": "Bounce"}})
item = next_message("Notification (v1)")
m = item["message"]
check("Notification signature (v1) verifies", item.get("version") == "1", item.get("verify_error", ""))
check("Notification envelope", m["Type"] == "Notification" and m["MessageId"] == pub["MessageId"] and m["Subject"] == "Bounce"
      and m["TopicArn"] == topic and m["UnsubscribeURL"].startswith(ENDPOINT + "/?Action=Unsubscribe&SubscriptionArn="),
      json.dumps(m))
check("Notification headers", item["headers"].get("x-amz-sns-message-type") == "Notification"
      and item["headers"].get("x-amz-sns-subscription-arn") == sub_arn
      and item["headers"].get("x-amz-sns-message-id") == pub["MessageId"], json.dumps(item["headers"]))


def usual_ses_consumer(envelope):
    """What SES-to-SNS consumers do: parse Message, read the bounced recipients."""
    message = json.loads(envelope["Message"])
    if message.get("notificationType", message.get("eventType")) == "Bounce":
        return [r["emailAddress"] for r in message["bounce"]["bouncedRecipients"]]
    return []


check("an SES consumer reads bounce.bouncedRecipients", usual_ses_consumer(m) == ["nobody@example.com"])

sns.set_topic_attributes(TopicArn=topic, AttributeName="SignatureVersion", AttributeValue="2")
sns.publish(TopicArn=topic, Message="v2")
item = next_message("Notification (v2)")
check("Notification signature (v2) verifies", item.get("version") == "2" and item["message"]["Message"] == "v2",
      item.get("verify_error", json.dumps(item.get("message"))))

sns.set_subscription_attributes(SubscriptionArn=sub_arn, AttributeName="FilterPolicy", AttributeValue='{"eventType":["Complaint"]}')
sns.publish(TopicArn=topic, Message="filtered out", MessageAttributes={"eventType": {"DataType": "String", "StringValue": "Bounce"}})
nothing_more("a FilterPolicy that does not match sends nothing")
sns.set_subscription_attributes(SubscriptionArn=sub_arn, AttributeName="FilterPolicy", AttributeValue='{"eventType":["Bounce"]}')
sns.set_subscription_attributes(SubscriptionArn=sub_arn, AttributeName="RawMessageDelivery", AttributeValue="true")
sns.publish(TopicArn=topic, Message="raw body", MessageAttributes={"eventType": {"DataType": "String", "StringValue": "Bounce"}})
item = next_message("raw delivery")
check("RawMessageDelivery posts the message itself", item["body"] == "raw body"
      and item["headers"].get("x-amz-sns-rawdelivery") == "true", json.dumps(item)[:500])
sa = sns.get_subscription_attributes(SubscriptionArn=sub_arn)["Attributes"]
check("get_subscription_attributes", sa["RawMessageDelivery"] == "true" and sa["FilterPolicy"] == '{"eventType":["Bounce"]}'
      and sa["PendingConfirmation"] == "false", json.dumps(sa))


def error_code(fn, **kw):
    try:
        fn(**kw)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    return None


bogus = topic.rsplit(":", 1)[0] + ":no-such-topic"
check("NotFound for an unknown topic", error_code(sns.get_topic_attributes, TopicArn=bogus) == "NotFound")
check("InvalidParameter for an unsupported protocol",
      error_code(sns.subscribe, TopicArn=topic, Protocol="sqs", Endpoint="arn:aws:sqs:us-east-1:1:q") == "InvalidParameter")
check("InvalidParameter for a bad filter policy",
      error_code(sns.set_subscription_attributes, SubscriptionArn=sub_arn, AttributeName="FilterPolicy", AttributeValue="[") == "InvalidParameter")

# --- SES to SNS for real: a configuration set's SNS event destination and an
# identity's Bounce topic, fed by a bounce from the mailbox simulator. Needs
# a verified identity (scripts/awscli-check.py adds ci.example) and the
# petrel binary and data dir for the identity setting (v1's
# SetIdentityNotificationTopic is not served yet).
if PETREL:
    sns.set_subscription_attributes(SubscriptionArn=sub_arn, AttributeName="FilterPolicy", AttributeValue="{}")
    sns.set_subscription_attributes(SubscriptionArn=sub_arn, AttributeName="RawMessageDelivery", AttributeValue="false")
    sesv2 = boto3.client("sesv2", endpoint_url=ENDPOINT)
    sesv2.create_configuration_set(ConfigurationSetName="ci-sns-events")
    sesv2.create_configuration_set_event_destination(
        ConfigurationSetName="ci-sns-events", EventDestinationName="to-sns",
        EventDestination={"Enabled": True, "MatchingEventTypes": ["BOUNCE"], "SnsDestination": {"TopicArn": topic}})
    subprocess.run([PETREL, "identity", "notifications", "ci.example", "--account", "default", "--bounce-topic", topic,
                    "--data-dir", DATA_DIR], check=True, capture_output=True, timeout=60)
    sent = sesv2.send_email(FromEmailAddress="app@ci.example", ConfigurationSetName="ci-sns-events",
                            Destination={"ToAddresses": ["bounce@simulator.amazonses.com"]},
                            Content={"Simple": {"Subject": {"Data": "bounce me"}, "Body": {"Text": {"Data": "x"}}}})
    got = {}
    for _ in range(2):
        item = next_message("an SES bounce notification")
        check("SES notification signature verifies", "verify_error" not in item, item.get("verify_error", ""))
        body = json.loads(item["message"]["Message"])
        got["eventType" if "eventType" in body else "notificationType"] = (body, item["message"])
    ev, env = got.get("eventType", ({}, {}))
    check("event destination: an SES consumer reads bounce.bouncedRecipients",
          usual_ses_consumer(env) == ["bounce@simulator.amazonses.com"] and ev.get("eventType") == "Bounce"
          and ev["mail"]["messageId"] == sent["MessageId"] and ev["mail"]["tags"]["ses:configuration-set"] == ["ci-sns-events"],
          json.dumps(ev)[:1000])
    nt, env = got.get("notificationType", ({}, {}))
    check("identity topic: notificationType Bounce, no tags, consumer reads it",
          usual_ses_consumer(env) == ["bounce@simulator.amazonses.com"] and nt.get("notificationType") == "Bounce"
          and "tags" not in nt["mail"] and nt["mail"]["messageId"] == sent["MessageId"], json.dumps(nt)[:1000])

sns.unsubscribe(SubscriptionArn=sub_arn)
sns.publish(TopicArn=topic, Message="after unsubscribe")
nothing_more("nothing is sent after unsubscribe")
check("list_topics", topic in [t["TopicArn"] for t in sns.list_topics()["Topics"]])
sns.delete_topic(TopicArn=topic)
check("delete_topic", topic not in [t["TopicArn"] for t in sns.list_topics()["Topics"]])

server.shutdown()
print(f"sns-check: {checks} checks passed")
