"""What a message to a person says, in one place for every chat channel (and the email to
come): which alerts it details (the most severe and soonest, as many as fit), how it counts the
rest, and, for each alert, its severity, account and labels, what happened in words with the
time in UTC and in words, the plan and credit figures, and what to do. Pure: each channel
escapes it for its markup and lays it out."""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from monitor.alerts.alert import AlertName
from monitor.alerts.engine import AlertEvent, AlertStatus
from monitor.config import Severity
from monitor.timefmt import format_ttl, human_utc

# Alerts a chat message details at most, whatever room its channel has: past it a list is no
# longer read, and the status page shows them all.
MOST_DETAILED = 20

# Details (annotations) shown as figures, by the name a person reads; times in UTC, raw
# seconds never (the headline says them in words, and the end of a token or a plan).
_FIGURES = (
    ("plan", "Plan"),
    ("credits", "Credits left"),
    ("min_credits", "Minimum credits"),
    ("plan_concurrency", "Plan allows (jobs at once)"),
    ("max_jobs", "maxJobs"),
    ("usable_capacity", "Usable capacity (jobs)"),
    ("min_usable_capacity", "Minimum usable capacity"),
    ("error", "Accounts in error"),
    ("total", "Accounts in all"),
    ("renewed_at", "Last renewal"),
    ("last_outcome", "Last poll"),
)
_TIMES = frozenset({"renewed_at"})
_TOKEN_ALERTS = frozenset({AlertName.EXPIRING_SOON, AlertName.EXPIRED})


# The mark of each state in front of a message or an alert, on every channel that shows one.
MARKS = {"CRITICAL": "🚨", "WARNING": "⚠️", "RESOLVED": "✅"}


@dataclass(frozen=True, slots=True)
class AlertLines:
    """One alert as a message details it. Plain text: the channel escapes it."""

    status: AlertStatus
    severity: Severity
    alertname: str
    account: str  # "" for an alert about a whole source
    source: str
    labels: tuple[tuple[str, str], ...]  # the account's [[accounts]] labels
    headline: str  # what happened, in words, with the time in UTC and in words
    detail: str  # what it means and what to do (the alert's description)
    figures: tuple[tuple[str, str], ...]  # (name, value): plan, credits, job slots...

    @property
    def subject(self) -> str:
        """Who it is about: the account, or the source for an alert about a whole source."""
        return self.account or f"source {self.source}"

    @property
    def where(self) -> str:
        """The source and the labels: "source main · team studio"."""
        return " · ".join([f"source {self.source}", *(f"{k} {v}" for k, v in self.labels)])

    @property
    def state(self) -> str:
        """ "CRITICAL", "WARNING", or "RESOLVED"."""
        return "RESOLVED" if self.status is AlertStatus.RESOLVED else self.severity.value.upper()


@dataclass(frozen=True, slots=True)
class Digest:
    """What one message says: a title, the alerts it details, and how many more there are,
    counted by severity, all of them on the status page."""

    title: str
    shown: tuple[AlertLines, ...]
    rest: tuple[tuple[str, int], ...]  # ("critical", 10), ("warning", 2), ("resolved", 3)
    link: str  # the status page
    loudest: str  # "CRITICAL" when something critical fires, else "WARNING", else "RESOLVED"

    @property
    def more(self) -> int:
        return sum(count for _, count in self.rest)

    def rest_text(self) -> str:
        """ "12 more: 10 critical, 2 warning", or "" when every alert is detailed."""
        if not self.rest:
            return ""
        counts = ", ".join(f"{count} {what}" for what, count in self.rest)
        return f"{self.more} more: {counts}"


def longest_rest_text(total: int) -> str:
    """The longest `Digest.rest_text` can be for a notification of `total` alerts: what a
    channel keeps room for while it decides how many alerts fit."""
    return f"{total} more: {total} critical, {total} warning, {total} resolved"


def digest(
    events: Sequence[AlertEvent],
    now: float,
    external_url: str,
    fits: Callable[[Sequence[AlertLines]], bool] = lambda shown: True,
    most: int = MOST_DETAILED,
) -> Digest:
    """The message of a notification: the most urgent alerts that `fits` lets in (at most
    `most`), in that order, and the rest counted."""
    ordered = sorted(events, key=lambda e: _urgency(e, now))
    shown: list[AlertLines] = []
    for event in ordered[:most]:
        lines = alert_lines(event, now)
        if not fits([*shown, lines]):
            break
        shown.append(lines)
    left = Counter(_kind(e) for e in ordered[len(shown) :])
    rest = tuple((kind, left[kind]) for kind in ("critical", "warning", "resolved") if left[kind])
    title = one_line(_title(events))
    return Digest(title, tuple(shown), rest, f"{external_url}/", _loudest(events))


def alert_lines(event: AlertEvent, now: float) -> AlertLines:
    """One alert in words, every text from upstream or the config on one line (a control
    character, a newline among them, is a space: no name can add a line to a message)."""
    alert = event.alert
    return AlertLines(
        event.status,
        alert.severity,
        alert.name.value,
        one_line(alert.account),
        one_line(alert.source),
        tuple((one_line(k), one_line(v)) for k, v in alert.extra_labels),
        one_line(_capitalized(headline(event, now))),
        one_line(alert.description),
        tuple((k, one_line(v)) for k, v in _figures(alert.name, alert.details)),
    )


def one_line(text: str) -> str:
    """`text` without control characters (Unicode Cc), each made a space."""
    if text.isprintable():
        return text
    return "".join(" " if unicodedata.category(c) == "Cc" else c for c in text)


def headline(event: AlertEvent, now: float) -> str:
    """What happened, in words, as of `now` (when the message is made): "token expires in
    23h 59m, at 2026-12-07 06:00 UTC". A resolution says what happened in its summary."""
    alert = event.alert
    details = alert.details
    if event.status is AlertStatus.RESOLVED:
        return alert.summary
    name = alert.name
    if name in _TOKEN_ALERTS and (expiry := _time(details.get("expires_at"))) is not None:
        return f"token {_when(expiry, now, 'expires', 'expired')}"
    if name is AlertName.PLAN_EXPIRING_SOON:
        plan = details.get("plan") or "unknown"
        ends = _time(details.get("plan_expires_at"))
        if ends is None:
            return f"plan {plan} has lapsed"
        return f"plan {plan} {_when(ends, now, 'ends', 'ended')}"
    if name is AlertName.CREDITS_LOW and details.get("credits"):
        return f"{details['credits']} credits left, below the minimum of {details['min_credits']}"
    if name is AlertName.SOURCE_DOWN:
        last = _time(details.get("last_success"))
        since = f"; last success {format_ttl(now - last)} ago, at {human_utc(last)}" if last else ""
        return alert.summary + since
    return alert.summary


def _when(moment: float, now: float, future: str, past: str) -> str:
    if moment > now:
        return f"{future} in {format_ttl(moment - now)}, at {human_utc(moment)}"
    return f"{past} {format_ttl(now - moment)} ago, at {human_utc(moment)}"


def _figures(name: AlertName, details: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    out = []
    for key, label in _FIGURES:
        value = details.get(key)
        if not value or (key == "max_jobs" and name in _TOKEN_ALERTS):
            continue
        if key in _TIMES:
            moment = _time(value)
            value = human_utc(moment) if moment is not None else value
        out.append((label, value))
    if name in _TOKEN_ALERTS and details.get("max_jobs"):
        out.append(("Job slots at stake", details["max_jobs"]))
    return tuple(out)


def _time(value: str | None) -> float | None:
    """An ISO 8601 time of an annotation as Unix seconds; None when empty or unreadable."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def _urgency(event: AlertEvent, now: float) -> tuple[int, int, float, str, str]:
    """Firing before resolved, critical before warning, then the soonest deadline (a token's
    or a plan's end; an alert without one is as urgent as now), then by account."""
    alert = event.alert
    deadline = _time(alert.details.get("expires_at")) or _time(alert.details.get("plan_expires_at"))
    return (
        0 if event.status is AlertStatus.FIRING else 1,
        -alert.severity.rank,
        now if deadline is None else deadline,
        alert.account,
        alert.name.value,
    )


def _kind(event: AlertEvent) -> str:
    return "resolved" if event.status is AlertStatus.RESOLVED else event.alert.severity.value


def _loudest(events: Sequence[AlertEvent]) -> str:
    kinds = {_kind(e) for e in events}
    return next((k for k in ("critical", "warning") if k in kinds), "resolved").upper()


def _title(events: Sequence[AlertEvent]) -> str:
    """ "CRITICAL: PixverseTokenExpired ana@example.com" for one alert; "PixVerse: 2
    critical, 1 warning firing; 1 resolved" for several."""
    if len(events) == 1:
        (event,) = events
        state = _kind(event).upper()
        subject = event.alert.account or f"source {event.alert.source}"
        return f"{state}: {event.alert.name.value} {subject}"
    kinds = Counter(_kind(e) for e in events)
    firing = ", ".join(f"{kinds[s]} {s}" for s in ("critical", "warning") if kinds[s])
    parts = [f"{firing} firing"] if firing else []
    if kinds["resolved"]:
        parts.append(f"{kinds['resolved']} resolved")
    return "PixVerse: " + "; ".join(parts)


def _capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]
