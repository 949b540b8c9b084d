#!/usr/bin/env python3
"""Drive a running Petrel with the real AWS CLI v2 and check SES's shapes.

Usage: awscli-check.py AWS ENDPOINT PETREL DATA_DIR IMPORT_DIR

AWS is the CLI v2 binary (/usr/bin/aws), ENDPOINT the API's URL, PETREL the
petrel binary and DATA_DIR the data directory of the running Petrel (for
`petrel identity add`, which works while the daemon runs), IMPORT_DIR its
--import-dir (file:// imports read IMPORT_DIR/<account>/: the check writes
IMPORT_DIR/default/ci.csv). Credentials come from the environment (the shared-credentials
file Petrel writes, profile petrel). Each check prints one line; the first
failure exits 1 with the command, its output and what was expected.
"""

import json
import os
import subprocess
import sys
import time

AWS, ENDPOINT, PETREL, DATA_DIR, IMPORT_DIR = sys.argv[1:6]
checks = 0


def aws(*args, ok=True):
    """Runs `aws sesv2 ARGS` and returns (exit code, parsed JSON or None, stderr)."""
    cmd = [AWS, "sesv2", "--endpoint-url", ENDPOINT, "--output", "json", *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    out = json.loads(p.stdout) if p.stdout.strip() else None
    if ok and p.returncode != 0:
        fail(cmd, p, "exit status 0")
    return p.returncode, out, p.stderr


def fail(cmd, p, want):
    print("FAIL:", " ".join(cmd))
    print("  exit:", p.returncode)
    print("  stdout:", p.stdout.strip()[:2000])
    print("  stderr:", p.stderr.strip()[:2000])
    print("  want:", want)
    sys.exit(1)


def check(name, cond, detail=""):
    global checks
    checks += 1
    if not cond:
        print("FAIL:", name, detail)
        sys.exit(1)
    print("ok:", name)


def error(code, *args):
    """Runs a command that must fail with SES error code."""
    rc, out, err = aws(*args, ok=False)
    check(f"{args[0]} → {code}", rc != 0 and f"({code})" in err, f"exit {rc}, stderr {err.strip()[:500]}")


# --- suppression list -------------------------------------------------------
aws("put-suppressed-destination", "--email-address", "Bounced@Example.COM", "--reason", "BOUNCE")
aws("put-suppressed-destination", "--email-address", "complained@example.com", "--reason", "COMPLAINT")
_, out, _ = aws("get-suppressed-destination", "--email-address", "bounced@example.com")
sd = out["SuppressedDestination"]
check("get-suppressed-destination shape", sd["EmailAddress"].lower() == "bounced@example.com" and sd["Reason"] == "BOUNCE"
      and "LastUpdateTime" in sd, json.dumps(out))
_, out, _ = aws("list-suppressed-destinations")
got = sorted((s["EmailAddress"].lower(), s["Reason"]) for s in out["SuppressedDestinationSummaries"])
check("list-suppressed-destinations", got == [("bounced@example.com", "BOUNCE"), ("complained@example.com", "COMPLAINT")],
      json.dumps(out))
check("summaries carry LastUpdateTime", all("LastUpdateTime" in s for s in out["SuppressedDestinationSummaries"]))
_, out, _ = aws("list-suppressed-destinations", "--reasons", "COMPLAINT")
check("list --reasons COMPLAINT", [s["EmailAddress"] for s in out["SuppressedDestinationSummaries"]] == ["complained@example.com"],
      json.dumps(out))
_, out, _ = aws("list-suppressed-destinations", "--start-date", "2000-01-01T00:00:00Z", "--end-date", "2001-01-01T00:00:00Z")
check("list --start-date/--end-date in the past is empty", out["SuppressedDestinationSummaries"] == [], json.dumps(out))
_, out, _ = aws("list-suppressed-destinations", "--start-date", str(int(time.time()) - 3600))
check("list --start-date (epoch) finds both", len(out["SuppressedDestinationSummaries"]) == 2, json.dumps(out))
_, out, _ = aws("list-suppressed-destinations", "--page-size", "1", "--no-paginate")
check("list --page-size 1 gives a NextToken", len(out["SuppressedDestinationSummaries"]) == 1 and out.get("NextToken"),
      json.dumps(out))
error("InvalidNextTokenException", "list-suppressed-destinations", "--next-token", "garbage", "--no-paginate")
error("BadRequestException", "put-suppressed-destination", "--email-address", "not-an-address", "--reason", "BOUNCE")
error("BadRequestException", "put-suppressed-destination", "--email-address", "x@example.com", "--reason", "SPAM")
aws("delete-suppressed-destination", "--email-address", "complained@example.com")
error("NotFoundException", "get-suppressed-destination", "--email-address", "complained@example.com")
error("NotFoundException", "delete-suppressed-destination", "--email-address", "complained@example.com")

# --- account suppression attributes ----------------------------------------
_, out, _ = aws("get-account")
check("get-account: new accounts suppress BOUNCE and COMPLAINT",
      sorted(out["SuppressionAttributes"]["SuppressedReasons"]) == ["BOUNCE", "COMPLAINT"], json.dumps(out))
aws("put-account-suppression-attributes", "--suppressed-reasons", "COMPLAINT")
_, out, _ = aws("get-account")
check("put-account-suppression-attributes", out["SuppressionAttributes"]["SuppressedReasons"] == ["COMPLAINT"], json.dumps(out))
aws("put-account-suppression-attributes", "--suppressed-reasons", "BOUNCE", "COMPLAINT")

# --- configuration sets -----------------------------------------------------
aws("create-configuration-set", "--configuration-set-name", "ci-set",
    "--delivery-options", "TlsPolicy=REQUIRE",
    "--tags", "Key=env,Value=ci")
error("AlreadyExistsException", "create-configuration-set", "--configuration-set-name", "ci-set")
error("BadRequestException", "create-configuration-set", "--configuration-set-name", "bad name!")
_, out, _ = aws("get-configuration-set", "--configuration-set-name", "ci-set")
check("get-configuration-set shape", out["ConfigurationSetName"] == "ci-set"
      and out["DeliveryOptions"]["TlsPolicy"] == "REQUIRE"
      and {"Key": "env", "Value": "ci"} in out["Tags"], json.dumps(out))
_, out, _ = aws("list-configuration-sets")
check("list-configuration-sets", out["ConfigurationSets"] == ["ci-set"], json.dumps(out))
# (Debian's AWS CLI 2.9 predates MaxDeliverySeconds: its range is checked
# through aws-sdk-go-v2 in internal/api.)
error("BadRequestException", "put-configuration-set-delivery-options", "--configuration-set-name", "ci-set",
      "--tls-policy", "SOMETIMES")
error("NotFoundException", "put-configuration-set-delivery-options", "--configuration-set-name", "no-such-set",
      "--tls-policy", "OPTIONAL")
aws("put-configuration-set-suppression-options", "--configuration-set-name", "ci-set", "--suppressed-reasons", "BOUNCE")
aws("put-configuration-set-sending-options", "--configuration-set-name", "ci-set", "--no-sending-enabled")
_, out, _ = aws("get-configuration-set", "--configuration-set-name", "ci-set")
check("suppression and sending options stored", out["SuppressionOptions"]["SuppressedReasons"] == ["BOUNCE"]
      and out["SendingOptions"]["SendingEnabled"] is False, json.dumps(out))
subprocess.run([PETREL, "identity", "add", "ci.example", "--account", "default", "--verified", "--dkim", "none", "--data-dir", DATA_DIR], check=True,
               capture_output=True)
rc, out, err = aws("send-email", "--from-email-address", "app@ci.example",
                   "--destination", "ToAddresses=success@simulator.amazonses.com",
                   "--content", "Simple={Subject={Data=hi},Body={Text={Data=hello}}}",
                   "--configuration-set-name", "no-such-set", ok=False)
check("send-email with an unknown configuration set → NotFoundException", rc != 0 and "(NotFoundException)" in err, err)
rc, out, err = aws("send-email", "--from-email-address", "app@ci.example",
                   "--destination", "ToAddresses=success@simulator.amazonses.com",
                   "--content", "Simple={Subject={Data=hi},Body={Text={Data=hello}}}",
                   "--configuration-set-name", "ci-set", ok=False)
check("send-email with a paused configuration set → SendingPausedException", rc != 0 and "(SendingPausedException)" in err, err)
_, out, _ = aws("send-email", "--from-email-address", "app@ci.example",
                "--destination", "ToAddresses=bounced@example.com",
                "--content", "Simple={Subject={Data=hi},Body={Text={Data=hello}}}")
check("send-email to a suppressed address succeeds", out and out.get("MessageId"), json.dumps(out))
message_id = out["MessageId"]
# (Debian's AWS CLI 2.9 predates get-message-insights: the events come
# from petrel events, in SES's event-publishing JSON.)
events = []
for _ in range(50):
    p = subprocess.run([PETREL, "events", "--message-id", message_id, "--data-dir", DATA_DIR], capture_output=True, text=True)
    events = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    if any(e["eventType"] == "Bounce" for e in events):
        break
    time.sleep(0.2)
bounce = next((e["bounce"] for e in events if e["eventType"] == "Bounce"), None)
check("the suppressed recipient's Bounce event is Permanent/OnAccountSuppressionList",
      bounce is not None and bounce["bounceType"] == "Permanent" and bounce["bounceSubType"] == "OnAccountSuppressionList"
      and bounce["bouncedRecipients"][0]["emailAddress"].lower() == "bounced@example.com", json.dumps(events))

rc, out, err = aws("list-tags-for-resource", "--resource-arn", "arn:aws:ses:us-east-1:000000000000:configuration-set/ci-set",
                   ok=False)
check("list-tags-for-resource with another account's ARN → NotFoundException", rc != 0 and "(NotFoundException)" in err, err)
aws("delete-configuration-set", "--configuration-set-name", "ci-set")
error("NotFoundException", "get-configuration-set", "--configuration-set-name", "ci-set")

# --- import jobs ------------------------------------------------------------
# file:// sources are per account: under IMPORT_DIR/<account>/ (the
# credentials are the default account's).
os.makedirs(f"{IMPORT_DIR}/default", exist_ok=True)
with open(f"{IMPORT_DIR}/operator.csv", "w") as f:
    f.write("operator@example.net,BOUNCE\n")
with open(f"{IMPORT_DIR}/default/ci.csv", "w") as f:
    for i in range(1000):
        f.write(f"imported{i}@example.net,BOUNCE\n")
    f.write("not-an-address,BOUNCE\n")
error("BadRequestException", "create-import-job",
      "--import-destination", "SuppressionListDestination={SuppressionListImportAction=PUT}",
      "--import-data-source", "S3Url=s3://bucket/ci.csv,DataFormat=CSV")
error("BadRequestException", "create-import-job",
      "--import-destination", "SuppressionListDestination={SuppressionListImportAction=PUT}",
      "--import-data-source", f"S3Url=file://{IMPORT_DIR}/operator.csv,DataFormat=CSV")
_, out, _ = aws("create-import-job",
                "--import-destination", "SuppressionListDestination={SuppressionListImportAction=PUT}",
                "--import-data-source", f"S3Url=file://{IMPORT_DIR}/default/ci.csv,DataFormat=CSV")
job = out["JobId"]
for _ in range(100):
    _, out, _ = aws("get-import-job", "--job-id", job)
    if out["JobStatus"] in ("COMPLETED", "FAILED"):
        break
    time.sleep(0.2)
check("import job completes", out["JobStatus"] == "COMPLETED" and out["ProcessedRecordsCount"] == 1000
      and out["FailedRecordsCount"] == 1, json.dumps(out))
_, out, _ = aws("get-suppressed-destination", "--email-address", "imported999@example.net")
check("imported address is suppressed", out["SuppressedDestination"]["Reason"] == "BOUNCE", json.dumps(out))
_, out, _ = aws("list-import-jobs")
check("list-import-jobs", [j["JobId"] for j in out["ImportJobs"]] == [job], json.dumps(out))

print(f"awscli: {checks} checks passed")
