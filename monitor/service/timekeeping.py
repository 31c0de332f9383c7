"""The daemon's sense of time: its clock (the host's, watched: see ClockWatch), its schedule
(Timers in production), the tick that notices a step of the wall clock when nothing else reads
it, and the pacing of the evaluations that plan answers ask for. A step re-arms every timer and
has the alerts judged again at once; a jump of the daemon's own time is passed on to what keeps
wall times (the alert book and the outbox)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from monitor.clock import Clock, Schedule
from monitor.errors import Task
from monitor.service.clockwatch import ClockWatch
from monitor.service.pacing import Paced
from monitor.service.timers import Timers
from monitor.tasks import TaskErrors, restart_pause

# Plan answers arrive by the hundred a second at 10,000 accounts, and each evaluation covers
# every account: they are evaluated together, at most once per this many seconds.
PLAN_EVALUATION_SECONDS = 1.0
# How often the clocks are read when nothing else reads them: a step of the wall clock is
# noticed within this.
CLOCK_TICK_SECONDS = 1.0

_EVALUATE_JOB = "evaluate"
_PLAN_NEWS_JOB = "evaluate:plans"


class Timekeeping:
    """Lives on the event loop. `evaluate` judges everything at the daemon's `now` and must
    not raise (the daemon guards it); `jumped` hears how far the daemon's time jumped;
    `schedule` runs the timed work (Timers, on APScheduler, unless given)."""

    def __init__(
        self,
        local: Clock,
        evaluate: Callable[[], None],
        jumped: Callable[[float], None],
        schedule: Schedule | None,
        *,
        hold_limit_seconds: float,
        errors: TaskErrors,
    ) -> None:
        self.clock = ClockWatch(local, hold_limit_seconds=hold_limit_seconds)
        self.schedule: Schedule = schedule or Timers(local)
        self.plan_news = Paced(
            evaluate,
            self.clock,
            PLAN_EVALUATION_SECONDS,
            self.schedule,
            job_id=_PLAN_NEWS_JOB,
            task=Task.EVALUATE,
            errors=errors,
        )
        self._evaluate = evaluate
        self._jumped = jumped
        self._errors = errors
        self._step_pending = False
        self._tick_failures = 0
        self._tick_resumes = float("-inf")  # monotonic: no reading before, after a failure
        self.schedule.tick(self._read_clock, CLOCK_TICK_SECONDS)

    def start(self) -> None:
        self.clock.on_step = self._on_step
        # At once, within the reading that saw the jump: before anything is dated anew.
        self.clock.on_jump = self._jumped
        self.schedule.start()

    def stop(self) -> None:
        """Hear no more of the clock, and start nothing more: what runs (a poll) goes on."""
        self.clock.on_step = self.clock.on_jump = None
        self.schedule.pause()

    def close(self) -> None:
        """Stop for good: what still runs is cancelled."""
        self.clock.on_step = self.clock.on_jump = None
        self.schedule.shutdown()

    def evaluate_after(self, delay_seconds: float | None) -> None:
        """Evaluate again in `delay_seconds` (None: no need), whatever the wall clock does."""
        if not self.schedule.running:
            return
        if delay_seconds is None:
            self.schedule.cancel(_EVALUATE_JOB)
        else:
            self.schedule.after(_EVALUATE_JOB, self._evaluate_job, delay_seconds)

    async def _evaluate_job(self) -> None:
        # A coroutine on purpose: APScheduler's asyncio executor runs plain functions in a
        # thread pool, and the snapshot, alert book and outbox belong to the event loop.
        self._evaluate()

    def _read_clock(self) -> None:
        """The tick. A reading that raises is reported, and the tick rests a while (a pause
        that doubles with each failure in a row): a fault that repeats costs a log line a
        minute, not one a second."""
        now = self.clock.monotonic()
        if now < self._tick_resumes:
            return
        with self._errors.guard(Task.EVALUATE) as turn:
            self.clock.time()
        if turn.failed:
            self._tick_failures += 1
            self._tick_resumes = now + restart_pause(self._tick_failures)
        else:
            self._tick_failures = 0

    def _on_step(self, step: float) -> None:
        # Called from inside a clock reading, anywhere: the work waits for the next loop pass.
        if not self._step_pending:
            self._step_pending = True
            asyncio.get_running_loop().call_soon(self._stepped)

    def _stepped(self) -> None:
        """Every timer re-armed (the polls run at once, which checks the clock against
        upstream), and the alerts judged again at once."""
        self._step_pending = False
        if self.schedule.running:
            self.schedule.clock_stepped()
        self._evaluate()
