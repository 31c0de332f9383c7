"""Where logic gets the time from: the Clock protocol and the system clock, read as two clocks,
and what counts as a step of the wall clock or as a skew from upstream's."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

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
