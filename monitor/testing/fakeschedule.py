"""A Schedule that runs the daemon's timed work only when a test lets time pass, on a FakeClock:
the polls, the evaluation timer, the plan reads, the paced evaluations and the clock's tick, each
at its moment, in order, each run awaited to its end before the next, so that a test sees all a
moment brings before it goes on."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from monitor.clock import Job, Schedule
from monitor.testing.fakeclock import FakeClock

# Runs at one moment past which a test is told something arms itself for "now" forever.
MAX_RUNS_AT_ONE_MOMENT = 10_000
# Due times this close are one moment: sums of fractions of a second are not exact.
_SAME_MOMENT_SECONDS = 1e-6


@dataclass
class _Entry:
    job_id: str
    due: float  # on the monotonic clock
    order: int  # arming order: what was armed first runs first among those due together
    work: Callable[..., Any]
    args: tuple[Any, ...]
    interval: float | None  # None: a one-shot timer
    tick: bool = False  # the clock's tick: monotonic, so a step of the wall clock leaves it


class FakeSchedule(Schedule):
    """The daemon's schedule in tests: give it to `Daemon(..., clock=clock, schedule=...)`
    with the same FakeClock, then `await advance(seconds)` or `await run_due()`.

    It keeps what Timers does, on the FakeClock's monotonic readings: `every` runs at once
    and then every interval (jitter is not applied), `after` once, `retime` counts the new
    interval from now, `clock_stepped` makes the repeating jobs due at once and leaves the
    timers and the tick be. Each run is a task of its own (as APScheduler runs them),
    awaited before the next; an error it raises is raised to the test."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self._entries: dict[str, _Entry] = {}
        self._order = itertools.count()
        self._started = False
        self._paused = False
        self.runs = 0  # every run so far, ticks included

    # -- the Schedule protocol -----------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._started

    def start(self) -> None:
        self._started = True
        self._paused = False
        for entry in self._entries.values():
            if entry.tick and entry.interval is not None:
                entry.due = self._now() + entry.interval  # ticking from the start

    def pause(self) -> None:
        self._paused = True

    def shutdown(self) -> None:
        self._started = False
        self._paused = True
        self._entries.clear()

    def every(
        self, job_id: str, work: Job, interval: timedelta, jitter: timedelta, *args: Any
    ) -> None:
        self._arm(_Entry(job_id, self._now(), 0, work, args, interval.total_seconds()))

    def retime(self, job_id: str, interval: timedelta, jitter: timedelta) -> None:
        entry = self._entries[job_id]
        entry.interval = interval.total_seconds()
        entry.due = self._now() + entry.interval

    def after(self, job_id: str, work: Job, delay_seconds: float) -> None:
        self._arm(_Entry(job_id, self._now() + max(0.0, delay_seconds), 0, work, (), None))

    def cancel(self, job_id: str) -> None:
        self._entries.pop(job_id, None)

    def tick(self, work: Callable[[], None], seconds: float) -> None:
        job_id = f"tick:{next(self._order)}"
        self._arm(_Entry(job_id, self._now() + seconds, 0, work, (), seconds, tick=True))

    def clock_stepped(self) -> None:
        for entry in self._entries.values():
            if entry.interval is not None and not entry.tick:
                entry.due = self._now()

    # -- what tests call -----------------------------------------------------------------

    def due_in(self, job_id: str) -> float | None:
        """Seconds until the job or timer of that id runs next; None without one."""
        entry = self._entries.get(job_id)
        return None if entry is None else max(0.0, entry.due - self._now())

    async def run_due(self) -> int:
        """Run what is due now, and what that arms for now; returns how many runs."""
        ran = 0
        while (entry := self._next(self._now())) is not None:
            ran += 1
            if ran > MAX_RUNS_AT_ONE_MOMENT:
                raise RuntimeError(f"more than {MAX_RUNS_AT_ONE_MOMENT} runs at one moment")
            await self._run(entry)
        return ran

    async def advance(self, delta: timedelta | float) -> int:
        """Let `delta` of time pass on the FakeClock, running each job, timer and tick at the
        moment it falls due; returns how many runs."""
        seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
        if seconds < 0:
            raise ValueError("time does not pass backwards: FakeClock.step() steps the wall clock")
        end = self._now() + seconds
        ran = await self.run_due()
        while (entry := self._next(end)) is not None:
            self.clock.advance(max(0.0, entry.due - self._now()))
            ran += await self.run_due()
        self.clock.advance(max(0.0, end - self._now()))
        return ran + await self.run_due()

    # -- inside --------------------------------------------------------------------------

    def _now(self) -> float:
        return self.clock.monotonic()

    def _arm(self, entry: _Entry) -> None:
        entry.order = next(self._order)
        self._entries[entry.job_id] = entry

    def _next(self, until: float) -> _Entry | None:
        if not self._started or self._paused:
            return None
        due = [e for e in self._entries.values() if e.due <= until + _SAME_MOMENT_SECONDS]
        return min(due, key=lambda e: (e.due, e.order)) if due else None

    async def _run(self, entry: _Entry) -> None:
        if entry.due > self._now():  # within a moment of now: it runs at its own time
            self.clock.advance(entry.due - self._now())
        now = self._now()
        if entry.interval is None:
            del self._entries[entry.job_id]  # its run may arm it again
        else:
            # The next run an interval after this one was due; runs missed are skipped.
            following = entry.due + entry.interval
            entry.due = following if following > now else now + entry.interval
            entry.order = next(self._order)
        self.runs += 1
        if entry.tick:
            entry.work()
        else:
            run = asyncio.ensure_future(entry.work(*entry.args))
            await asyncio.wait({run})
            error = None if run.cancelled() else run.exception()
            if error is not None:
                raise error
        # What the run left for the next loop pass (call_soon) happens before the next run.
        await asyncio.sleep(0)
