"""What PlanWatch keeps of one source between requests: the last good subscription and plans,
when each account's next /features is due (on the monotonic clock), the token refreshes the
polls saw, and every request counted by endpoint and outcome; what one read is (at most
MAX_IN_FLIGHT of a source's at once, its answer recorded in the plan view); and the request
budget these schedules add up to, which an account that comes and goes never gets around."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from enum import Enum

from monitor.clock import Clock
from monitor.config import Policy, PollConfig, SourceConfig
from monitor.errors import Outcome
from monitor.snapshot import PlanSnapshot
from monitor.upstream import (
    Account,
    Endpoint,
    Plan,
    PlanResult,
    Sleep,
    Subscription,
    SubscriptionResult,
    UpstreamClient,
    fetch_plan,
    fetch_subscription,
)

MAX_IN_FLIGHT = 2  # per source, /v2/account and /features together
# An expiry that moves later by more than this is a token refresh, not upstream jitter.
REFRESH_TOLERANCE_SECONDS = 60.0
# Forgotten accounts whose next /features is still ahead, kept so that coming back buys no
# early read. Entries go once due; this caps the note if a whole list comes and goes: ten
# times the 10,000 accounts a source is sized for.
FORGOTTEN_LIMIT = 100_000


@contextlib.asynccontextmanager
async def request_slot(slots: asyncio.Semaphore, sleep: Sleep) -> AsyncIterator[Sleep]:
    """Hold one of a source's request slots for a request. What it yields waits (a
    `Retry-After`) with the slot let go, so that a server asking one request to wait never
    holds up the others: the slot is taken again for the next attempt."""
    await slots.acquire()
    held = True

    async def pause(seconds: float) -> None:
        nonlocal held
        slots.release()
        held = False
        await sleep(seconds)
        await slots.acquire()  # cancelled while waiting for it, it was never taken
        held = True

    try:
        yield pause
    finally:
        if held:
            slots.release()


class PlanNews(Enum):
    """What a /features answer did to the account's plan in the view."""

    READ = "read"  # a plan: it replaces the last one
    UNKNOWN_ONCE = "unknown_once"  # upstream does not know the account, said once: plan kept
    NEWLY_UNKNOWN = "newly_unknown"  # ... said again, or of an account without a plan
    STILL_UNKNOWN = "still_unknown"
    FAILED = "failed"  # no answer to go by: the last plan is kept


def requests_per_hour(poll: PollConfig, source: SourceConfig, accounts: int) -> float:
    """Upstream requests one source makes per hour, retries aside: the polls (and their
    /scheduler/available), /v2/account, and /features for each account not ignored."""
    hour = 3600.0
    total = hour / poll.interval.total_seconds() * (1 + source.capacity_endpoint)
    if source.account_endpoint:
        total += hour / poll.account_interval.total_seconds()
    if source.features_endpoint:
        total += accounts * hour / poll.features_interval.total_seconds()
    return total


@dataclass
class PlanSchedule:
    """What the plan watch keeps of one source: when each read is due and what the reads
    found. Mutable, owned by the event loop. Accounts are by email."""

    config: SourceConfig
    client: UpstreamClient
    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(MAX_IN_FLIGHT))
    turn: asyncio.Task[None] | None = None  # the turn making its requests, while one runs
    woken: bool = False  # the polls brought news during the turn: it goes round again
    failures: int = 0  # turns in a row ended by an unexpected error
    # Every account known: on the last list, or missing from it for less than the absence
    # grace (`absent`: not asked about until it is back).
    emails: list[str] = field(default_factory=list)
    absent: set[str] = field(default_factory=set)
    kept: list[str] = field(default_factory=list)  # those the policy does not ignore
    kept_set: frozenset[str] = frozenset()
    labels: dict[str, str] = field(default_factory=dict)  # email -> account label, for logs
    listed: bool = False  # an accounts list was read in this run
    subscription: Subscription | None = None
    # Schedules, on the monotonic clock: a step of the wall clock moves none of them.
    subscription_due: float = float("-inf")
    plans: dict[str, Plan] = field(default_factory=dict)
    unknown: set[str] = field(default_factory=set)  # /features does not know them (400)
    doubted: set[str] = field(default_factory=set)  # ... said so once; their plan is kept
    due: dict[str, float] = field(default_factory=dict)  # email -> next /features
    # email -> when an account in its first round is read again (its place in the spread).
    next_round: dict[str, float] = field(default_factory=dict)
    reading: set[str] = field(default_factory=set)  # a /features request is on its way
    # email -> when a forgotten account's next /features was due (see FORGOTTEN_LIMIT).
    forgotten: dict[str, float] = field(default_factory=dict)
    requests: dict[tuple[Endpoint, Outcome], int] = field(default_factory=dict)
    last_success: dict[Endpoint, float] = field(default_factory=dict)
    expiries: dict[str, tuple[float, int]] = field(default_factory=dict)  # last expiry, refreshes
    _snapshot: PlanSnapshot | None = None  # cached until something changes

    def count(self, endpoint: Endpoint, outcome: Outcome) -> None:
        key = (endpoint, outcome)
        self.requests[key] = self.requests.get(key, 0) + 1
        self._snapshot = None

    def changed(self) -> None:
        self._snapshot = None

    def snapshot(self) -> PlanSnapshot:
        """What the snapshot shows of this source beyond token expiry."""
        if self._snapshot is None:
            self._snapshot = PlanSnapshot(
                subscription=self.subscription,
                plans=dict(self.plans),
                unknown_plans=frozenset(self.unknown),
                account_endpoint=self.config.account_endpoint,
                features_endpoint=self.config.features_endpoint,
                requests_total=dict(self.requests),
                last_success_unix=dict(self.last_success),
                refreshes={email: n for email, (_, n) in self.expiries.items()},
            )
        return self._snapshot

    def refilter(self, policy: Policy) -> set[str]:
        """Apply the policy to the accounts known; forget what is gone or ignored, noting
        when each forgotten account's next /features was due."""
        self.kept = [e for e in self.emails if not policy.settings(e).ignore]
        kept = self.kept_set = frozenset(self.kept)
        for email, when in self.due.items():
            if email not in kept and when != float("inf"):  # inf: its read decides
                self.forgotten[email] = when
        while len(self.forgotten) > FORGOTTEN_LIMIT:
            del self.forgotten[next(iter(self.forgotten))]  # the oldest note goes first
        for table in (self.plans, self.due, self.next_round, self.expiries, self.labels):
            for email in [e for e in table if e not in kept]:
                del table[email]
        self.unknown &= kept
        self.doubted &= kept
        self.absent &= kept
        self._snapshot = None
        return set(kept)

    def schedule_new(self, poll: PollConfig, now: float, *, at_once: bool = False) -> None:
        """Plan the first reads of accounts not seen before. They are spread over a poll
        interval (so that plans are known soon after a start; `at_once`: all due `now`, for a
        one-shot read) and their later reads evenly over features_interval, each account once
        per interval. An account forgotten and back is read when its next read was due, not
        before. `now` is monotonic."""
        if not self.config.features_endpoint:
            return
        for email in [e for e, when in self.forgotten.items() if when <= now]:
            del self.forgotten[email]  # due anyway: the note says nothing more
        new = [e for e in self.kept if e not in self.due and e not in self.reading]
        if not new:
            return
        every = poll.features_interval.total_seconds()
        first = min(poll.interval.total_seconds(), every)
        for k, email in enumerate(new):
            noted = self.forgotten.pop(email, None)
            if noted is not None:
                self.due[email] = noted
                continue
            self.due[email] = now if at_once else now + k * first / len(new)
            self.next_round[email] = now + every + k * every / len(new)

    def note_refreshes(self, accounts: Sequence[Account]) -> None:
        """Count, per account, each poll that sees its expiry later than the last one known.
        An account absent from `accounts` keeps its count while it is in `absent` (missing
        for less than the grace); one forgotten starts again at 0 when it is back."""
        seen: dict[str, tuple[float, int]] = {
            email: self.expiries[email] for email in self.absent if email in self.expiries
        }
        for account in accounts:
            email, expiry = account.email, account.expiry_unix
            before = self.expiries.get(email)
            count = before[1] if before else 0
            if expiry is None:
                if before is not None:
                    seen[email] = before  # unknown for now: compare with the last known
                continue
            if before is not None and expiry > before[0] + REFRESH_TOLERANCE_SECONDS:
                count += 1
            seen[email] = (expiry, count)
        self.expiries = seen
        self._snapshot = None

    # -- reads -------------------------------------------------------------------------------

    def next_due(self) -> float | None:
        """When (on the monotonic clock) a read is next due; None when nothing is scheduled."""
        moments = []
        if self.config.account_endpoint:
            moments.append(self.subscription_due)
        if self.config.features_endpoint:
            absent = self.absent
            moments.extend(when for email, when in self.due.items() if email not in absent)
        return min(moments) if moments else None

    def take_due(self, now: float) -> tuple[bool, list[str]]:
        """Mark what is due at `now` (monotonic) as on its way: whether the subscription is,
        and the accounts whose plan is. An absent account keeps its turn until it is back."""
        subscription = self.config.account_endpoint and self.subscription_due <= now
        if subscription:
            self.subscription_due = float("inf")  # in progress
        emails: list[str] = []
        if self.config.features_endpoint:
            absent = self.absent
            for email in [e for e, when in self.due.items() if when <= now]:
                if email in absent:
                    continue
                self.due[email] = float("inf")  # in progress
                self.reading.add(email)
                emails.append(email)
        return subscription, emails

    async def read_subscription(
        self, clock: Clock, sleep: Sleep, every: float, deadline: float | None = None
    ) -> SubscriptionResult:
        """Read /v2/account in one of the source's request slots and record its answer. The
        next read is due `every` seconds after this one starts; its attempts end by then, or
        by `deadline` (monotonic) when given. `sleep` waits out a `Retry-After`."""
        async with request_slot(self.slots, sleep) as pause:
            started = clock.monotonic()
            self.subscription_due = started + every
            until = started + every if deadline is None else deadline
            try:
                result = await fetch_subscription(self.client, clock, until, pause)
            except BaseException:
                self.subscription_due = clock.monotonic()  # not made: due again
                raise
        self.record_subscription(result)
        return result

    async def read_plan(
        self, email: str, clock: Clock, sleep: Sleep, every: float, deadline: float | None = None
    ) -> tuple[PlanResult, PlanNews | None] | None:
        """Read one account's /features in one of the source's request slots (taken by
        `take_due`) and record its answer; as `read_subscription`. None when the account was
        forgotten (or ignored) while it waited for a slot; no news when while it was asked."""
        try:
            async with request_slot(self.slots, sleep) as pause:
                if email not in self.kept_set:
                    return None
                started = clock.monotonic()
                # Never sooner than an interval after this read, whatever the spread planned.
                after = max(started + every, self.next_round.pop(email, float("-inf")))
                self.due[email] = after
                until = after if deadline is None else deadline
                try:
                    result = await fetch_plan(self.client, email, clock, until, pause)
                except BaseException:
                    if email in self.due:
                        self.due[email] = clock.monotonic()
                    raise
        finally:
            self.reading.discard(email)
        return result, self.record_plan(email, result)

    def record_subscription(self, result: SubscriptionResult) -> None:
        """Count a /v2/account answer; a subscription replaces the last one."""
        self.count(Endpoint.ACCOUNT, result.outcome)
        if result.subscription is not None:
            self.subscription = result.subscription
            self.last_success[Endpoint.ACCOUNT] = result.finished_unix

    def record_plan(self, email: str, result: PlanResult) -> PlanNews | None:
        """Count a /features answer and put it in the view; None (counted only) for an
        account no longer read."""
        self.count(Endpoint.FEATURES, result.outcome)
        if email not in self.due:
            return None  # gone (or ignored) while it was asked about
        if result.plan is not None:
            self.plans[email] = result.plan
            self.unknown.discard(email)
            self.doubted.discard(email)
            self.last_success[Endpoint.FEATURES] = result.finished_unix
            return PlanNews.READ
        if not result.unknown_account:
            return PlanNews.FAILED
        if email in self.plans and email not in self.doubted:
            # Once may be an account that flaps out of upstream's list: its plan is kept (as
            # after any failed read) until the next read says so again.
            self.doubted.add(email)
            return PlanNews.UNKNOWN_ONCE
        self.plans.pop(email, None)
        self.doubted.discard(email)
        if email in self.unknown:
            return PlanNews.STILL_UNKNOWN
        self.unknown.add(email)
        return PlanNews.NEWLY_UNKNOWN
