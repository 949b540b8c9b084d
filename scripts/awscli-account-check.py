#!/usr/bin/env python3
"""Quotas, the sandbox and enforcement through the real AWS CLI v2.

Usage: awscli-account-check.py AWS ENDPOINT PETREL DATA_DIR

AWS is the CLI v2 binary (/usr/bin/aws), ENDPOINT the API's URL, PETREL the
petrel binary and DATA_DIR the data directory of the running Petrel, which
must run with --reputation-min-volume 20 (so that a small burst of bounces
is representative) and its default thresholds. The check makes its own
account with `petrel account create` (in the sandbox), and drives it with
`aws sesv2`: GetAccount's live figures (sandbox quota, SentLast24Hours),
the sandbox's MessageRejected, the rate limit's TooManyRequestsException,
PutAccountDetails and its ConflictException, the operator's production
grant, the tenant's own pause, then an automatic pause (SHUTDOWN) by the
bounce rate and the operator's resume. docs/quotas.md, docs/reputation.md.
"""

import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile
import time

AWS, ENDPOINT, PETREL, DATA_DIR = sys.argv[1:5]
ACCOUNT = "ci-tenant"

creds = tempfile.NamedTemporaryFile("w", suffix=".ini", delete=False)
ENV = dict(os.environ, AWS_SHARED_CREDENTIALS_FILE=creds.name, AWS_PROFILE="petrel", AWS_CONFIG_FILE="/dev/null",
           AWS_DEFAULT_REGION="us-east-1", AWS_PAGER="", AWS_MAX_ATTEMPTS="1")


def petrel(*args):
    p = subprocess.run([PETREL, *args, "--data-dir", DATA_DIR], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        print("FAIL: petrel", " ".join(args), p.stdout, p.stderr)
        sys.exit(1)
    return p.stdout


def aws(*args):
    """Runs `aws sesv2 ARGS`; returns (exit code, parsed JSON or None, stderr)."""
    cmd = [AWS, "sesv2", "--endpoint-url", ENDPOINT, "--output", "json", *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=ENV)
    out = json.loads(p.stdout) if p.stdout.strip() else None
    return p.returncode, out, p.stderr


def ok(*args):
    rc, out, err = aws(*args)
    if rc != 0:
        print("FAIL: aws sesv2", " ".join(args), "exit", rc, err.strip()[:1000])
        sys.exit(1)
    return out


def check(name, cond, detail=""):
    if not cond:
        print("FAIL:", name, detail)
        sys.exit(1)
    print("ok:", name)


def error(name, code, message, *args):
    rc, out, err = aws(*args)
    check(name, rc != 0 and f"({code})" in err and message in err, f"exit {rc}, stderr {err.strip()[:500]}")


def send(to, sender="app@tenant.example"):
    return aws("send-email", "--from-email-address", sender, "--destination", "ToAddresses=" + to,
               "--content", "Simple={Subject={Data=ci},Body={Text={Data=hello}}}")


def account():
    return ok("get-account")


def wait_for(name, cond, timeout=20):
    deadline = time.time() + timeout
    while True:
        a = account()
        if cond(a):
            check(name, True)
            return a
        if time.time() > deadline:
            check(name, False, json.dumps(a))
        time.sleep(0.5)


petrel("account", "create", ACCOUNT)
creds.write(petrel("credentials", "create", "--account", ACCOUNT))
creds.close()
petrel("identity", "add", "tenant.example", "--account", ACCOUNT, "--verified", "--dkim", "none")

# --- the sandbox ------------------------------------------------------------
a = account()
check("get-account: a new account is in the sandbox, 200 / 24 h at 1 / s",
      a["ProductionAccessEnabled"] is False and a["SendQuota"] == {"Max24HourSend": 200, "MaxSendRate": 1, "SentLast24Hours": 0}
      and a["EnforcementStatus"] == "HEALTHY", json.dumps(a))
error("sandbox: an unverified recipient is MessageRejected", "MessageRejected",
      "Email address is not verified. The following identities failed the check in region US-EAST-1: someone@elsewhere.example",
      "send-email", "--from-email-address", "app@tenant.example", "--destination", "ToAddresses=someone@elsewhere.example",
      "--content", "Simple={Subject={Data=ci},Body={Text={Data=hello}}}")
time.sleep(1.1)
rc, _, err = send("success@simulator.amazonses.com")
check("sandbox: the mailbox simulator is allowed", rc == 0, err)
time.sleep(1.1)
rc, _, err = send("me@tenant.example")
check("sandbox: a verified identity is allowed", rc == 0, err)
a = account()
check("get-account: SentLast24Hours counts the verified recipient, not the simulator",
      a["SendQuota"]["SentLast24Hours"] == 1, json.dumps(a["SendQuota"]))

# --- the rate: 1 / s --------------------------------------------------------
time.sleep(1.1)
with concurrent.futures.ThreadPoolExecutor(6) as pool:
    results = list(pool.map(lambda _: send("success@simulator.amazonses.com"), range(6)))
throttled = [r for r in results if r[0] != 0]
check("a burst over MaxSendRate 1 is TooManyRequestsException \"Maximum sending rate exceeded.\"",
      1 <= len(results) - len(throttled) <= 2 and throttled and all(
          "(TooManyRequestsException)" in r[2] and "Maximum sending rate exceeded." in r[2] for r in throttled),
      f"{len(results) - len(throttled)} accepted; {[r[2].strip()[:200] for r in throttled]}")

# --- production access ------------------------------------------------------
ok("put-account-details", "--mail-type", "TRANSACTIONAL", "--website-url", "https://tenant.example",
   "--use-case-description", "Receipts for our customers.", "--additional-contact-email-addresses", "ops@tenant.example",
   "--production-access-enabled")
a = account()
check("put-account-details: ReviewDetails PENDING", a["Details"]["ReviewDetails"]["Status"] == "PENDING"
      and a["Details"]["MailType"] == "TRANSACTIONAL" and a["ProductionAccessEnabled"] is False, json.dumps(a.get("Details")))
error("put-account-details while a review is pending is ConflictException", "ConflictException", "",
      "put-account-details", "--mail-type", "MARKETING", "--website-url", "https://tenant.example",
      "--use-case-description", "Newsletters.", "--production-access-enabled")
petrel("account", "production", ACCOUNT, "--grant")
a = wait_for("petrel account production --grant shows in GetAccount within seconds",
             lambda a: a["ProductionAccessEnabled"] is True)
check("production: GRANTED, SES's production quota 50,000 / 24 h at 14 / s",
      a["Details"]["ReviewDetails"]["Status"] == "GRANTED" and a["SendQuota"]["Max24HourSend"] == 50000
      and a["SendQuota"]["MaxSendRate"] == 14, json.dumps(a))

# --- the tenant's own switch ------------------------------------------------
ok("put-account-sending-attributes", "--no-sending-enabled")
check("put-account-sending-attributes: SendingEnabled false", account()["SendingEnabled"] is False)
error("a tenant-paused account answers SendingPausedException", "SendingPausedException", "", "send-email",
      "--from-email-address", "app@tenant.example", "--destination", "ToAddresses=success@simulator.amazonses.com",
      "--content", "Simple={Subject={Data=ci},Body={Text={Data=hello}}}")
ok("put-account-sending-attributes", "--sending-enabled")

# --- enforcement: the bounce rate pauses the account --------------------------
# Addresses on the global suppression list bounce at once (Permanent /
# Suppressed) for an account that does not use its own list (spec §6.1),
# and such bounces count (spec §8.1): 25 of them reach the minimum volume
# of 20 with a bounce rate of 100 %: the account is paused by itself as soon
# as the evaluation (at most a second behind) sees them.
ok("put-account-suppression-attributes", "--cli-input-json", '{"SuppressedReasons":[]}')
for i in range(30):
    petrel("suppression", "global", "add", f"gone{i}@nowhere.example")
accepted = 0
for i in range(30):
    rc, _, err = send(f"gone{i}@nowhere.example")
    if rc != 0:
        check("the send after the pause is SendingPausedException", "(SendingPausedException)" in err, err)
        break
    accepted += 1
    time.sleep(0.08)  # under 14 / s
check("sends accepted until the minimum volume was reached (20), then refused", 20 <= accepted < 30, f"{accepted} accepted")
a = wait_for("GetAccount.EnforcementStatus SHUTDOWN once the bounce rate crosses 10 %",
             lambda a: a["EnforcementStatus"] == "SHUTDOWN")
check("an enforcement pause leaves the tenant's SendingEnabled alone", a["SendingEnabled"] is True, json.dumps(a))
error("a paused account answers SendingPausedException with SES's message", "SendingPausedException",
      "Sending paused for this account.", "send-email", "--from-email-address", "app@tenant.example",
      "--destination", "ToAddresses=success@simulator.amazonses.com",
      "--content", "Simple={Subject={Data=ci},Body={Text={Data=hello}}}")
ok("put-account-sending-attributes", "--sending-enabled")
check("the tenant cannot lift an enforcement pause", account()["EnforcementStatus"] == "SHUTDOWN")
out = petrel("account", "reputation", ACCOUNT)
check("petrel account reputation shows SHUTDOWN", "SHUTDOWN" in out, out)
petrel("account", "resume", ACCOUNT)
wait_for("petrel account resume: HEALTHY", lambda a: a["EnforcementStatus"] == "HEALTHY")
# Every node sees the resume within its cache's lifetime (5 s).
deadline = time.time() + 10
while True:
    rc, _, err = send("success@simulator.amazonses.com")
    if rc == 0 or time.time() > deadline:
        break
    time.sleep(0.5)
check("after the resume, sending works", rc == 0, err)
os.unlink(creds.name)
print("account-check: all checks passed")
