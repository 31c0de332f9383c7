"""Counted, rate-limited log events: a flood of connections must never become a flood of log
lines, yet the operator should hear of it, with numbers."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

LogMethod = Callable[..., Any]  # a structlog bound logger's .warning, .info, ...

WINDOW_SECONDS = 60.0


class Throttle:
    """Logs `event` at most once per `window_seconds`: the first occurrence at once, later ones
    summed per reason and logged when the window ends. Call `close()` when done."""

    def __init__(
        self,
        log: LogMethod,
        event: str,
        window_seconds: float = WINDOW_SECONDS,
        **fields: Any,
    ) -> None:
        self._log = log
        self._event = event
        self._window = window_seconds
        self._fields = fields
        self._counts: Counter[str] = Counter()
        self._timer: asyncio.TimerHandle | None = None

    def note(self, reason: str, count: int = 1, exc_info: BaseException | None = None) -> None:
        """Count `count` occurrences for `reason`; `exc_info` is logged (with its traceback)
        when this occurrence is the one said at once."""
        self._counts[reason] += count
        if self._timer is None:  # quiet until now: say it at once, then hold the rest
            self._flush(exc_info)

    def close(self) -> None:
        """Log what is held and stop the timer."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._counts:
            self._emit()

    def _flush(self, exc_info: BaseException | None = None) -> None:
        if not self._counts:
            self._timer = None  # a quiet window: the next occurrence is logged at once
            return
        self._emit(exc_info)
        self._timer = asyncio.get_running_loop().call_later(self._window, self._flush)

    def _emit(self, exc_info: BaseException | None = None) -> None:
        counts = dict(sorted(self._counts.items()))
        self._counts.clear()
        extra: dict[str, Any] = {"exc_info": exc_info} if exc_info is not None else {}
        self._log(self._event, **self._fields, **counts, window_seconds=self._window, **extra)
