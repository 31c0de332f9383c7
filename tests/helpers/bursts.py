"""Alert events as a chat sink gets them: a burst of tokens expiring in one evaluation, and
alerts whose upstream texts are hostile (markup, mentions, 10 KB names)."""

from __future__ import annotations

from monitor.alerts.engine import Alert, AlertEvent, AlertName, AlertStatus, Reason
from monitor.config.model import Severity

T0 = 1_800_000_000.0
# What upstream may name an account or a plan: every channel's markup, mentions, a card
# function, an HTML entity Telegram does not read, then 10 KB.
HOSTILE = (
    "<b>x</b> <script>alert(1)</script> @everyone @here <@123> <at>ana</at> **bold** _it_ "
    "~~s~~ `code` [click](https://evil.example/) &amp; &nbsp; {{DATE(2017-02-14T06:08:00Z)}} "
    "# head\n- item 1. x |spoiler| :smile: > quote"
)
HUGE = HOSTILE + " " + "A" * 10_000


def burst(count: int, *, account: str = "u{i:04d}@x.io") -> list[AlertEvent]:
    """`count` tokens expiring, critical and warning in turn, in one evaluation."""
    out = []
    for i in range(count):
        severity = Severity.CRITICAL if i % 2 == 0 else Severity.WARNING
        alert = Alert(
            AlertName.EXPIRING_SOON,
            severity,
            "main",
            account.format(i=i),
            "PixVerse token expires soon",
            "The PixVerse JWT expires soon. Renew it on useapi.net, or its job slots are lost.",
            {"expires_at": f"2027-01-{16 + i % 10}T08:00:00Z", "ttl_seconds": "9", "max_jobs": "4"},
            (("team", "studio"),),
        )
        out.append(
            AlertEvent(f"e{i}", AlertStatus.FIRING, Reason.STARTED, alert, T0, None, T0, severity)
        )
    return out


def hostile_plan(name: str = HUGE) -> AlertEvent:
    """A plan ending, whose account, plan name and label are `name`."""
    alert = Alert(
        AlertName.PLAN_EXPIRING_SOON,
        Severity.CRITICAL,
        "main",
        name,
        "PixVerse plan ends soon",
        "The plan ends soon; renew it.",
        {"plan": name, "plan_expires_at": "2027-01-20T00:00:00Z", "credits": "12"},
        (("team", name),),
    )
    return AlertEvent(
        "h", AlertStatus.FIRING, Reason.STARTED, alert, T0, None, T0, Severity.CRITICAL
    )
