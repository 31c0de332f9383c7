"""The daemon's Schedule in production, on APScheduler: jobs that run every interval (the polls)
and one-shot timers (the evaluation, the plan reads, the paced evaluations). APScheduler keeps
every due time as an instant of the process's wall clock, which it reads itself; so when that
clock steps, every job is re-armed: repeating jobs run at once, timers after what is left of
their delay on the monotonic clock. The clock's tick, which notices such a step, sleeps on the
event loop's monotonic clock instead: on APScheduler it would sleep through the very step it
is there to notice."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor.clock import Clock, Job, Schedule

# A timer further out fires early, and what it runs arms it again: that keeps every due time
# well within what datetime and the event loop's call_later can hold, and costs a run a day.
MAX_TIMER_SECONDS = 86_400.0
# Runs of one timer that may overlap: a timer's run arms it again as its last act, and
# APScheduler counts that run as running until a loop pass after it ended, so a timer armed
# again for "now" was skipped ("maximum number of running instances reached") and lost.
_TIMER_INSTANCES = 2


class Timers(Schedule):
    """Lives on the event loop. Jobs are coroutine functions, one run of each repeating job
    at a time; a run missed (a poll still running, the loop busy) is skipped, not made up."""

    def __init__(self, clock: Clock) -> None:
        """`clock` gives the monotonic readings timers keep their due times in."""
        self._clock = clock
        self._scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self._repeating: set[str] = set()
        self._timers: dict[str, float] = {}  # id -> when it falls due, on the monotonic clock
        self._ticks: list[tuple[Callable[[], None], float]] = []
        self._ticking: list[asyncio.Task[None]] = []

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def start(self) -> None:
        self._scheduler.start()
        for work, seconds in self._ticks:
            self._start_tick(work, seconds)

    def pause(self) -> None:
        self._scheduler.pause()
        self._stop_ticks()

    def shutdown(self) -> None:
        """Stop at once (on the next loop pass), cancelling what is still running."""
        self._stop_ticks()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def every(
        self, job_id: str, work: Job, interval: timedelta, jitter: timedelta, *args: Any
    ) -> None:
        self._scheduler.add_job(
            work,
            every_trigger(interval, jitter),
            args=list(args),
            id=job_id,
            next_run_time=_wall_now(),
        )
        self._repeating.add(job_id)

    def retime(self, job_id: str, interval: timedelta, jitter: timedelta) -> None:
        self._scheduler.reschedule_job(job_id, trigger=every_trigger(interval, jitter))

    def after(self, job_id: str, work: Job, delay_seconds: float) -> None:
        delay = min(max(0.0, delay_seconds), MAX_TIMER_SECONDS)
        self._timers[job_id] = self._clock.monotonic() + delay
        when = _wall_now() + timedelta(seconds=delay)
        self._scheduler.add_job(
            work,
            DateTrigger(when),
            id=job_id,
            replace_existing=True,
            max_instances=_TIMER_INSTANCES,
        )

    def cancel(self, job_id: str) -> None:
        self._repeating.discard(job_id)
        self._timers.pop(job_id, None)
        if self._scheduler.get_job(job_id) is not None:
            self._scheduler.remove_job(job_id)

    def tick(self, work: Callable[[], None], seconds: float) -> None:
        self._ticks.append((work, seconds))
        if self.running:
            self._start_tick(work, seconds)

    def next_run(self, job_id: str) -> datetime | None:
        """When the job runs next, as APScheduler's wall clock reads; None without one."""
        job = self._scheduler.get_job(job_id)
        when: datetime | None = None if job is None else job.next_run_time
        return when

    def clock_stepped(self) -> None:
        now = _wall_now()
        mono = self._clock.monotonic()
        for job_id in sorted(self._repeating):
            if self._scheduler.get_job(job_id) is not None:
                self._scheduler.modify_job(job_id, next_run_time=now)
        for job_id, due in list(self._timers.items()):
            if self._scheduler.get_job(job_id) is None:
                del self._timers[job_id]  # it has run
                continue
            left = timedelta(seconds=min(max(0.0, due - mono), MAX_TIMER_SECONDS))
            self._scheduler.modify_job(job_id, next_run_time=now + left)

    def _start_tick(self, work: Callable[[], None], seconds: float) -> None:
        async def ticking() -> None:
            while True:
                await asyncio.sleep(seconds)  # the event loop's clock: monotonic
                work()

        task = asyncio.get_running_loop().create_task(ticking(), name="tick")
        self._ticking.append(task)

    def _stop_ticks(self) -> None:
        for task in self._ticking:
            task.cancel()
        self._ticking.clear()


def _wall_now() -> datetime:
    # APScheduler's own reading of the wall clock, which it compares due times with: not the
    # daemon's Clock, which APScheduler cannot be given.
    return datetime.now(UTC)


def every_trigger(interval: timedelta, jitter: timedelta) -> IntervalTrigger:
    """The trigger of a job `every` interval: APScheduler's, skipping missed runs at once."""
    seconds = jitter.total_seconds()
    return _Every(seconds=interval.total_seconds(), jitter=seconds or None, timezone=UTC)


class _Every(IntervalTrigger):  # type: ignore[misc]  # APScheduler has no type hints
    """IntervalTrigger, except that after the wall clock jumps ahead the runs it skipped are
    skipped at once. APScheduler walks every missed run time, one interval at a time, before
    it runs a job once: a 30-day jump of a 1 s interval is 2.6 million trigger calls, seconds
    of the event loop."""

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> Any:
        following = super().get_next_fire_time(previous_fire_time, now)
        if previous_fire_time is not None and following is not None and following <= now:
            return now
        return following
