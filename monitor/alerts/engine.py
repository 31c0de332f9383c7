"""The alert engine: which alerts hold at a moment, and which notifications are due. Pure:
it takes the snapshot, the previous alert book and `now`, and returns values."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from monitor.alerts import token_texts
from monitor.alerts.alert import CLOCK_SCOPE as _CLOCK
from monitor.alerts.alert import DATA_SCOPE as _DATA
from monitor.alerts.alert import HEALTH_SCOPE as _HEALTH
from monitor.alerts.alert import PLAN_ALERTS, SUBSCRIPTION_ALERTS, Alert, AlertName, fingerprint
from monitor.alerts.plan_alerts import next_plan_crossing, plan_conditions, plan_resolution
from monitor.clock import SKEW_LIMIT_SECONDS
from monitor.config import Severity
from monitor.errors import Outcome
from monitor.evaluate import AccountState, AccountStatus
from monitor.snapshot import Criteria, Snapshot, SourceSnapshot
from monitor.timefmt import iso_utc

# How long the alert `notify-test` sends fires before it ends by itself.
TEST_ALERT_SECONDS = 10.0


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class Reason(StrEnum):
    """Why a notification is sent."""

    STARTED = "started"
    SEVERITY_CHANGED = "severity_changed"
    REPEAT = "repeat"
    RESOLVED = "resolved"
    # Only its [[accounts]] labels changed (a reload): not a notification of its own, but a
    # sink that tells alerts apart by their labels (Alertmanager) must end the old ones.
    LABELS_CHANGED = "labels_changed"


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
    """Something to tell people about; `id` is its stable id."""

    id: str
    status: AlertStatus
    reason: Reason
    alert: Alert
    starts_at_unix: float
    # When it ended; while firing None, or when it will end by itself (`notify-test`'s).
    ends_at_unix: float | None
    at_unix: float
    peak_severity: Severity
    # The alert as it was before its labels changed (its severity or its [[accounts]]
    # labels), for the sinks that tell alerts apart by labels. Not kept in the state file:
    # the outbox holds what each sink made of it.
    replaces: Alert | None = None


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """What alerts are judged against: the same Criteria the snapshot exports, and how often
    a firing alert is notified again."""

    criteria: Criteria
    repeat_interval_seconds: float


class Conditions(NamedTuple):
    """What holds now, and which (source, scope) pairs were judged at all: an alert of a pair
    that was not judged (no data yet since a restart) is carried over, not resolved; so is an
    alert of a (source, account) in `kept`, an account missing from the list for less than
    the absence grace. The rest is what a resolution needs to say what happened."""

    active: tuple[Alert, ...]
    judged: frozenset[tuple[str, str]]
    sources: frozenset[str]
    accounts: Mapping[tuple[str, str], AccountStatus]  # by (source, account label)
    snapshots: Mapping[str, SourceSnapshot]
    min_usable_capacity: int
    kept: frozenset[tuple[str, str]] = frozenset()


def conditions(
    snapshot: Snapshot, book: AlertBook, settings: EngineSettings, now: float
) -> Conditions:
    active: list[Alert] = []
    judged: set[tuple[str, str]] = set()
    accounts: dict[tuple[str, str], AccountStatus] = {}
    for source in snapshot.sources:
        down = _source_down(source, settings, snapshot.taken_at_mono)
        if down is not None:
            judged.add((source.name, _HEALTH))
            if down:
                active.append(_source_down_alert(source, now))
        skew = source.clock_skew_seconds
        if skew is not None:
            judged.add((source.name, _CLOCK))
            if abs(skew) > SKEW_LIMIT_SECONDS:
                words = token_texts.clock_skew(source.name, skew, SKEW_LIMIT_SECONDS)
                details = {"skew_seconds": str(round(skew))}
                active.append(
                    Alert(AlertName.CLOCK_SKEW, Severity.WARNING, source.name, "", *words, details)
                )
        beyond = plan_conditions(source, (f.alert for f in book.values()), now)
        active.extend(beyond.active)
        judged.update((source.name, scope) for scope in beyond.judged)
        evaluation = source.evaluation
        if evaluation is None:
            continue
        judged.add((source.name, _DATA))
        for status in evaluation.accounts:
            accounts[(source.name, status.label)] = status
            alerts = _account_alerts(source.name, status, book, now)
            if status.settings.labels:  # [[accounts]] labels ride along
                labels = status.settings.labels
                alerts = [dataclasses.replace(a, extra_labels=labels) for a in alerts]
            active.extend(alerts)
        usable = evaluation.totals.usable_capacity
        minimum = settings.criteria.min_usable_capacity
        if usable < minimum:
            active.append(_capacity_alert(source.name, usable, minimum))
    snapshots = {s.name: s for s in snapshot.sources}
    return Conditions(
        tuple(active),
        frozenset(judged),
        frozenset(snapshots),
        accounts,
        snapshots,
        settings.criteria.min_usable_capacity,
        _kept(book, snapshots, accounts),
    )


def _kept(
    book: AlertBook,
    snapshots: Mapping[str, SourceSnapshot],
    accounts: Mapping[tuple[str, str], AccountStatus],
) -> frozenset[tuple[str, str]]:
    """The (source, account) pairs of firing alerts whose account is not in the evaluation
    but is kept: missing for less than the absence grace."""
    kept = set()
    for firing in book.values():
        alert = firing.alert
        key = (alert.source, alert.account)
        source = snapshots.get(alert.source)
        if not alert.account or key in accounts or source is None or source.evaluation is None:
            continue
        if source.keeps(alert.account):
            kept.add(key)
    return frozenset(kept)


def _source_down(source: SourceSnapshot, settings: EngineSettings, now_mono: float) -> bool | None:
    """True/False once judgeable; None before the first poll of this run has ended and before
    the source could have gone stale, so a restart never resolves what it has not checked.
    Staleness is measured on the monotonic clock."""
    if source.last_outcome is Outcome.UNAUTHORIZED:
        return True
    stale = now_mono - source.stale_reference_mono >= settings.criteria.stale_after_seconds
    if source.last_outcome is None and not stale:
        return None
    return stale


def _account_alerts(source: str, status: AccountStatus, book: AlertBook, now: float) -> list[Alert]:
    account = status.account
    label = status.label
    state = status.state
    expiry = account.expiry_unix
    details = _account_details(status, now)
    alerts = []
    soon = book.get(fingerprint(AlertName.EXPIRING_SOON, source, label))
    # ExpiringSoon holds from the warning threshold until the token is renewed or removed
    # (docs/alerts.md), so through expiry too, and keeps its severity through a spell of unknown
    # expiry. That is also how the shipped Prometheus rules judge it, state by state, so both
    # can feed one Alertmanager without one resolving what the other still fires.
    if state in (AccountState.WARNING, AccountState.CRITICAL, AccountState.EXPIRED) or (
        soon is not None and state is AccountState.UNKNOWN
    ):
        if state is AccountState.WARNING:
            severity = Severity.WARNING
        elif state is AccountState.UNKNOWN and soon is not None:
            severity = soon.alert.severity
        else:
            severity = Severity.CRITICAL
        words = token_texts.expiring_soon(label, source, expiry, now, account.max_jobs)
        alerts.append(Alert(AlertName.EXPIRING_SOON, severity, source, label, *words, details))
    if state is AccountState.EXPIRED and expiry is not None:
        words = token_texts.expired(label, source, expiry, now, account.max_jobs)
        alerts.append(Alert(AlertName.EXPIRED, Severity.CRITICAL, source, label, *words, details))
    if state is AccountState.UNKNOWN:
        words = token_texts.expiry_unknown(label, source)
        alerts.append(
            Alert(AlertName.EXPIRY_UNKNOWN, Severity.WARNING, source, label, *words, details)
        )
    return alerts


def _account_details(status: AccountStatus, now: float) -> dict[str, str]:
    details = {"max_jobs": str(status.account.max_jobs), "expires_at": "", "ttl_seconds": ""}
    expiry = status.account.expiry_unix
    if expiry is not None:
        details["expires_at"] = iso_utc(expiry)
        details["ttl_seconds"] = str(round(expiry - now))
    return details


def _capacity_alert(source: str, usable: int, minimum: int) -> Alert:
    return Alert(
        AlertName.CAPACITY_LOW,
        Severity.WARNING,
        source,
        "",
        *token_texts.capacity_low(source, usable, minimum),
        {"usable_capacity": str(usable), "min_usable_capacity": str(minimum)},
    )


def _source_down_alert(source: SourceSnapshot, now: float) -> Alert:
    outcome = source.last_outcome.value if source.last_outcome else None
    last = iso_utc(source.last_success_unix) if source.last_success_unix else "never"
    return Alert(
        AlertName.SOURCE_DOWN,
        Severity.CRITICAL,
        source.name,
        "",
        *token_texts.source_down(source.name, outcome, source.last_success_unix, now),
        {"last_outcome": outcome or "no poll yet", "last_success": last},
    )


def resolution(alert: Alert, held: Conditions, now: float) -> Alert:
    """The alert as its resolution is sent: saying what happened, with current details."""
    source = held.snapshots.get(alert.source)
    if source is None:
        words = token_texts.source_unwatched(alert.source)
        return dataclasses.replace(alert, summary=words[0], description=words[1])
    if alert.name in PLAN_ALERTS or alert.name in SUBSCRIPTION_ALERTS:
        return plan_resolution(alert, source, held.accounts.get((alert.source, alert.account)), now)
    if alert.name is AlertName.SOURCE_DOWN:
        outcome = source.last_outcome.value if source.last_outcome else "success"
        words = token_texts.source_up(alert.source, outcome, source.last_success_unix or now)
        return dataclasses.replace(alert, summary=words[0], description=words[1])
    if alert.name is AlertName.CLOCK_SKEW:
        words = token_texts.clock_agrees(alert.source, source.clock_skew_seconds or 0.0)
        details = {"skew_seconds": str(round(source.clock_skew_seconds or 0.0))}
        return dataclasses.replace(alert, summary=words[0], description=words[1], details=details)
    if alert.name is AlertName.CAPACITY_LOW:
        usable = source.evaluation.totals.usable_capacity if source.evaluation else 0
        words = token_texts.capacity_restored(alert.source, usable, held.min_usable_capacity)
        details = {**alert.details, "usable_capacity": str(usable)}
        return dataclasses.replace(alert, summary=words[0], description=words[1], details=details)
    status = held.accounts.get((alert.source, alert.account))
    if status is None:
        words = token_texts.removed(alert.account, alert.source)
        return dataclasses.replace(alert, summary=words[0], description=words[1])
    expiry = status.account.expiry_unix
    if expiry is None:
        words = token_texts.expiry_lost(alert.account, alert.source)
    elif alert.name is AlertName.EXPIRY_UNKNOWN:
        words = token_texts.expiry_known(alert.account, alert.source, expiry)
    elif alert.details.get("expires_at") != iso_utc(expiry):
        words = token_texts.renewed(alert.account, alert.source, expiry, now)
    else:
        words = token_texts.no_longer_expiring(alert.account, alert.source, expiry, now)
    return dataclasses.replace(
        alert, summary=words[0], description=words[1], details=_account_details(status, now)
    )


def step(
    book: AlertBook, held: Conditions, now: float, repeat_interval_seconds: float
) -> tuple[dict[str, FiringAlert], list[AlertEvent]]:
    """The next alert book and the notifications due: on start, on a severity change, every
    repeat interval while firing, and once on resolution; and an event when only an alert's
    labels changed, which only the sinks that tell alerts apart by labels act on."""
    new_book: dict[str, FiringAlert] = {}
    events: list[AlertEvent] = []
    for alert in held.active:
        key = alert.fingerprint
        previous = book.get(key)
        if previous is None:
            new_book[key] = FiringAlert(alert, now, now, alert.severity)
            events.append(_event(AlertStatus.FIRING, Reason.STARTED, new_book[key], now))
            continue
        peak = max(previous.peak_severity, alert.severity, key=_rank)
        relabelled = alert.labels != previous.alert.labels
        if alert.severity is not previous.alert.severity:
            reason: Reason | None = Reason.SEVERITY_CHANGED
        elif now - previous.notified_unix >= repeat_interval_seconds:
            reason = Reason.REPEAT
        elif relabelled:
            reason = Reason.LABELS_CHANGED
        else:
            reason = None
        notified = now if reason not in (None, Reason.LABELS_CHANGED) else previous.notified_unix
        new_book[key] = FiringAlert(alert, previous.starts_at_unix, notified, peak)
        if reason is not None:
            event = _event(AlertStatus.FIRING, reason, new_book[key], now)
            if relabelled:
                event = dataclasses.replace(event, replaces=previous.alert)
            events.append(event)
    for key, firing in book.items():
        if key in new_book:
            continue
        alert = firing.alert
        unjudged = alert.source in held.sources and (alert.source, alert.scope) not in held.judged
        if unjudged or (alert.source, alert.account) in held.kept:
            new_book[key] = firing  # not judged this time: keep it as it was
            continue
        ended = dataclasses.replace(firing, alert=resolution(alert, held, now))
        events.append(_event(AlertStatus.RESOLVED, Reason.RESOLVED, ended, now))
    return new_book, events


def _rank(severity: Severity) -> int:
    return severity.rank


def _event(status: AlertStatus, reason: Reason, firing: FiringAlert, now: float) -> AlertEvent:
    key = f"{firing.alert.fingerprint}|{status.value}|{reason.value}|{now!r}"
    return AlertEvent(
        id=hashlib.sha256(key.encode()).hexdigest()[:32],
        status=status,
        reason=reason,
        alert=firing.alert,
        starts_at_unix=firing.starts_at_unix,
        ends_at_unix=now if status is AlertStatus.RESOLVED else None,
        at_unix=now,
        peak_severity=firing.peak_severity,
    )


def next_wake(
    snapshot: Snapshot,
    book: AlertBook,
    settings: EngineSettings,
    threshold_crossing: float | None,
    now: float,
) -> float | None:
    """The next moment the alerts may change without a poll: a threshold crossing (given), a
    plan entering its warning window or ending, a repeat falling due, or a source going stale
    (on the monotonic clock, as `_source_down` judges; at least 1 ms on, never `now` rounded)."""
    crossings = (threshold_crossing, next_plan_crossing(snapshot, now))
    moments = [m for m in crossings if m is not None]
    moments.extend(f.notified_unix + settings.repeat_interval_seconds for f in book.values())
    mono, stale_after = snapshot.taken_at_mono, settings.criteria.stale_after_seconds
    lefts = [stale_after - (mono - s.stale_reference_mono) for s in snapshot.sources]
    moments.extend(now + max(left, 0.001) for left in lefts if left > 0)  # left > 0: not stale
    future = [m for m in moments if m > now]
    return min(future) if future else None


def notify_test_event(
    now: float, severity: Severity = Severity.WARNING, source: str = "notify-test"
) -> AlertEvent:
    """The alert `notify-test` sends: firing, and ending by itself TEST_ALERT_SECONDS later
    (an Alertmanager sink posts it with that `endsAt`, so it can never page for minutes);
    an id of its own each time."""
    alert = Alert(
        AlertName.MONITOR_TEST,
        severity,
        source,
        "",
        "Test notification from pixverse-monitor",
        "Sent by `pixverse-monitor notify-test` to check that this sink receives alerts. "
        "Nothing is wrong.",
    )
    firing = FiringAlert(alert, now, now, severity)
    return dataclasses.replace(
        _event(AlertStatus.FIRING, Reason.STARTED, firing, now),
        ends_at_unix=now + TEST_ALERT_SECONDS,
    )


def firing_counts(book: AlertBook) -> dict[Severity, int]:
    counts = dict.fromkeys(Severity, 0)
    for firing in book.values():
        counts[firing.alert.severity] += 1
    return counts
