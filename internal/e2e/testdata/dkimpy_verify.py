"""dkimpy_verify.py KEYS DIR: verify the DKIM-Signature fields of every *.eml
file in DIR with dkimpy (Debian's python3-dkim, an implementation Petrel did
not write), RFC 6376 and RFC 8463 (ed25519-sha256).

KEYS is a JSON object {"<selector>._domainkey.<domain>": "<TXT record>"}; it
stands in for DNS through dkimpy's dnsfunc argument, so nothing is looked up
on the network.

Prints one JSON object per file, in file-name order:
  {"file": name, "ok": bool (every signature verified, and there is one),
   "sigs": number of DKIM-Signature fields, "d", "s", "a": tags of the first,
   "error": dkimpy's reason when ok is false}
Exits 3 when dkimpy or PyNaCl (needed for ed25519) cannot be imported.
"""
import json
import logging
import os
import sys

try:
    import dkim
    import nacl.signing  # noqa: F401  (dkimpy verifies ed25519 with it)
except ImportError as e:
    print("%s: python3-dkim (with python3-nacl) is not installed: %s" % (sys.executable, e), file=sys.stderr)
    sys.exit(3)


class Collect(logging.Handler):
    """Keeps dkimpy's log records: it logs, not raises, some failures."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def main():
    with open(sys.argv[1]) as f:
        keys = {k.lower(): v for k, v in json.load(f).items()}
    looked_up = []

    def dnsfunc(name, timeout=5):
        n = (name.decode() if isinstance(name, bytes) else name).rstrip(".").lower()
        looked_up.append(n)
        rec = keys.get(n)
        return rec.encode() if rec is not None else None

    handler = Collect()
    log = logging.getLogger("dkimpy_verify")
    log.addHandler(handler)
    log.setLevel(logging.ERROR)
    log.propagate = False
    folder = sys.argv[2]
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".eml"):
            continue
        with open(os.path.join(folder, name), "rb") as f:
            data = f.read()
        handler.messages = []
        del looked_up[:]
        out = {"file": name, "ok": False, "sigs": 0, "d": "", "s": "", "a": "", "error": ""}
        try:
            d = dkim.DKIM(data, logger=log, minkey=1024)
            n = sum(1 for k, _ in d.headers if k.lower() == b"dkim-signature")
            out["sigs"] = n
            ok = n > 0
            for i in range(n):
                ok = d.verify(idx=i, dnsfunc=dnsfunc) and ok
                if i == 0:
                    sig = d.signature_fields or {}
                    for tag in ("d", "s", "a"):
                        out[tag] = sig.get(tag.encode(), b"").decode("ascii", "replace")
            out["ok"] = bool(ok)
            if n == 0:
                out["error"] = "no DKIM-Signature field"
            elif not ok:
                out["error"] = "; ".join(handler.messages) or "signature does not verify"
        except dkim.DKIMException as e:
            out["error"] = "%s: %s" % (type(e).__name__, e)
        if not out["ok"] and looked_up and all(n not in keys for n in looked_up):
            out["error"] += " (no key for %s)" % ", ".join(looked_up)
        print(json.dumps(out), flush=True)


main()
