"""The daemon's sense of time: its clock (the host's, watched: see ClockWatch), its timers (see
Timers), the tick that notices a step of the wall clock when nothing else reads it, and the
pacing of the evaluations that plan answers ask for. A step re-arms every timer and has the
alerts judged again at once; a jump of the daemon's own time is passed on to what keeps wall
times (the alert book and the outbox)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from monitor.clock import Clock
from monitor.errors import Task
from monitor.service.clockwatch import ClockWatch
from monitor.service.pacing import Paced
from monitor.service.timers import Timers
from monitor.tasks import TaskErrors, supervise

# Plan answers arrive by the hundred a second at 10,000 accounts, and each evaluation covers
# every account: they are evaluated together, at most once per this many seconds.
PLAN_EVALUATION_SECONDS = 1.0
# How often the clocks are read when nothing else reads them: a step of the wall clock is
# noticed within this.
CLOCK_TICK_SECONDS = 1.0

_EVALUATE_JOB = "evaluate"


class Timekeeping:
    """Lives on the event loop. `evaluate` judges everything at the daemon's `now` and must
    not raise (the daemon guards it); `jumped` hears how far the daemon's time jumped."""

    def __init__(
        self,
        local: Clock,
        evaluate: Callable[[], None],
        jumped: Callable[[float], None],
        *,
        hold_limit_seconds: float,
    ) -> None:
        self.clock = ClockWatch(local, hold_limit_seconds=hold_limit_seconds)
        self.timers = Timers(self.clock)
        self.plan_news = Paced(evaluate, self.clock, PLAN_EVALUATION_SECONDS)
        self._evaluate = evaluate
        self._jumped = jumped
        self._tick: asyncio.Task[None] | None = None
        self._step_pending = False

    def start(self, errors: TaskErrors) -> None:
        self.clock.on_step = self._on_step
        # At once, within the reading that saw the jump: before anything is dated anew.
        self.clock.on_jump = self._jumped
        loop = asyncio.get_running_loop()
        self._tick = loop.create_task(supervise(Task.EVALUATE, self._watch, errors), name="clock")
        self.timers.start()
        self.plan_news.start(Task.EVALUATE, errors)

    async def stop(self) -> None:
        """Stop the tick and the pacing; the timers are paused and shut down by the owner,
        around the polls it lets finish."""
        self.clock.on_step = self.clock.on_jump = None
        tick, self._tick = self._tick, None
        if tick is not None:
            tick.cancel()
            await asyncio.gather(tick, return_exceptions=True)
        await self.plan_news.stop()

    def evaluate_after(self, delay_seconds: float | None) -> None:
        """Evaluate again in `delay_seconds` (None: no need), whatever the wall clock does."""
        if not self.timers.running:
            return
        if delay_seconds is None:
            self.timers.cancel(_EVALUATE_JOB)
        else:
            self.timers.after(_EVALUATE_JOB, self._evaluate_job, delay_seconds)

    async def _evaluate_job(self) -> None:
        # A coroutine on purpose: APScheduler's asyncio executor runs plain functions in a
        # thread pool, and the snapshot, alert book and outbox belong to the event loop.
        self._evaluate()

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(CLOCK_TICK_SECONDS)
            self.clock.time()

    def _on_step(self, step: float) -> None:
        # Called from inside a clock reading, anywhere: the work waits for the next loop pass.
        if not self._step_pending:
            self._step_pending = True
            asyncio.get_running_loop().call_soon(self._stepped)

    def _stepped(self) -> None:
        """Every timer re-armed (the polls run at once, which checks the clock against
        upstream), and the alerts judged again at once."""
        self._step_pending = False
        if self.timers.running:
            self.timers.clock_stepped()
        self._evaluate()
