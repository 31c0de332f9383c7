"""A clock that moves only when told to, for tests that must not wait on real time: its wall
and monotonic readings move together as time passes, and the wall clock alone when it steps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# Where the monotonic reading starts unless told: far from any wall time, so that a test
# mixing the two clocks up gets nonsense rather than a pass.
MONOTONIC_START = 1_000.0


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime | float, *, monotonic: float = MONOTONIC_START) -> None:
        self._unix = _seconds(start)
        self._mono = float(monotonic)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._unix, UTC)

    def time(self) -> float:
        return self._unix

    def monotonic(self) -> float:
        return self._mono

    def advance(self, delta: timedelta | float) -> None:
        """Let `delta` of time pass: both clocks move."""
        seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
        if seconds < 0:
            raise ValueError("time does not pass backwards: step() steps the wall clock")
        self._unix += seconds
        self._mono += seconds

    def set(self, when: datetime | float) -> None:
        """Let time pass until the wall clock reads `when`."""
        self.advance(_seconds(when) - self._unix)

    def step(self, delta: timedelta | float) -> None:
        """Step the wall clock alone by `delta`, either way, as NTP or an operator does; the
        monotonic clock does not move."""
        self._unix += delta.total_seconds() if isinstance(delta, timedelta) else float(delta)


def _seconds(when: datetime | float) -> float:
    return when.timestamp() if isinstance(when, datetime) else float(when)
