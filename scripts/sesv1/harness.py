"""The harness of scripts/sesv1-check.py: a Petrel of its own relaying to an
SMTP sink, boto3's "ses" client, the AWS CLI v2's `aws ses`, Petrel's
administration CLI, and check helpers.

What an area's check(t) may use:
  t.boto              boto3 "ses" client of the default account (no retries)
  t.sesv2             boto3 "sesv2" client of the default account (parity)
  t.client(account)   a boto3 "ses" client of another account (see new_account)
  t.new_account(name, sandbox=True) creates an account with its own access key
                      and returns its boto3 "ses" client
  t.aws(*args, account=None) runs `aws ses ARGS --output json` and returns the
                      parsed output; exits on failure
  t.aws_error(code, *args, account=None) runs `aws ses ARGS`, which must fail
                      with SES error code CODE; returns stderr
  t.boto_error(code, fn, **kwargs) calls fn(**kwargs), which must raise
                      botocore's ClientError with Error.Code CODE; returns it
  t.petrel(*args)     runs `petrel ARGS --data-dir DATA`; returns stdout
  t.events(message_id, until=None) the message's events (SES JSON dicts)
  t.delivered(rcpt, n=1) the messages (bytes) the sink received for rcpt,
                      once there are n (waits up to 10 s)
  t.check(name, cond, detail="") one check line; exits 1 when cond is false
  t.domain            "v1.example": a verified domain identity of the default
                      account (mail from it is relayed to the sink); also
                      "sink.example" (verified, for recipients)
  t.endpoint, t.data, t.env (the AWS CLI's environment)
"""

import json
import os
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import smtpsink  # noqa: E402
from smtpsink import free_port  # noqa: E402

import boto3
import botocore.config
import botocore.exceptions


class Harness:
    domain = "v1.example"

    def __init__(self, aws, petrel, work):
        self.aws_bin, self.petrel_bin, self.work = aws, petrel, work
        self.checks = 0
        self.sink = smtpsink.start()
        http_port, inbound_port = free_port(), free_port()
        self.data = os.path.join(work, "data")
        self.endpoint = f"http://127.0.0.1:{http_port}"
        self.log = open(os.path.join(work, "log"), "w")
        self.proc = subprocess.Popen(
            [petrel, "serve", "--data-dir", self.data, "--http", f"127.0.0.1:{http_port}", "--smtp", "", "--smtps", "",
             "--inbound", f"127.0.0.1:{inbound_port}", "--hostname", "petrel.test",
             "--notify-allow-networks", "127.0.0.0/8",
             "--relay-host", f"127.0.0.1:{self.sink.server_address[1]}", "--log-level", "warn"],
            stdout=self.log, stderr=self.log)
        for _ in range(100):
            try:
                urllib.request.urlopen(self.endpoint + "/readyz", timeout=1)
                break
            except Exception:
                time.sleep(0.1)
        else:
            self.fail("Petrel did not start", open(os.path.join(work, "log")).read())
        self.credfile = os.path.join(self.data, "credentials")
        self.env = dict(os.environ, AWS_SHARED_CREDENTIALS_FILE=self.credfile, AWS_PROFILE="petrel",
                        AWS_CONFIG_FILE="/dev/null", AWS_DEFAULT_REGION="us-east-1", AWS_PAGER="", AWS_MAX_ATTEMPTS="1")
        self.keys = {"default": self._profile_keys(self.credfile, "petrel")}
        for name in (self.domain, "sink.example"):
            self.petrel("identity", "add", name, "--account", "default", "--verified")
        self.boto = self.client("default")
        self.sesv2 = self._boto("sesv2", "default")

    # --- clients ----------------------------------------------------------

    @staticmethod
    def _profile_keys(path, profile):
        keys, cur = {}, None
        for line in open(path):
            line = line.strip()
            if line.startswith("["):
                cur = line.strip("[]")
            elif "=" in line and cur == profile:
                k, v = (x.strip() for x in line.split("=", 1))
                keys[k] = v
        return keys["aws_access_key_id"], keys["aws_secret_access_key"]

    def _boto(self, service, account):
        key, secret = self.keys[account]
        return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1", aws_access_key_id=key,
                            aws_secret_access_key=secret,
                            config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}))

    def client(self, account):
        return self._boto("ses", account)

    def new_account(self, name, sandbox=True):
        args = ["account", "create", name] + ([] if sandbox else ["--production"])
        self.petrel(*args)
        out = self.petrel("credentials", "create", "--account", name)
        path = os.path.join(self.work, f"credentials-{name}.ini")
        with open(path, "w") as f:
            f.write(out)
        self.keys[name] = self._profile_keys(path, "petrel")
        return self.client(name)

    def _aws_env(self, account):
        if account is None or account == "default":
            return self.env
        key, secret = self.keys[account]
        env = dict(self.env, AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret)
        env.pop("AWS_PROFILE", None)
        env["AWS_SHARED_CREDENTIALS_FILE"] = "/dev/null"
        return env

    def _run_aws(self, args, account):
        cmd = [self.aws_bin, "ses", "--endpoint-url", self.endpoint, "--output", "json", *args]
        return cmd, subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=self._aws_env(account))

    def aws(self, *args, account=None):
        cmd, p = self._run_aws(args, account)
        if p.returncode != 0:
            self.fail("aws ses " + " ".join(args), f"exit {p.returncode}\nstdout {p.stdout[:2000]}\nstderr {p.stderr[:2000]}")
        self.checks += 1
        print("ok: aws ses", args[0])
        return json.loads(p.stdout) if p.stdout.strip() else {}

    def aws_error(self, code, *args, account=None):
        _, p = self._run_aws(args, account)
        self.check(f"aws ses {args[0]} → {code}", p.returncode != 0 and f"({code})" in p.stderr,
                   f"exit {p.returncode}, stderr {p.stderr.strip()[:800]}")
        return p.stderr

    def boto_error(self, code, fn, **kwargs):
        try:
            fn(**kwargs)
        except botocore.exceptions.ClientError as e:
            self.check(f"boto3 {fn.__name__} → {code}", e.response["Error"]["Code"] == code,
                       f"got {e.response['Error']}")
            return e
        self.fail(f"boto3 {fn.__name__} → {code}", "it succeeded")

    # --- Petrel -----------------------------------------------------------

    def petrel(self, *args):
        p = subprocess.run([self.petrel_bin, *args, "--data-dir", self.data], capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            self.fail("petrel " + " ".join(args), p.stdout + p.stderr)
        return p.stdout

    def events(self, message_id, until=None, tries=100):
        evs = []
        for _ in range(tries):
            p = subprocess.run([self.petrel_bin, "events", "--message-id", message_id, "--data-dir", self.data],
                               capture_output=True, text=True)
            evs = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
            if until is None or until(evs):
                break
            time.sleep(0.1)
        return evs

    def delivered(self, rcpt, n=1, tries=100):
        got = []
        for _ in range(tries):
            with self.sink.lock:
                got = [m for r, m in self.sink.messages if rcpt in r]
            if len(got) >= n:
                return got
            time.sleep(0.1)
        return got

    # --- checks -----------------------------------------------------------

    def check(self, name, cond, detail=""):
        self.checks += 1
        if not cond:
            self.fail(name, detail)
        print("ok:", name)

    def fail(self, name, detail=""):
        print("FAIL:", name, str(detail)[:3000])
        print("--- petrel log (tail)")
        try:
            print(open(os.path.join(self.work, "log")).read()[-4000:])
        except OSError:
            pass
        self.close()
        sys.exit(1)

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.sink.shutdown()
