"""Work that many events ask for, done at most once per interval of the monotonic clock: the
first request after a quiet spell at once, the rest of a burst together at the end of the
interval, so that the last request is always followed by a run."""

from __future__ import annotations

from collections.abc import Callable

from monitor.clock import Clock, Schedule
from monitor.errors import Task
from monitor.tasks import TaskErrors


class Paced:
    """Runs `work` (a plain function, on the event loop) after `request()`, at most once per
    `interval_seconds`, as a timer of `schedule` named `job_id`. An error in `work` is
    reported as `task` and costs that run only."""

    def __init__(
        self,
        work: Callable[[], None],
        clock: Clock,
        interval_seconds: float,
        schedule: Schedule,
        *,
        job_id: str,
        task: Task,
        errors: TaskErrors,
    ) -> None:
        self.interval_seconds = interval_seconds
        self._work = work
        self._clock = clock
        self._schedule = schedule
        self._job_id = job_id
        self._task = task
        self._errors = errors
        self._last = float("-inf")
        self._armed = False

    def request(self) -> None:
        if self._armed:
            return  # the run armed sees this request too
        self._armed = True
        wait = self._last + self.interval_seconds - self._clock.monotonic()
        self._schedule.after(self._job_id, self._run, max(0.0, wait))

    async def _run(self) -> None:
        # A coroutine: the schedule runs it on the event loop. Requests made from here on
        # ask for the next run: this one may not see them.
        self._armed = False
        self._last = self._clock.monotonic()
        with self._errors.guard(self._task):
            self._work()
