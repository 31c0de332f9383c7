"""The daemon's timers, on APScheduler: jobs that run every interval (the polls) and one-shot
timers (the evaluation). APScheduler keeps every due time as an instant of the process's wall
clock, which it reads itself; so when that clock steps, every job is re-armed: repeating jobs
run at once, timers after what is left of their delay on the monotonic clock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor.clock import Clock

Job = Callable[..., Awaitable[None]]  # a coroutine function: run on the loop, not in a thread
# A timer further out fires early, and what it runs arms it again: that keeps every due time
# well within what datetime and the event loop's call_later can hold, and costs a run a day.
MAX_TIMER_SECONDS = 86_400.0


class Timers:
    """Lives on the event loop. Jobs are coroutine functions, one run of each at a time; a run
    missed (a poll still running, the loop busy) is skipped, not made up."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self._repeating: set[str] = set()
        self._timers: dict[str, float] = {}  # id -> when it falls due, on the monotonic clock

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def start(self) -> None:
        self._scheduler.start()

    def pause(self) -> None:
        self._scheduler.pause()

    def shutdown(self) -> None:
        """Stop at once (on the next loop pass), cancelling what is still running."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def every(
        self, job_id: str, work: Job, interval: timedelta, jitter: timedelta, *args: Any
    ) -> None:
        """Run `work(*args)` now, then every `interval`, each run up to `jitter` late."""
        self._scheduler.add_job(
            work, _every(interval, jitter), args=list(args), id=job_id, next_run_time=_wall_now()
        )
        self._repeating.add(job_id)

    def retime(self, job_id: str, interval: timedelta, jitter: timedelta) -> None:
        """A new interval for a repeating job, counted from now."""
        self._scheduler.reschedule_job(job_id, trigger=_every(interval, jitter))

    def after(self, job_id: str, work: Job, delay_seconds: float) -> None:
        """Run `work()` once, `delay_seconds` from now; it replaces the timer of that id."""
        delay = min(max(0.0, delay_seconds), MAX_TIMER_SECONDS)
        self._timers[job_id] = self._clock.monotonic() + delay
        when = _wall_now() + timedelta(seconds=delay)
        self._scheduler.add_job(work, DateTrigger(when), id=job_id, replace_existing=True)

    def cancel(self, job_id: str) -> None:
        self._repeating.discard(job_id)
        self._timers.pop(job_id, None)
        if self._scheduler.get_job(job_id) is not None:
            self._scheduler.remove_job(job_id)

    def next_run(self, job_id: str) -> datetime | None:
        """When the job runs next, as APScheduler's wall clock reads; None without one."""
        job = self._scheduler.get_job(job_id)
        when: datetime | None = None if job is None else job.next_run_time
        return when

    def interval(self, job_id: str) -> timedelta | None:
        """The interval of a repeating job; None for anything else."""
        job = self._scheduler.get_job(job_id)
        if job is None or not isinstance(job.trigger, IntervalTrigger):
            return None
        interval: timedelta = job.trigger.interval
        return interval

    def clock_stepped(self) -> None:
        """The wall clock stepped: re-arm every job in the terms APScheduler keeps them in.
        Repeating jobs (the polls) run at once, which also checks the clock against upstream;
        timers keep what was left of their delay."""
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


def _wall_now() -> datetime:
    # APScheduler's own reading of the wall clock, which it compares due times with: not the
    # daemon's Clock, which APScheduler cannot be given.
    return datetime.now(UTC)


def _every(interval: timedelta, jitter: timedelta) -> IntervalTrigger:
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
