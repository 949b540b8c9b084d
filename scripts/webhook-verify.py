#!/usr/bin/env python3
"""Verify Petrel webhook signatures with an independent implementation.

Petrel signs each webhook POST with

    X-Petrel-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>[,v1=...]

(one v1 per valid secret; the key is the secret string's bytes, "whsec_...").
This script recomputes those HMACs with Python's standard library (hmac,
hashlib) only, and checks them against signatures Petrel's Go code made.

Usage (what CI runs):

    PETREL_WEBHOOK_FIXTURE=/tmp/wh.json go test ./internal/notify -run TestWebhookFixture -count=1
    python3 scripts/webhook-verify.py /tmp/wh.json

The fixture is a JSON list of {"secret", "header", "body_b64", "now",
"valid"}: each case must verify exactly when "valid" is true (tampered
bodies, wrong secrets and stale timestamps must fail).

With no argument it checks the committed golden signature
internal/notify/testdata/signature.golden for its fixed inputs.

Exit status 0 when every case agrees, 1 otherwise.
"""
import base64
import hashlib
import hmac
import json
import os
import sys

TOLERANCE = 300  # seconds, Petrel's default replay window


def verify(header, body, secret, now, tolerance=TOLERANCE):
    """Return None when header is a valid signature of body under secret, else why not."""
    t = None
    sigs = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            return "malformed header"
        if key == "t":
            if t is not None:
                return "two timestamps"
            t = value
        elif key == "v1":
            sigs.append(value)
    if t is None or not t.isdigit():
        return "no timestamp"
    if abs(now - int(t)) > tolerance:
        return "timestamp outside the tolerance"
    expected = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    if any(hmac.compare_digest(expected, s) for s in sigs):
        return None
    return "no signature matches"


def check_golden(root):
    path = os.path.join(root, "internal", "notify", "testdata", "signature.golden")
    with open(path) as f:
        header = f.read().strip()
    body = (b'{"eventType":"Bounce","mail":{"messageId":"0100019ad2c1e6c0-6f1b3c9e-1e5a-4c3b-9d0e-2a7f1b6c8d9e-000000"},'
            b'"bounce":{"bounceType":"Permanent"}}')
    now = 1764417600
    failures = 0
    for secret, want in (("whsec_new", True), ("whsec_old", True), ("whsec_other", False)):
        why = verify(header, body, secret, now)
        if (why is None) != want:
            print(f"FAIL golden {secret}: {why or 'verified, but must not'}")
            failures += 1
    print(f"golden signature: {3 - failures}/3 as expected")
    return failures


def main():
    if len(sys.argv) < 2:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        return 1 if check_golden(root) else 0
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    if not cases:
        print("FAIL: empty fixture")
        return 1
    failures = 0
    for i, c in enumerate(cases):
        body = base64.b64decode(c["body_b64"])
        why = verify(c["header"], body, c["secret"], c["now"])
        if (why is None) != c["valid"]:
            print(f"FAIL case {i}: want valid={c['valid']}, got {why or 'verified'}")
            failures += 1
    print(f"{len(cases) - failures}/{len(cases)} webhook signatures verified as expected by Python hmac/hashlib")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
