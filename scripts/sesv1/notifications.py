"""Area notifications of scripts/sesv1-check.py: the SES v1 identity policy
and notification actions through boto3's "ses" client and `aws ses`:
PutIdentityPolicy (create, then replace), GetIdentityPolicies,
ListIdentityPolicies, DeleteIdentityPolicy, SetIdentityNotificationTopic,
SetIdentityHeadersInNotificationsEnabled,
SetIdentityFeedbackForwardingEnabled, GetIdentityNotificationAttributes;
their output shapes; the errors InvalidPolicy and InvalidParameterValue
(unknown identity, a topic that is not an SNS topic ARN, another account's
topic, forwarding off without topics). End to end: an identity whose Bounce
topic (set through v1) has an HTTP subscriber on 127.0.0.1 sends to
bounce@simulator.amazonses.com, and the subscriber gets SES's bounce
notification (notificationType, original headers as asked). The identity's
settings are put back as they were at the end.
"""

import http.server
import json
import queue
import threading
import urllib.request

import boto3
import botocore.config


def _sns(t, account):
    key, secret = t.keys[account]
    return boto3.client("sns", endpoint_url=t.endpoint, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret,
                        config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}))


class _Subscriber(http.server.BaseHTTPRequestHandler):
    """An SNS HTTP endpoint: confirms its subscription, queues notifications."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        m = json.loads(body)
        if m.get("Type") == "SubscriptionConfirmation":
            with urllib.request.urlopen(m["SubscribeURL"], timeout=10) as r:
                r.read()
        self.send_response(200)
        self.end_headers()
        self.server.received.put((self.headers.get("x-amz-sns-message-type"), m))

    def log_message(self, *args):
        pass


def _policy(arn, principal):
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "delegate", "Effect": "Allow", "Principal": {"AWS": principal},
        "Action": ["ses:SendEmail", "ses:SendRawEmail"], "Resource": arn}]})


def _policies(t, arn):
    doc1, doc2, doc3 = _policy(arn, "111122223333"), _policy(arn, "444455556666"), _policy(arn, "777788889999")
    ses, d = t.boto, t.domain

    # boto3: create, then replace (Put does both).
    out = ses.put_identity_policy(Identity=d, PolicyName="boto", Policy=doc1)
    t.check("boto3 put_identity_policy (create) → empty result", set(out) == {"ResponseMetadata"}, out)
    out = ses.get_identity_policies(Identity=d, PolicyNames=["boto", "absent"])
    t.check("boto3 get_identity_policies → Policies of the names it has", out.get("Policies") == {"boto": doc1}, out)
    ses.put_identity_policy(Identity=arn, PolicyName="boto", Policy=doc2)
    out = ses.get_identity_policies(Identity=arn, PolicyNames=["boto"])
    t.check("boto3 put_identity_policy by ARN replaces", out.get("Policies") == {"boto": doc2}, out)
    out = ses.list_identity_policies(Identity=d)
    t.check("boto3 list_identity_policies → PolicyNames", out.get("PolicyNames") == ["boto"], out)
    v2 = t.sesv2.get_email_identity_policies(EmailIdentity=d)
    t.check("SESv2 GetEmailIdentityPolicies reads the v1 policy", v2.get("Policies") == {"boto": doc2}, v2)

    # aws ses.
    t.aws("put-identity-policy", "--identity", d, "--policy-name", "cli", "--policy", doc3)
    out = t.aws("get-identity-policies", "--identity", d, "--policy-names", "cli", "boto")
    t.check("aws ses get-identity-policies → both", out.get("Policies") == {"boto": doc2, "cli": doc3}, out)
    out = t.aws("list-identity-policies", "--identity", d)
    t.check("aws ses list-identity-policies → PolicyNames", out.get("PolicyNames") == ["boto", "cli"], out)

    # Errors.
    # (Each `aws` run takes seconds: the CLI is used once per action.)
    t.boto_error("InvalidPolicy", ses.put_identity_policy, Identity=d, PolicyName="bad", Policy='{"Statement": [')
    t.boto_error("InvalidPolicy", ses.put_identity_policy, Identity=d, PolicyName="bad", Policy=_policy(arn, "not-a-principal"))
    t.boto_error("InvalidParameterValue", ses.put_identity_policy, Identity="nope.example", PolicyName="p", Policy=doc1)
    t.boto_error("InvalidParameterValue", ses.list_identity_policies, Identity="nope.example")

    # Delete: twice is fine.
    t.aws("delete-identity-policy", "--identity", d, "--policy-name", "cli")
    ses.delete_identity_policy(Identity=d, PolicyName="boto")
    out = ses.delete_identity_policy(Identity=d, PolicyName="boto")
    t.check("boto3 delete_identity_policy of a policy gone → empty result", set(out) == {"ResponseMetadata"}, out)
    out = ses.list_identity_policies(Identity=d)
    t.check("after delete: PolicyNames == []", out.get("PolicyNames") == [], out)
    out = ses.get_identity_policies(Identity=d, PolicyNames=["boto"])
    t.check("after delete: Policies == {}", out.get("Policies") == {}, out)


def _attrs(t, via_aws=False):
    if via_aws:
        out = t.aws("get-identity-notification-attributes", "--identities", t.domain, "nope.example")
    else:
        out = t.boto.get_identity_notification_attributes(Identities=[t.domain, "nope.example"])
    na = out.get("NotificationAttributes", {})
    t.check("GetIdentityNotificationAttributes leaves unknown identities out", list(na) == [t.domain], out)
    return na[t.domain]


DEFAULTS = {"ForwardingEnabled": True, "HeadersInBounceNotificationsEnabled": False,
            "HeadersInComplaintNotificationsEnabled": False, "HeadersInDeliveryNotificationsEnabled": False}


def check(t):
    sns = _sns(t, "default")
    topic = sns.create_topic(Name="v1-feedback")["TopicArn"]
    account_id = topic.split(":")[4]
    arn = f"arn:aws:ses:us-east-1:{account_id}:identity/{t.domain}"
    _policies(t, arn)

    ses, d = t.boto, t.domain
    a = _attrs(t)
    t.check("boto3 get_identity_notification_attributes: defaults, no topics", a == DEFAULTS, a)
    t.boto_error("InvalidParameterValue", ses.set_identity_feedback_forwarding_enabled, Identity=d, ForwardingEnabled=False)

    # Topics: the caller's own SNS topic only.
    t.new_account("notifother")
    other_topic = _sns(t, "notifother").create_topic(Name="theirs")["TopicArn"]
    t.boto_error("InvalidParameterValue", ses.set_identity_notification_topic, Identity=d, NotificationType="Bounce",
                 SnsTopic=other_topic)
    t.boto_error("InvalidParameterValue", ses.set_identity_notification_topic, Identity=d, NotificationType="Bounce",
                 SnsTopic="not-an-arn")
    t.boto_error("InvalidParameterValue", ses.set_identity_notification_topic, Identity="nope.example",
                 NotificationType="Bounce", SnsTopic=topic)

    # An HTTP subscriber on the Bounce topic.
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Subscriber)
    srv.received = queue.Queue()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=f"http://127.0.0.1:{srv.server_address[1]}/ses")
        kind, _ = srv.received.get(timeout=30)
        t.check("the SNS subscription is confirmed", kind == "SubscriptionConfirmation", kind)

        out = ses.set_identity_notification_topic(Identity=d, NotificationType="Bounce", SnsTopic=topic)
        t.check("boto3 set_identity_notification_topic → empty result", set(out) == {"ResponseMetadata"}, out)
        t.aws("set-identity-notification-topic", "--identity", arn, "--notification-type", "Complaint", "--sns-topic", topic)
        ses.set_identity_headers_in_notifications_enabled(Identity=d, NotificationType="Bounce", Enabled=True)
        t.aws("set-identity-headers-in-notifications-enabled", "--identity", d, "--notification-type", "Complaint", "--enabled")
        t.aws("set-identity-feedback-forwarding-enabled", "--identity", d, "--no-forwarding-enabled")
        a = _attrs(t, via_aws=True)
        want = dict(DEFAULTS, BounceTopic=topic, ComplaintTopic=topic, ForwardingEnabled=False,
                    HeadersInBounceNotificationsEnabled=True, HeadersInComplaintNotificationsEnabled=True)
        t.check("aws ses get-identity-notification-attributes: the settings made", a == want, a)

        # End to end: a bounce from the mailbox simulator reaches the topic.
        sent = t.sesv2.send_email(FromEmailAddress=f"sender@{d}", Destination={"ToAddresses": ["bounce@simulator.amazonses.com"]},
                                  Content={"Simple": {"Subject": {"Data": "v1 bounce topic"}, "Body": {"Text": {"Data": "hi"}}}})
        try:
            kind, m = srv.received.get(timeout=30)
        except queue.Empty:
            kind, m = None, {}
        n = json.loads(m.get("Message", "{}"))
        mail = n.get("mail", {})
        t.check("the bounce reaches the identity's Bounce topic (SES notification format, headers included)",
                kind == "Notification" and m.get("TopicArn") == topic and n.get("notificationType") == "Bounce"
                and mail.get("messageId") == sent["MessageId"] and "tags" not in mail and len(mail.get("headers", [])) > 0
                and [r.get("emailAddress") for r in n.get("bounce", {}).get("bouncedRecipients", [])] == ["bounce@simulator.amazonses.com"],
                json.dumps(m)[:1500])
    finally:
        srv.shutdown()

    # Put everything back: clearing the Bounce topic turns forwarding on.
    ses.set_identity_notification_topic(Identity=d, NotificationType="Bounce")
    a = _attrs(t)
    t.check("clearing the Bounce topic turns forwarding back on", "BounceTopic" not in a and a["ForwardingEnabled"] is True, a)
    ses.set_identity_notification_topic(Identity=d, NotificationType="Complaint")
    for kind in ("Bounce", "Complaint"):
        ses.set_identity_headers_in_notifications_enabled(Identity=d, NotificationType=kind, Enabled=False)
    out = ses.set_identity_feedback_forwarding_enabled(Identity=d, ForwardingEnabled=True)
    t.check("boto3 set_identity_feedback_forwarding_enabled → empty result", set(out) == {"ResponseMetadata"}, out)
    a = _attrs(t)
    t.check("settings put back as they were", a == DEFAULTS, a)
