"""Where logic gets the time from: the Clock protocol and the system clock, read as two clocks,
and what counts as a step of the wall clock or as a skew from upstream's; and the Schedule
protocol, where the daemon's timed work runs."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

# Between two readings the wall clock and the monotonic clock may drift apart by NTP's slew
# (at most 500 ppm) and by the instant between the two reads; a disagreement larger than this
# is a step of the wall clock (NTP, an operator, a VM resumed).
STEP_TOLERANCE_SECONDS = 1.0
# A local clock this far from upstream's (its `Date` header) makes expiry judgements
# untrustworthy: they are held, and PixverseMonitorClockSkew fires instead.
SKEW_LIMIT_SECONDS = 300.0


class Clock(Protocol):
    """A source of the current time, read as two clocks: the wall clock (what expiries and
    exported timestamps are in) and the monotonic clock (what durations, schedules, deadlines
    and staleness are measured on)."""

    def now(self) -> datetime:
        """The current wall time, an aware UTC datetime."""
        ...

    def time(self) -> float:
        """The current wall time as Unix seconds."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that moves at the pace of real time and nothing else: a step of
        the wall clock leaves it alone. Its origin means nothing; only differences do."""
        ...


class SystemClock:
    """The host's clocks: `time.time()` and `time.monotonic()`."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


@dataclass(frozen=True, slots=True)
class Instant:
    """One moment, read from both clocks of a Clock."""

    unix: float
    mono: float

    @classmethod
    def of(cls, clock: Clock) -> Instant:
        return cls(clock.time(), clock.monotonic())

    def step_to(self, later: Instant) -> float:
        """How far the wall clock moved beyond the monotonic one between this reading and
        `later`: about 0 while the wall clock runs freely, the size of a step otherwise."""
        return (later.unix - self.unix) - (later.mono - self.mono)


@dataclass(frozen=True, slots=True)
class ClockCheck:
    """Upstream's clock as the `Date` header of one of its answers gave it, beside ours when
    that answer arrived."""

    at: Instant
    upstream_unix: float

    @property
    def skew_seconds(self) -> float:
        """How far the local wall clock is ahead of upstream's (negative: behind). A `Date`
        has whole seconds, so this can read up to a second high."""
        return self.at.unix - self.upstream_unix


# A job: a coroutine function, so that it runs on the event loop (APScheduler runs a plain
# function in a thread pool, away from the snapshot, the alert book and the outbox).
Job = Callable[..., Awaitable[None]]


class Schedule(Protocol):
    """Where the daemon's timed work runs: jobs repeated every interval (the polls), one-shot
    timers (the evaluation, each source's plan reads, the paced evaluation of plan answers)
    and the clock's tick. Due times are durations on the monotonic clock, whatever the wall
    clock does. Production runs them on APScheduler (`monitor.service.timers.Timers`); tests
    drive a FakeSchedule (`monitor.testing`), which runs them when told that time passed."""

    @property
    def running(self) -> bool:
        """Started, and not shut down."""
        ...

    def start(self) -> None:
        """Start running what falls due (on the running event loop)."""
        ...

    def pause(self) -> None:
        """Start nothing more (jobs running go on): how a stop lets the polls finish."""
        ...

    def shutdown(self) -> None:
        """Stop for good; jobs still running are cancelled."""
        ...

    def every(
        self, job_id: str, work: Job, interval: timedelta, jitter: timedelta, *args: Any
    ) -> None:
        """Run `work(*args)` now, then every `interval`, each run up to `jitter` late; one run
        of a job at a time, and a run missed while the last one ran is skipped."""
        ...

    def retime(self, job_id: str, interval: timedelta, jitter: timedelta) -> None:
        """A new interval for a repeating job, counted from now."""
        ...

    def after(self, job_id: str, work: Job, delay_seconds: float) -> None:
        """Run `work()` once, `delay_seconds` from now, replacing the timer of that id; a
        timer's run may arm it again."""
        ...

    def cancel(self, job_id: str) -> None:
        """Forget the job or timer of that id, if any."""
        ...

    def tick(self, work: Callable[[], None], seconds: float) -> None:
        """Call `work()` every `seconds` of the monotonic clock from `start()` to `pause()`: how
        a step of the wall clock is noticed when nothing else reads the clock."""
        ...

    def clock_stepped(self) -> None:
        """The wall clock stepped: repeating jobs run at once (the polls then check the clock
        against upstream's), timers keep what was left of their delay."""
        ...
