"""The immutable picture of every source that /metrics, /readyz and alerts read, and what its
readers derive from it once per snapshot."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from monitor.config import Config
from monitor.errors import Outcome
from monitor.evaluate import Evaluation
from monitor.upstream import Endpoint, Plan, Subscription


@dataclass(frozen=True, slots=True)
class PlanSnapshot:
    """The plan side of a source's snapshot, beyond token expiry (docs/plans.md): its
    useapi.net subscription, each account's plan (last good data, kept across failed
    requests), token refreshes seen, and every upstream request counted by endpoint and
    outcome. Accounts are by email."""

    subscription: Subscription | None = None  # None until read in this run
    plans: Mapping[str, Plan] = field(default_factory=dict)
    unknown_plans: frozenset[str] = frozenset()  # emails /features does not know (400)
    account_endpoint: bool = True  # False: /v2/account is off, nothing to wait for
    features_endpoint: bool = True
    requests_total: Mapping[tuple[Endpoint, Outcome], int] = field(default_factory=dict)
    last_success_unix: Mapping[Endpoint, float] = field(default_factory=dict)
    refreshes: Mapping[str, int] = field(default_factory=dict)

    @property
    def subscription_judged(self) -> bool:
        """True once alerts about the subscription can be judged in this run."""
        return self.subscription is not None or not self.account_endpoint

    def plan_judged(self, email: str) -> bool:
        """True once alerts about this account's plan can be judged in this run."""
        return not self.features_endpoint or email in self.plans or email in self.unknown_plans


@dataclass(frozen=True, slots=True)
class SourceSnapshot:
    """One source: its last good data (kept across failed polls) and how polling goes."""

    name: str
    evaluation: Evaluation | None  # None until the first successful poll
    up: bool  # the last poll read the accounts list
    last_outcome: Outcome | None  # None before the first poll ends
    last_success_unix: float | None
    poll_duration_seconds: float | None
    polls_total: Mapping[Outcome, int] = field(default_factory=dict)
    # When this run started watching the source, or a reload changed its schedule.
    monitored_since_unix: float = 0.0
    plans: PlanSnapshot = field(default_factory=PlanSnapshot)
    # The last success and the watch start on the monotonic clock, which staleness is
    # measured on: a step of the wall clock neither makes a source stale nor hides that it is.
    last_success_mono: float | None = None
    monitored_since_mono: float = 0.0
    # `account` labels of accounts missing from the last accounts list(s) for less than the
    # absence grace: their alerts are kept as they were, not resolved as removed.
    missing: frozenset[str] = frozenset()
    # How far the local clock is ahead of upstream's, at the last poll that read its `Date`.
    clock_skew_seconds: float | None = None

    @property
    def stale_reference_unix(self) -> float:
        """What staleness counts from: the later of the last success and when this run began
        watching (its start, or the reload that added the source or changed the schedule).
        Wall time, as exported for the rules; the daemon judges by `stale_reference_mono`."""
        return max(self.last_success_unix or 0.0, self.monitored_since_unix)

    @property
    def stale_reference_mono(self) -> float:
        """`stale_reference_unix` on the monotonic clock."""
        if self.last_success_mono is None:
            return self.monitored_since_mono
        return max(self.last_success_mono, self.monitored_since_mono)

    def fresh(self, now_mono: float, stale_after_seconds: float) -> bool:
        """True when the last successful poll is within `stale_after_seconds` (monotonic)."""
        return (
            self.last_success_mono is not None
            and now_mono - self.last_success_mono <= stale_after_seconds
        )

    def keeps(self, account: str) -> bool:
        """True when the alerts of an account that is not in the evaluation are kept as they
        were: it is missing from the list for less than the absence grace."""
        return account in self.missing


@dataclass(frozen=True, slots=True)
class Criteria:
    """What every source is judged against: thresholds.min_usable_capacity and
    poll.stale_after, and how often /v2/account and each account's /features are read;
    exported per source so that Prometheus rules judge as the daemon does."""

    min_usable_capacity: int
    stale_after_seconds: float
    account_interval_seconds: float = 3600.0
    features_interval_seconds: float = 3600.0

    @classmethod
    def of(cls, config: Config) -> Criteria:
        return cls(
            min_usable_capacity=config.thresholds.min_usable_capacity,
            stale_after_seconds=config.poll.stale_after.total_seconds(),
            account_interval_seconds=config.poll.account_interval.total_seconds(),
            features_interval_seconds=config.poll.features_interval.total_seconds(),
        )


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every source at one moment; replaced as a whole, never changed in place."""

    sources: tuple[SourceSnapshot, ...]
    taken_at_unix: float
    criteria: Criteria | None = None  # None: not exported (a snapshot made outside the daemon)
    taken_at_mono: float = 0.0  # the same moment on the monotonic clock


_T = TypeVar("_T")


class PerSnapshot(Generic[_T]):
    """What `make` derives from a snapshot (the text of /metrics that does not depend on the
    scrape time, the status page's account table), made once for the last snapshot asked
    about and handed to every reader until a poll or a crossing makes a new one. Snapshots are
    told apart by identity: they are never changed in place."""

    __slots__ = ("_last", "_make")

    def __init__(self, make: Callable[[Snapshot], _T]) -> None:
        self._make = make
        self._last: tuple[Snapshot, _T] | None = None

    def of(self, snapshot: Snapshot) -> _T:
        last = self._last
        if last is None or last[0] is not snapshot:
            last = self._last = (snapshot, self._make(snapshot))
        return last[1]
