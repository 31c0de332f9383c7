"""The alert engine's world, without a daemon: sources whose accounts, plans, subscription,
rules and poll history the test sets, judged step by step on a FakeClock."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from monitor.alerts.engine import AlertBook, AlertEvent, EngineSettings, conditions, step
from monitor.config.model import AccountLabel, AccountRule, Severity, Thresholds
from monitor.config.policy import Policy
from monitor.errors import Outcome
from monitor.evaluate import evaluate
from monitor.snapshot import Criteria, PlanSnapshot, Snapshot, SourceSnapshot
from monitor.testing.fakeclock import FakeClock
from monitor.upstream.features import Plan
from monitor.upstream.parse import Account

H = 3600.0
START = 1_800_000_000.0
# 72h warning, 24h critical, no capacity minimum; a plan warns 7 days ahead, no credits minimum.
THRESHOLDS = Thresholds(timedelta(hours=72), timedelta(hours=24), 0)
SETTINGS = EngineSettings(Criteria(0, 900), 4 * H)


class World:
    """Sources (`main` unless told) with the accounts and plans the test sets, their poll
    history (`outcome`, `last_success`, `has_data`, `missing`, `skew`), the `[[accounts]]`
    `rules` and `thresholds` they are judged by, and the engine's book."""

    def __init__(
        self,
        accounts: list[Account],
        rules: list[AccountRule] | None = None,
        *,
        plans: PlanSnapshot | None = None,
        settings: EngineSettings = SETTINGS,
    ) -> None:
        self.clock = FakeClock(START)
        self.accounts = accounts
        self.rules = rules or []
        self.thresholds = THRESHOLDS
        self.plans = plans or PlanSnapshot()
        self.settings = settings
        self.book: AlertBook = {}
        self.outcome: Outcome | None = Outcome.SUCCESS
        self.last_success: float | None = START
        self.has_data = True
        self.sources = ["main"]
        self.missing: frozenset[str] = frozenset()  # missing from the list, within the grace
        self.skew: float | None = None  # the clock skew the last check measured

    def snapshot(self) -> Snapshot:
        now = self.clock.time()
        policy = Policy(self.rules, self.thresholds)
        sources = []
        for name in self.sources:
            evaluation = None
            if self.has_data:
                evaluation = evaluate(
                    self.accounts, None, self.thresholds, AccountLabel.EMAIL, now, policy=policy
                )
            sources.append(
                SourceSnapshot(
                    name,
                    evaluation,
                    self.outcome is Outcome.SUCCESS,
                    self.outcome,
                    self.last_success,
                    0.1,
                    {},
                    START,
                    self.plans,
                    last_success_mono=(
                        None if self.last_success is None else self.mono(self.last_success)
                    ),
                    monitored_since_mono=self.mono(START),
                    missing=self.missing,
                    clock_skew_seconds=self.skew,
                )
            )
        return Snapshot(tuple(sources), now, taken_at_mono=self.clock.monotonic())

    def mono(self, unix: float) -> float:
        """A wall time of this world on the monotonic clock (the wall clock never steps here)."""
        return unix - self.clock.time() + self.clock.monotonic()

    def with_plans(self, **plans: Plan | None) -> None:
        """Plans by account (the local part before @x.io); None: /features said 400."""
        known = {f"{k}@x.io": p for k, p in plans.items() if p is not None}
        unknown = frozenset(f"{k}@x.io" for k, p in plans.items() if p is None)
        self.plans = replace(self.plans, plans=known, unknown_plans=unknown)

    def step(self) -> list[AlertEvent]:
        """One evaluation; a source whose last outcome is success has just been polled."""
        now = self.clock.time()
        if self.outcome is Outcome.SUCCESS:
            self.last_success = now
        held = conditions(self.snapshot(), self.book, self.settings, now)
        self.book, events = step(self.book, held, now, self.settings.repeat_interval_seconds)
        return events

    def firing(self) -> dict[tuple[str, str], Severity]:
        return {(f.alert.name.value, f.alert.account): f.alert.severity for f in self.book.values()}
