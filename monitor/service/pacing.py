"""Work that many events ask for, done at most once per interval of the monotonic clock: the
first request after a quiet spell at once, the rest of a burst together at the end of the
interval, so that the last request is always followed by a run."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from monitor.clock import Clock
from monitor.errors import Task
from monitor.tasks import TaskErrors, supervise


class Paced:
    """Runs `work` (a plain function, on the event loop) after `request()`, at most once per
    `interval_seconds`. `start()` and `stop()` on the loop; `sleep` is for tests."""

    def __init__(
        self,
        work: Callable[[], None],
        clock: Clock,
        interval_seconds: float,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.interval_seconds = interval_seconds
        self._work = work
        self._clock = clock
        self._sleep = sleep
        self._wanted = asyncio.Event()
        self._last = float("-inf")
        self._task: asyncio.Task[None] | None = None

    def request(self) -> None:
        self._wanted.set()

    def start(self, task: Task, errors: TaskErrors) -> None:
        """Run on the loop, supervised as `task`: an error in `work` is reported, and runs go
        on after a pause."""
        work = supervise(task, self._run, errors)
        self._task = asyncio.get_running_loop().create_task(work, name=f"paced:{task.value}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await self._wanted.wait()
            wait = self._last + self.interval_seconds - self._clock.monotonic()
            if wait > 0:
                await self._sleep(wait)
            # Requests made from here on ask for the next run: this one may not see them.
            self._wanted.clear()
            self._last = self._clock.monotonic()
            self._work()
