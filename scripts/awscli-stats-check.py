#!/usr/bin/env python3
"""BatchGetMetricData through the real AWS CLI v2 against a running Petrel.

Usage: awscli-stats-check.py AWS ENDPOINT PETREL DATA_DIR

AWS is the CLI v2 binary (/usr/bin/aws), ENDPOINT the API's URL, PETREL the
petrel binary and DATA_DIR the data directory of the running Petrel.
Credentials come from the environment (profile petrel). The check reads
today's SEND, DELIVERY and PERMANENT_BOUNCE with `aws sesv2
batch-get-metric-data`, sends five recipients to the mailbox simulator
(four success@, one bounce@: no network involved), waits for their
outcomes, and checks that today's values grew by 5, 4 and 1 (other checks
may have sent before: the check compares with what it read first), that
every day of the range is there (zeros included) and that `petrel stats`
shows the same sends. docs/statistics.md.
"""

import datetime
import json
import subprocess
import sys
import time

AWS, ENDPOINT, PETREL, DATA_DIR = sys.argv[1:5]


def aws(*args):
    cmd = [AWS, "sesv2", "--endpoint-url", ENDPOINT, "--output", "json", *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        print("FAIL:", " ".join(cmd))
        print("  stderr:", p.stderr.strip()[:2000])
        sys.exit(1)
    return json.loads(p.stdout) if p.stdout.strip() else None


def check(name, cond, detail=""):
    if not cond:
        print("FAIL:", name, detail)
        sys.exit(1)
    print("ok:", name)


now = datetime.datetime.now(datetime.timezone.utc)
today = now.date()
start = (now - datetime.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
METRICS = ["SEND", "DELIVERY", "PERMANENT_BOUNCE", "OPEN"]


def today_values():
    end = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    queries = [{"Id": m.lower(), "Namespace": "VDM", "Metric": m, "StartDate": start, "EndDate": end} for m in METRICS]
    out = aws("batch-get-metric-data", "--queries", json.dumps(queries))
    check_shape(out)
    return {r["Id"]: r["Values"][-1] for r in out["Results"]}, out


def check_shape(out):
    results = out.get("Results", [])
    ok = len(results) == len(METRICS) and not out.get("Errors")
    for r in results:
        days = [datetime.datetime.fromisoformat(str(t)).date() if not isinstance(t, (int, float))
                else datetime.datetime.fromtimestamp(t, datetime.timezone.utc).date() for t in r["Timestamps"]]
        want = [today - datetime.timedelta(days=2 - i) for i in range(3)]
        ok = ok and days == want and len(r["Values"]) == 3
    if not ok:
        check("batch-get-metric-data returns three days per query, today last", False, json.dumps(out))


before, _ = today_values()
check("batch-get-metric-data answers SEND, DELIVERY, PERMANENT_BOUNCE and OPEN for the last three days", True)

subprocess.run([PETREL, "identity", "add", "stats.ci.example", "--account", "default", "--verified", "--dkim", "none",
                "--data-dir", DATA_DIR], check=True, capture_output=True)
for to in ["success@simulator.amazonses.com", "success+2@simulator.amazonses.com",
           "success@simulator.amazonses.com,bounce@simulator.amazonses.com", "success+4@simulator.amazonses.com"]:
    aws("send-email", "--from-email-address", "app@stats.ci.example", "--destination", "ToAddresses=" + to,
        "--content", "Simple={Subject={Data=stats},Body={Text={Data=hello}}}")

want = {"send": 5, "delivery": 4, "permanent_bounce": 1, "open": 0}
got, out = {}, None
for _ in range(100):
    after, out = today_values()
    got = {k: after[k] - before[k] for k in want}
    if got == want:
        break
    time.sleep(0.2)
check("today's SEND +5, DELIVERY +4, PERMANENT_BOUNCE +1, OPEN 0 (no tracking)", got == want,
      f"got {got}, want {want}: {json.dumps(out)}")

p = subprocess.run([PETREL, "stats", "--account", "default", "--since", "1h", "--json", "--data-dir", DATA_DIR],
                   capture_output=True, text=True, timeout=60)
rows = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
check("petrel stats --json shows the sends", p.returncode == 0 and len(rows) == 1 and rows[0]["sends"] >= 5,
      p.stdout + p.stderr)
