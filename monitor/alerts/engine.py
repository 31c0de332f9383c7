"""The alert engine: which alerts hold at a moment, and which notifications are due. Pure:
it takes the snapshot, the previous alert book and `now`, and returns values."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import NamedTuple

from monitor.alerts.alert import DATA_SCOPE as _DATA
from monitor.alerts.alert import HEALTH_SCOPE as _HEALTH
from monitor.alerts.alert import Alert, AlertName, fingerprint
from monitor.alerts.plans import next_plan_crossing, plan_conditions
from monitor.config import Severity
from monitor.errors import Outcome
from monitor.evaluate import AccountState, AccountStatus
from monitor.snapshot import Limits, Snapshot, SourceSnapshot
from monitor.timefmt import format_ttl, iso_utc


class Status(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class Reason(StrEnum):
    """Why a notification is sent."""

    STARTED = "started"
    SEVERITY_CHANGED = "severity_changed"
    REPEAT = "repeat"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class FiringAlert:
    """An alert in the book: firing since `starts_at_unix`, last notified at `notified_unix`."""

    alert: Alert
    starts_at_unix: float
    notified_unix: float
    peak_severity: Severity


AlertBook = Mapping[str, FiringAlert]  # by fingerprint


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """Something to tell people about; `id` is the stable notification id."""

    id: str
    status: Status
    reason: Reason
    alert: Alert
    starts_at_unix: float
    ends_at_unix: float | None
    at_unix: float
    peak_severity: Severity


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    """What alerts are judged against: the same Limits the snapshot exports, and how often
    a firing alert is notified again."""

    limits: Limits
    repeat_interval_seconds: float


class Conditions(NamedTuple):
    """What holds now, and which (source, scope) pairs were judged at all: an alert of a pair
    that was not judged (no data yet since a restart) is carried over, not resolved."""

    active: tuple[Alert, ...]
    judged: frozenset[tuple[str, str]]
    sources: frozenset[str]


def conditions(snapshot: Snapshot, book: AlertBook, policy: AlertPolicy, now: float) -> Conditions:
    active: list[Alert] = []
    judged: set[tuple[str, str]] = set()
    for source in snapshot.sources:
        down = _source_down(source, policy, now)
        if down is not None:
            judged.add((source.name, _HEALTH))
            if down:
                active.append(_source_down_alert(source, now))
        beyond = plan_conditions(source, (f.alert for f in book.values()), now)
        active.extend(beyond.active)
        judged.update((source.name, scope) for scope in beyond.judged)
        evaluation = source.evaluation
        if evaluation is None:
            continue
        judged.add((source.name, _DATA))
        for status in evaluation.accounts:
            alerts = _account_alerts(source.name, status, book, now)
            if status.settings.labels:  # [[accounts]] labels ride along
                alerts = [replace(a, extra_labels=status.settings.labels) for a in alerts]
            active.extend(alerts)
        usable = evaluation.totals.usable_capacity
        minimum = policy.limits.min_usable_capacity
        if usable < minimum:
            active.append(_capacity_alert(source.name, usable, minimum))
    return Conditions(tuple(active), frozenset(judged), frozenset(s.name for s in snapshot.sources))


def _source_down(source: SourceSnapshot, policy: AlertPolicy, now: float) -> bool | None:
    """True/False once judgeable; None before the first poll of this run has ended and before
    the source could have gone stale, so a restart never resolves what it has not checked."""
    if source.last_outcome is Outcome.UNAUTHORIZED:
        return True
    stale = now - source.stale_reference_unix >= policy.limits.stale_after_seconds
    if source.last_outcome is None and not stale:
        return None
    return stale


def _account_alerts(source: str, status: AccountStatus, book: AlertBook, now: float) -> list[Alert]:
    account = status.account
    label = status.label
    state = status.state
    details = {"max_jobs": str(account.max_jobs), "expires_at": "", "ttl_seconds": ""}
    ttl = None
    if account.expiry_unix is not None:
        ttl = account.expiry_unix - now
        details["expires_at"] = iso_utc(account.expiry_unix)
        details["ttl_seconds"] = str(round(ttl))
    alerts = []
    soon = book.get(fingerprint(AlertName.EXPIRING_SOON, source, label))
    # ExpiringSoon resolves only on renewal or removal (the contract): once firing it stays,
    # at critical, through expiry, and keeps its severity through a spell of unknown.
    if state in (AccountState.WARNING, AccountState.CRITICAL) or (
        soon is not None and state in (AccountState.EXPIRED, AccountState.UNKNOWN)
    ):
        if state is AccountState.WARNING:
            severity = Severity.WARNING
        elif state is AccountState.UNKNOWN and soon is not None:
            severity = soon.alert.severity
        else:
            severity = Severity.CRITICAL
        when = f"in {format_ttl(ttl)}" if ttl is not None and ttl > 0 else "now"
        alerts.append(
            Alert(
                AlertName.EXPIRING_SOON,
                severity,
                source,
                label,
                f"PixVerse token of {label} expires {when}",
                f"The PixVerse JWT of account {label} (source {source}) expires at "
                f"{details['expires_at'] or 'an unknown time'}. Renew it on useapi.net before "
                f"it lapses, or its {account.max_jobs} job slot(s) disappear.",
                details,
            )
        )
    if state is AccountState.EXPIRED:
        ago = format_ttl(-ttl) if ttl is not None else "?"
        alerts.append(
            Alert(
                AlertName.EXPIRED,
                Severity.CRITICAL,
                source,
                label,
                f"PixVerse token of {label} has expired",
                f"The PixVerse JWT of account {label} (source {source}) expired at "
                f"{details['expires_at']} ({ago} ago). Its {account.max_jobs} job slot(s) are "
                "unusable until the token is renewed on useapi.net.",
                details,
            )
        )
    if state is AccountState.UNKNOWN:
        alerts.append(
            Alert(
                AlertName.EXPIRY_UNKNOWN,
                Severity.WARNING,
                source,
                label,
                f"Expiry of the PixVerse token of {label} is unknown",
                f"useapi.net gave no usable ExpireTime, ExpireTimeUTC or JWT exp for account "
                f"{label} (source {source}), so its expiry cannot be watched.",
                details,
            )
        )
    return alerts


def _capacity_alert(source: str, usable: int, minimum: int) -> Alert:
    return Alert(
        AlertName.CAPACITY_LOW,
        Severity.WARNING,
        source,
        "",
        f"Usable PixVerse capacity of {source} is {usable} job(s), below {minimum}",
        f"Accounts of source {source} with a valid token offer {usable} job slot(s); "
        f"thresholds.min_usable_capacity is {minimum}. Renew expired tokens or add accounts.",
        {"usable_capacity": str(usable), "min_usable_capacity": str(minimum)},
    )


def _source_down_alert(source: SourceSnapshot, now: float) -> Alert:
    outcome = source.last_outcome.value if source.last_outcome else "no poll yet"
    last = iso_utc(source.last_success_unix) if source.last_success_unix else "never"
    return Alert(
        AlertName.SOURCE_DOWN,
        Severity.CRITICAL,
        source.name,
        "",
        f"useapi.net cannot be read for source {source.name} ({outcome})",
        f"The last poll of source {source.name} ended with {outcome}; the last successful poll "
        f"was {last}. Account data is stale and expiry alerts rely on it.",
        {"last_outcome": outcome, "last_success": last},
    )


def step(
    book: AlertBook, held: Conditions, now: float, repeat_interval_seconds: float
) -> tuple[dict[str, FiringAlert], list[AlertEvent]]:
    """The next alert book and the notifications due: on start, on a severity change, every
    repeat interval while firing, and once on resolution."""
    new_book: dict[str, FiringAlert] = {}
    events: list[AlertEvent] = []
    for alert in held.active:
        key = alert.fingerprint
        previous = book.get(key)
        if previous is None:
            new_book[key] = FiringAlert(alert, now, now, alert.severity)
            events.append(_event(Status.FIRING, Reason.STARTED, new_book[key], now))
            continue
        peak = max(previous.peak_severity, alert.severity, key=_rank)
        if alert.severity is not previous.alert.severity:
            reason: Reason | None = Reason.SEVERITY_CHANGED
        elif now - previous.notified_unix >= repeat_interval_seconds:
            reason = Reason.REPEAT
        else:
            reason = None
        notified = now if reason else previous.notified_unix
        new_book[key] = FiringAlert(alert, previous.starts_at_unix, notified, peak)
        if reason is not None:
            events.append(_event(Status.FIRING, reason, new_book[key], now))
    for key, firing in book.items():
        if key in new_book:
            continue
        alert = firing.alert
        if alert.source in held.sources and (alert.source, alert.scope) not in held.judged:
            new_book[key] = firing  # not judged this time: keep it as it was
            continue
        events.append(_event(Status.RESOLVED, Reason.RESOLVED, firing, now))
    return new_book, events


def _rank(severity: Severity) -> int:
    return severity.rank


def _event(status: Status, reason: Reason, firing: FiringAlert, now: float) -> AlertEvent:
    key = f"{firing.alert.fingerprint}|{status.value}|{reason.value}|{now!r}"
    return AlertEvent(
        id=hashlib.sha256(key.encode()).hexdigest()[:32],
        status=status,
        reason=reason,
        alert=firing.alert,
        starts_at_unix=firing.starts_at_unix,
        ends_at_unix=now if status is Status.RESOLVED else None,
        at_unix=now,
        peak_severity=firing.peak_severity,
    )


def next_wake(
    snapshot: Snapshot,
    book: AlertBook,
    policy: AlertPolicy,
    threshold_crossing: float | None,
    now: float,
) -> float | None:
    """The next moment the alerts may change without a poll: a threshold crossing (given), a
    plan entering its warning window or ending, a repeat falling due, or a source going
    stale."""
    moments = [m for m in (threshold_crossing, next_plan_crossing(snapshot, now)) if m is not None]
    moments.extend(f.notified_unix + policy.repeat_interval_seconds for f in book.values())
    stale_after = policy.limits.stale_after_seconds
    moments.extend(s.stale_reference_unix + stale_after for s in snapshot.sources)
    future = [m for m in moments if m > now]
    return min(future) if future else None


def notify_test_event(now: float, source: str = "notify-test") -> AlertEvent:
    """The notification `notify-test` sends: critical, so every sink's min_severity lets it
    through; an id of its own each time."""
    alert = Alert(
        AlertName.MONITOR_TEST,
        Severity.CRITICAL,
        source,
        "",
        "Test notification from pixverse-monitor",
        "Sent by `pixverse-monitor notify-test` to check that this sink receives alerts. "
        "Nothing is wrong.",
    )
    firing = FiringAlert(alert, now, now, Severity.CRITICAL)
    return _event(Status.FIRING, Reason.STARTED, firing, now)


def firing_counts(book: AlertBook) -> dict[Severity, int]:
    counts = dict.fromkeys(Severity, 0)
    for firing in book.values():
        counts[firing.alert.severity] += 1
    return counts
