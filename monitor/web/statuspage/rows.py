"""The rows of the status page beyond the accounts: each source's health, subscription and
totals, the firing alerts and the recent deliveries. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from monitor.alerts import DeliveryRecord, FiringAlert, Subject
from monitor.evaluate import STATES, AccountState
from monitor.snapshot import Criteria, SourceSnapshot
from monitor.timefmt import format_ttl, readable_utc
from monitor.upstream import PIXVERSE_SERVICE, Subscription, subscription_state


class ServiceRow(NamedTuple):
    name: str
    total: str
    active: str
    error: str


@dataclass(frozen=True, slots=True)
class SourceView:
    name: str
    polled: bool  # False until the first poll ended
    up: bool  # the last poll read the accounts list
    outcome: str | None  # of the last poll
    last_success_unix: float | None
    age_seconds: float | None  # since the last success
    stale: bool  # no success within stale_after (or none at all, once polled)
    stale_note: str  # "no successful poll for over 15m", when stale
    health: str  # "up", "down (timeout)", "waiting for the first poll"
    last_success: str  # "2m 5s ago (2026-12-07 06:00 UTC)", "never"
    subscription: Subscription | None
    subscription_text: str  # "active, renewed 2026-11-03", "" when not read
    services: tuple[ServiceRow, ...]
    by_state: Mapping[AccountState, int]
    usable_capacity: int | None  # None before the first success
    free_capacity: int | None  # None without scheduler data
    min_usable_capacity: int
    capacity_low: bool


class AlertRow(NamedTuple):
    alertname: str
    severity: str
    source: str
    account: str
    since_unix: float
    since: str  # "2026-12-07 06:00 UTC"
    duration: str  # "2h 5m"
    summary: str
    labels: Mapping[str, str]  # every label, policy labels included
    policy_labels: str  # "team=studio"


class DeliveryRow(NamedTuple):
    record: DeliveryRecord
    at: str
    ago: str
    what: str
    outcome: str
    why: str  # reason code and text; "" when delivered


def label_pairs(labels: Sequence[tuple[str, str]]) -> str:
    return ", ".join(f"{name}={value}" for name, value in labels)


# A snapshot made outside the daemon carries no criteria: nothing is stale, no minimum.
_NO_CRITERIA = Criteria(min_usable_capacity=0, stale_after_seconds=float("inf"))


def source_view(
    source: SourceSnapshot, criteria: Criteria | None, now: float, now_mono: float
) -> SourceView:
    """`criteria`: what the daemon judged the snapshot by (poll.stale_after and
    thresholds.min_usable_capacity). Staleness is judged on the monotonic clock (`now_mono`),
    as /readyz and SourceDown judge it; the age shown is wall time."""
    criteria = criteria or _NO_CRITERIA
    stale_after = criteria.stale_after_seconds
    minimum = criteria.min_usable_capacity
    polled = source.last_outcome is not None
    success = source.last_success_unix
    age = now - success if success is not None else None
    stale = polled and not source.fresh(now_mono, stale_after)
    if not polled:
        health = "waiting for the first poll"
    elif source.up:
        health = "up"
    else:
        outcome = source.last_outcome.value if source.last_outcome is not None else "?"
        health = f"down ({outcome})"
    evaluation = source.evaluation
    totals = evaluation.totals if evaluation is not None else None
    subscription = source.plans.subscription
    return SourceView(
        name=source.name,
        polled=polled,
        up=source.up,
        outcome=source.last_outcome.value if source.last_outcome is not None else None,
        last_success_unix=success,
        age_seconds=age,
        stale=stale,
        stale_note=f"no successful poll for over {format_ttl(stale_after)}" if stale else "",
        health=health,
        last_success=(
            f"{format_ttl(age)} ago ({readable_utc(success)})"
            if success is not None and age is not None
            else "never"
        ),
        subscription=subscription,
        subscription_text=subscription_state(subscription) if subscription is not None else "",
        services=_services(subscription),
        by_state=totals.accounts_by_state if totals is not None else dict.fromkeys(STATES, 0),
        usable_capacity=totals.usable_capacity if totals is not None else None,
        free_capacity=totals.free_capacity if totals is not None else None,
        min_usable_capacity=minimum,
        capacity_low=totals is not None and totals.usable_capacity < minimum,
    )


_COUNTS = ("total", "active", "error")


def _services(subscription: Subscription | None) -> tuple[ServiceRow, ...]:
    """useapi.net's counts, PixVerse's first."""
    if subscription is None:
        return ()
    names = sorted(subscription.services, key=lambda n: (n != PIXVERSE_SERVICE, n))

    def shown(n: int | None) -> str:
        return "-" if n is None else str(n)

    return tuple(
        ServiceRow(name, *(shown(getattr(subscription.services[name], f)) for f in _COUNTS))
        for name in names
    )


def alert_row(firing: FiringAlert, now: float) -> AlertRow:
    alert = firing.alert
    return AlertRow(
        alertname=alert.name.value,
        severity=alert.severity.value,
        source=alert.source,
        account=alert.account,
        since_unix=firing.starts_at_unix,
        since=readable_utc(firing.starts_at_unix),
        duration=format_ttl(max(0.0, now - firing.starts_at_unix)),
        summary=alert.summary,
        labels=alert.labels,
        policy_labels=label_pairs(alert.extra_labels),
    )


def delivery_row(record: DeliveryRecord, now: float) -> DeliveryRow:
    why = ""
    if record.reason is not None:
        why = record.reason.value + (f": {record.why}" if record.why else "")
    return DeliveryRow(
        record=record,
        at=readable_utc(record.at_unix, seconds=True),
        ago=format_ttl(max(0.0, now - record.at_unix)),
        what=subject_text(record.subject),
        outcome=record.outcome.value,
        why=why,
    )


def subject_text(subject: Subject) -> str:
    """What a delivery was about, in words: "PixverseTokenExpired (critical) a@x.io:
    firing", "re-send of 3 firing alerts"."""
    if subject.alerts != 1:
        if subject.status == "resend":
            return f"re-send of {subject.alerts} firing alerts"
        return f"{subject.alerts} alerts ({subject.severity}): {subject.status}"
    about = subject.account or f"source {subject.source}"
    status = "re-sent as firing" if subject.status == "resend" else subject.status
    return f"{subject.alertname} ({subject.severity}) {about}: {status}"
