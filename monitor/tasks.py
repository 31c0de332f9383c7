"""Long-lived tasks that never die silently: an unexpected error is logged once with its kind,
counted per task (`pixverse_monitor_task_errors_total`), and the task goes on."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import structlog

from monitor.errors import Task

log = structlog.get_logger("monitor.tasks")

# After an error a supervised loop starts again after this pause, doubled at each further
# error up to the cap: a fault that repeats costs a log line a minute, not a busy loop.
RESTART_PAUSE_SECONDS = 1.0
RESTART_PAUSE_CAP_SECONDS = 60.0


class TaskErrors:
    """Unexpected errors by task: reported here, logged, and counted (`count` is told of each:
    the daemon's pixverse_monitor_task_errors_total)."""

    def __init__(self, count: Callable[[Task], None] | None = None) -> None:
        self._counts = dict.fromkeys(Task, 0)
        self._count = count

    def report(self, task: Task, exc: BaseException, **context: object) -> None:
        """Log `exc` once, with its kind, and count it. The traceback goes to the debug log
        only: one line per error at the levels an operator runs at."""
        self._counts[task] += 1
        if self._count is not None:
            self._count(task)
        log.error(
            "task.failed",
            task=task.value,
            error_kind=type(exc).__name__,
            error=str(exc)[:500],
            **context,
        )
        if logging.getLogger("monitor.tasks").isEnabledFor(logging.DEBUG):
            log.debug("task.traceback", task=task.value, exc_info=exc)

    def counts(self) -> dict[Task, int]:
        return dict(self._counts)

    @contextmanager
    def guard(self, task: Task, **context: object) -> Iterator[Guarded]:
        """Run one turn of a task (a poll, a timer): an unexpected error ends the turn, is
        reported, and is noted in the yielded Guarded; the schedule of turns goes on."""
        turn = Guarded()
        try:
            yield turn
        except Exception as exc:
            turn.failed = True
            self.report(task, exc, **context)


class Guarded:
    """How a guarded turn ended."""

    __slots__ = ("failed",)

    def __init__(self) -> None:
        self.failed = False


def restart_pause(failures: int) -> float:
    """The pause before the next start after `failures` errors in a row."""
    return min(RESTART_PAUSE_CAP_SECONDS, RESTART_PAUSE_SECONDS * 2.0 ** max(0, failures - 1))


async def supervise(
    task: Task,
    work: Callable[[], Awaitable[None]],
    errors: TaskErrors,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    **context: object,
) -> None:
    """Run `work()` until it returns. After an unexpected error, report it and start it again
    after a pause (see `restart_pause`; a run that lasted longer than the longest pause
    starts the count again). Cancellation ends it as usual."""
    failures = 0
    while True:
        started = time.monotonic()
        try:
            await work()
        except Exception as exc:
            if time.monotonic() - started > RESTART_PAUSE_CAP_SECONDS:
                failures = 0
            failures += 1
            errors.report(task, exc, **context)
            await sleep(restart_pause(failures))
        else:
            return


async def wait_event(event: asyncio.Event, limit_seconds: float | None) -> None:
    """Wait until `event` is set, or `limit_seconds` (None: no limit) have passed.
    asyncio.timeout, not wait_for: on Python 3.11, wait_for swallows a cancellation that lands
    in the same loop pass as the event, so a task being stopped would go on and the stop hang."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(limit_seconds):
            await event.wait()
