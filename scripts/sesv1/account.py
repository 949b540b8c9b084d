"""SES v1 account actions (docs/ses-v1.md): GetSendQuota, GetSendStatistics,
GetAccountSendingEnabled, UpdateAccountSendingEnabled, each through boto3
and `aws ses`, with their shapes. GetSendStatistics is read for a fresh
account after a send to the mailbox simulator: one 15-minute point, hard
bounces only in Bounces. Sending is paused and resumed on the default
account, which is left enabled."""

import datetime
import time


def _quota(t):
    q = t.boto.get_send_quota()
    v2 = t.sesv2.get_account()["SendQuota"]
    t.check("boto3 get_send_quota: the default account is unlimited, as v2 GetAccount says",
            q["Max24HourSend"] == -1.0 and q["MaxSendRate"] == -1.0 and isinstance(q["SentLast24Hours"], float)
            and q["SentLast24Hours"] == v2["SentLast24Hours"] and v2["Max24HourSend"] == -1, (q, v2))
    out = t.aws("get-send-quota")
    t.check("aws ses get-send-quota", out.get("Max24HourSend") == -1 and out.get("MaxSendRate") == -1
            and out.get("SentLast24Hours", -1) >= 0, out)


def _statistics(t):
    name = "v1tpl-stats"
    ses = t.new_account(name, sandbox=False)
    t.petrel("identity", "add", "v1tpl-stats.example", "--account", name, "--verified")
    st = ses.get_send_statistics()
    t.check("boto3 get_send_statistics: a new account has no points", st.get("SendDataPoints") == [], st)
    q = ses.get_send_quota()
    v2 = t._boto("sesv2", name).get_account()["SendQuota"]
    t.check("boto3 get_send_quota of a limited account: v2's SendQuota",
            q["Max24HourSend"] == v2["Max24HourSend"] > 0 and q["MaxSendRate"] == v2["MaxSendRate"] > 0 and q["SentLast24Hours"] == 0,
            (q, v2))

    rcpts = [f"{r}@simulator.amazonses.com" for r in ("success", "bounce", "ooto", "complaint")]
    mid = t._boto("sesv2", name).send_email(
        FromEmailAddress="stats@v1tpl-stats.example", Destination={"ToAddresses": rcpts},
        Content={"Simple": {"Subject": {"Data": "stats"}, "Body": {"Text": {"Data": "b"}}}})["MessageId"]
    start = datetime.datetime.now(datetime.timezone.utc)

    def outcomes(evs):
        kinds = [e.get("eventType") for e in evs]
        return kinds.count("Bounce") >= 2 and kinds.count("Complaint") >= 1

    evs = t.events(mid, until=outcomes)
    t.check("the simulator's outcomes: a hard and a soft bounce, a complaint", outcomes(evs), [e.get("eventType") for e in evs])
    sums = None
    for _ in range(50):
        pts = ses.get_send_statistics()["SendDataPoints"]
        sums = [sum(p[k] for p in pts) for k in ("DeliveryAttempts", "Bounces", "Complaints", "Rejects")]
        if sums == [4, 1, 1, 0]:
            break
        time.sleep(0.1)
    t.check("boto3 get_send_statistics: 4 attempts, 1 hard bounce (the soft one not counted), 1 complaint",
            sums == [4, 1, 1, 0] and all(p["Timestamp"].minute % 15 == 0 and p["Timestamp"].second == 0
                                         and abs((start - p["Timestamp"]).total_seconds()) < 3600 for p in pts), pts)
    out = t.aws("get-send-statistics", account=name)
    pts = out.get("SendDataPoints", [])
    t.check("aws ses get-send-statistics", sum(p.get("DeliveryAttempts", 0) for p in pts) == 4
            and sum(p.get("Bounces", 0) for p in pts) == 1 and all("Timestamp" in p for p in pts), out)


def _sending_enabled(t):
    ses = t.boto
    t.check("boto3 get_account_sending_enabled: enabled", ses.get_account_sending_enabled()["Enabled"] is True)
    try:
        ses.update_account_sending_enabled(Enabled=False)
        out = t.aws("get-account-sending-enabled")
        t.check("aws ses get-account-sending-enabled after pausing", out.get("Enabled") is False, out)
        t.check("v2 GetAccount sees the pause", t.sesv2.get_account()["SendingEnabled"] is False)
        t.aws("update-account-sending-enabled", "--enabled")
        t.check("aws ses update-account-sending-enabled --enabled resumes",
                ses.get_account_sending_enabled()["Enabled"] is True and t.sesv2.get_account()["SendingEnabled"] is True)
    finally:
        ses.update_account_sending_enabled(Enabled=True)


def check(t):
    _quota(t)
    _statistics(t)
    _sending_enabled(t)
