"""What PlanWatch keeps of one source between requests: the last good subscription and plans,
when each account's next /features is due (on the monotonic clock), the token refreshes the
polls saw, and every request counted by endpoint and outcome; and the request budget these
schedules add up to, which an account that comes and goes never gets around."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from monitor.config import Policy, PollConfig, SourceConfig
from monitor.errors import Outcome
from monitor.snapshot import PlanSnapshot
from monitor.upstream import Account, Endpoint, Plan, Sleep, Subscription, UpstreamClient

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
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
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

    def schedule_new(self, poll: PollConfig, now: float) -> None:
        """Plan the first reads of accounts not seen before. They are spread over a poll
        interval (so that plans are known soon after a start) and their later reads evenly
        over features_interval, each account once per interval. An account forgotten and
        back is read when its next read was due, not before. `now` is monotonic."""
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
            self.due[email] = now + k * first / len(new)
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
