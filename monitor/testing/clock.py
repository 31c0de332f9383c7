"""A clock that moves only when told to, for tests that must not wait on real time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime | float) -> None:
        self._unix = start.timestamp() if isinstance(start, datetime) else float(start)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._unix, UTC)

    def time(self) -> float:
        return self._unix

    def advance(self, delta: timedelta | float) -> None:
        self._unix += delta.total_seconds() if isinstance(delta, timedelta) else delta

    def set(self, when: datetime | float) -> None:
        self._unix = when.timestamp() if isinstance(when, datetime) else float(when)
