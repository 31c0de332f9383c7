"""The daemon's timers on a real APScheduler: a step of the wall clock re-arms them (repeating
jobs run at once, timers keep what was left of their monotonic delay), and runs missed while
the wall clock jumped ahead are skipped at once, not walked through one by one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.service.timers import Timers, every_trigger
from monitor.testing.fakeclock import FakeClock
from tests.helpers import async_eventually

HOUR = timedelta(hours=1)


class Runs:
    """A job that counts its runs (a coroutine function: APScheduler runs anything else in a
    thread)."""

    def __init__(self) -> None:
        self.count = 0

    async def run(self) -> None:
        self.count += 1


async def counted(runs: Runs, count: int) -> bool:
    return runs.count >= count


@pytest.mark.anyio
async def test_a_step_runs_every_repeating_job_at_once() -> None:
    timers = Timers(FakeClock(datetime.now(UTC)))
    polls = Runs()
    timers.start()
    try:
        timers.every("poll:main", polls.run, HOUR, timedelta(0))
        await async_eventually(lambda: counted(polls, 1), what="the first run, at once")
        following = timers.next_run("poll:main")
        assert following is not None and following - datetime.now(UTC) > HOUR * 0.99
        timers.clock_stepped()
        await async_eventually(lambda: counted(polls, 2), what="a run at once after the step")
        # ... and then every interval from there.
        again = timers.next_run("poll:main")
        assert again is not None and again - datetime.now(UTC) > HOUR * 0.99
    finally:
        timers.shutdown()


@pytest.mark.anyio
async def test_a_step_keeps_what_is_left_of_a_timers_monotonic_delay() -> None:
    clock = FakeClock(datetime.now(UTC))
    timers = Timers(clock)
    timers.start()
    try:
        timers.after("evaluate", Runs().run, 100)
        clock.advance(40)  # the daemon's clocks went on 40 s
        clock.step(-86400)
        timers.clock_stepped()
        when = timers.next_run("evaluate")
        assert when is not None
        left = (when - datetime.now(UTC)).total_seconds()
        assert 59 <= left <= 60
        timers.cancel("evaluate")
        assert timers.next_run("evaluate") is None
        timers.clock_stepped()  # a cancelled timer stays cancelled
        assert timers.next_run("evaluate") is None
    finally:
        timers.shutdown()


def test_runs_missed_while_the_wall_clock_jumped_ahead_are_skipped_at_once() -> None:
    """APScheduler asks the trigger for each missed run time until one is past `now`: after
    a 30-day jump of a 1 s interval, IntervalTrigger answers 2.6 million times."""
    trigger = every_trigger(timedelta(seconds=1), timedelta(0))
    last_run = datetime(2030, 1, 1, tzinfo=UTC)
    now = last_run + timedelta(days=30)
    asked = 0
    following = last_run
    while following <= now:  # as apscheduler.job.Job._get_run_times walks them
        asked += 1
        following = trigger.get_next_fire_time(following, now)
    assert asked == 2
    assert following == now + timedelta(seconds=1)
    # Without a jump, one interval after the last run, as ever.
    assert trigger.get_next_fire_time(last_run, last_run) == last_run + timedelta(seconds=1)
