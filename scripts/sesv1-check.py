#!/usr/bin/env python3
"""The SES v1 Query API (API version 2010-12-01) through boto3's "ses"
client and the real AWS CLI v2 (`aws ses …`) against a running Petrel
(docs/ses-v1.md).

Usage: sesv1-check.py AWS PETREL WORKDIR

AWS is the CLI v2 binary (/usr/bin/aws), PETREL the petrel binary, WORKDIR
an empty directory. The check runs its own Petrel (SQLite, a fresh data
directory under WORKDIR) that relays all mail to an SMTP sink this script
serves on 127.0.0.1, so it can read what was delivered. The checks are in
scripts/sesv1/, one module per area, each a check(t) function given the
harness (scripts/sesv1/harness.py); they run in the order of AREAS. Each
check prints one line; the first failure exits 1 with what was expected.
"""

import importlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from sesv1 import harness  # noqa: E402

AREAS = ["sending", "identities", "notifications", "configsets", "templates", "account"]

if __name__ == "__main__":
    aws, petrel, work = sys.argv[1:4]
    t = harness.Harness(aws, petrel, work)
    try:
        for area in AREAS:
            path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sesv1", area + ".py")
            if not os.path.exists(path):
                print("FAIL: no checks for area", area)
                sys.exit(1)
            print("--- area", area)
            importlib.import_module("sesv1." + area).check(t)
        print(f"sesv1-check: {t.checks} checks passed")
    finally:
        t.close()
