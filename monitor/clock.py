"""Where logic gets `now` from: the system clock in production, a fake one in tests."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """A source of the current time."""

    def now(self) -> datetime:
        """The current time, an aware UTC datetime."""
        ...

    def time(self) -> float:
        """The current time as Unix seconds."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def time(self) -> float:
        return time.time()


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
