"""FakeSchedule, the Schedule tests drive time with: jobs, timers and the tick run at their
moments, in order, each to its end; and what it keeps of Timers, the schedule in production
(the same scenarios run against both, Timers on a real APScheduler in real time)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest

from monitor.clock import Schedule
from monitor.service.timers import Timers
from monitor.testing import FakeClock, FakeSchedule
from tests.helpers import async_eventually

T0 = 1_900_000_000.0
NONE = timedelta(0)


class Runs:
    """Coroutine functions that note the monotonic time of each run."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.at: dict[str, list[float]] = {}

    def job(self, name: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            self.at.setdefault(name, []).append(self.clock.monotonic())

        return run

    def count(self, name: str) -> int:
        return len(self.at.get(name, []))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.mark.anyio
async def test_jobs_run_at_their_moments_in_order(clock: FakeClock) -> None:
    schedule = FakeSchedule(clock)
    runs = Runs(clock)
    start = clock.monotonic()
    schedule.start()
    schedule.every("poll", runs.job("poll"), timedelta(minutes=5), NONE)
    schedule.after("evaluate", runs.job("evaluate"), 90)
    assert await schedule.run_due() == 1  # the poll, at once
    assert schedule.due_in("poll") == 300 and schedule.due_in("evaluate") == 90
    await schedule.advance(timedelta(minutes=11))
    assert runs.at["poll"] == [start, start + 300, start + 600]
    assert runs.at["evaluate"] == [start + 90]
    assert schedule.due_in("evaluate") is None  # a timer runs once
    assert clock.monotonic() == start + 660


@pytest.mark.anyio
async def test_a_run_sees_the_clock_at_its_moment_and_what_it_arms_runs_in_its_turn(
    clock: FakeClock,
) -> None:
    schedule = FakeSchedule(clock)
    seen: list[tuple[str, float]] = []

    async def first() -> None:
        seen.append(("first", clock.monotonic()))
        schedule.after("second", second, 10)
        schedule.after("now", at_once, 0)

    async def second() -> None:
        seen.append(("second", clock.monotonic()))

    async def at_once() -> None:
        seen.append(("at once", clock.monotonic()))

    start = clock.monotonic()
    schedule.start()
    schedule.after("first", first, 5)
    await schedule.advance(60)
    assert seen == [("first", start + 5), ("at once", start + 5), ("second", start + 15)]


@pytest.mark.anyio
async def test_retime_counts_from_now_and_cancel_forgets(clock: FakeClock) -> None:
    schedule = FakeSchedule(clock)
    runs = Runs(clock)
    start = clock.monotonic()
    schedule.start()
    schedule.every("poll", runs.job("poll"), timedelta(hours=1), NONE)
    await schedule.advance(600)
    schedule.retime("poll", timedelta(minutes=2), NONE)
    await schedule.advance(300)
    assert runs.at["poll"] == [start, start + 720, start + 840]
    schedule.cancel("poll")
    await schedule.advance(3600)
    assert runs.count("poll") == 3


@pytest.mark.anyio
async def test_runs_missed_while_the_clock_moved_alone_run_once(clock: FakeClock) -> None:
    schedule = FakeSchedule(clock)
    runs = Runs(clock)
    schedule.start()
    schedule.every("poll", runs.job("poll"), timedelta(seconds=10), NONE)
    await schedule.run_due()
    clock.advance(95)  # past nine runs, without the schedule
    assert await schedule.run_due() == 1
    assert schedule.due_in("poll") == 10  # an interval from this run, as APScheduler does


@pytest.mark.anyio
async def test_the_tick_runs_from_start_to_pause(clock: FakeClock) -> None:
    schedule = FakeSchedule(clock)
    ticks: list[float] = []
    schedule.tick(lambda: ticks.append(clock.monotonic()), 1.0)
    await schedule.advance(5)
    assert ticks == []  # not started
    start = clock.monotonic()
    schedule.start()
    await schedule.advance(3.5)
    assert ticks == [start + 1, start + 2, start + 3]
    schedule.pause()
    await schedule.advance(10)
    assert len(ticks) == 3


@pytest.mark.anyio
async def test_nothing_runs_once_paused_or_shut_down(clock: FakeClock) -> None:
    schedule = FakeSchedule(clock)
    runs = Runs(clock)
    schedule.start()
    schedule.every("poll", runs.job("poll"), timedelta(seconds=10), NONE)
    schedule.pause()
    assert await schedule.advance(60) == 0
    schedule.shutdown()
    assert not schedule.running
    assert schedule.due_in("poll") is None
    assert runs.count("poll") == 0


@pytest.mark.anyio
async def test_an_error_in_a_run_is_raised_to_the_test(clock: FakeClock) -> None:
    schedule = FakeSchedule(clock)

    async def broken() -> None:
        raise ArithmeticError("1/0")

    schedule.start()
    schedule.after("broken", broken, 1)
    with pytest.raises(ArithmeticError):
        await schedule.advance(2)


@pytest.mark.anyio
async def test_a_run_cancelled_by_what_it_runs_for_is_no_error(clock: FakeClock) -> None:
    """A stop cancels the work in flight (a plan read); the schedule goes on."""
    schedule = FakeSchedule(clock)
    runs = Runs(clock)

    async def cancelled() -> None:
        task = asyncio.current_task()
        assert task is not None
        task.cancel()
        await asyncio.sleep(0)

    schedule.start()
    schedule.after("cancelled", cancelled, 1)
    schedule.after("next", runs.job("next"), 2)
    await schedule.advance(3)
    assert runs.count("next") == 1


@pytest.mark.anyio
async def test_a_timer_that_arms_itself_for_now_forever_is_told(clock: FakeClock) -> None:
    schedule = FakeSchedule(clock)

    async def again() -> None:
        schedule.after("again", again, 0)

    schedule.start()
    schedule.after("again", again, 0)
    with pytest.raises(RuntimeError, match="one moment"):
        await schedule.run_due()


# -- what it keeps of Timers -----------------------------------------------------------------


class Driver:
    """A schedule and how time passes for it: the FakeSchedule is advanced; Timers, on a real
    APScheduler, is waited on (for a condition, with a deadline)."""

    def __init__(self, schedule: Schedule, clock: FakeClock) -> None:
        self.schedule = schedule
        self.clock = clock

    async def until(self, condition: Callable[[], bool], seconds: float) -> None:
        """Let `seconds` pass (Timers: up to a deadline) and require `condition` then."""
        if isinstance(self.schedule, FakeSchedule):
            await self.schedule.advance(seconds)
            assert condition()
        else:

            async def holds() -> bool:
                return condition()

            await async_eventually(holds, timeout=5 + seconds)


@asynccontextmanager
async def driven(kind: str) -> AsyncIterator[Driver]:
    clock = FakeClock(datetime.now(UTC))  # Timers keeps APScheduler's due times on real time
    schedule: Schedule = FakeSchedule(clock) if kind == "fake" else Timers(clock)
    schedule.start()
    try:
        yield Driver(schedule, clock)
    finally:
        schedule.shutdown()
        await asyncio.sleep(0)  # APScheduler shuts down on the next loop pass


BOTH = pytest.mark.parametrize("kind", ["fake", "timers"])


@pytest.mark.anyio
@BOTH
async def test_a_repeating_job_runs_at_once_then_every_interval(kind: str) -> None:
    async with driven(kind) as world:
        runs = Runs(world.clock)
        world.schedule.every("poll", runs.job("poll"), timedelta(seconds=0.2), NONE)
        await world.until(lambda: runs.count("poll") >= 1, 0)
        await world.until(lambda: runs.count("poll") >= 3, 0.4)


@pytest.mark.anyio
@BOTH
async def test_a_timer_runs_once_and_a_new_one_replaces_it(kind: str) -> None:
    async with driven(kind) as world:
        runs = Runs(world.clock)
        world.schedule.after("evaluate", runs.job("first"), 3600)
        world.schedule.after("evaluate", runs.job("second"), 0.1)
        await world.until(lambda: runs.count("second") == 1, 0.1)
        world.schedule.after("cancelled", runs.job("cancelled"), 0.1)
        world.schedule.cancel("cancelled")
        world.schedule.after("later", runs.job("later"), 0.2)
        await world.until(lambda: runs.count("later") == 1, 0.2)
        assert runs.count("first") == runs.count("cancelled") == 0
        assert runs.count("second") == 1


@pytest.mark.anyio
@BOTH
async def test_a_timer_armed_again_from_its_own_run_runs_again(kind: str) -> None:
    """APScheduler counted the run that armed it as still running, and skipped the new one
    ("maximum number of running instances reached"): an evaluation due at once was lost."""
    async with driven(kind) as world:
        runs = Runs(world.clock)

        async def again() -> None:
            await runs.job("again")()
            if runs.count("again") < 5:
                world.schedule.after("again", again, 0)

        world.schedule.after("again", again, 0)
        await world.until(lambda: runs.count("again") == 5, 0)


@pytest.mark.anyio
@BOTH
async def test_a_step_runs_repeating_jobs_at_once_and_timers_keep_their_delay(kind: str) -> None:
    async with driven(kind) as world:
        runs = Runs(world.clock)
        world.schedule.every("poll", runs.job("poll"), timedelta(hours=1), NONE)
        world.schedule.after("evaluate", runs.job("evaluate"), 0.3)
        await world.until(lambda: runs.count("poll") == 1, 0)
        world.clock.step(-86400)
        world.schedule.clock_stepped()
        await world.until(lambda: runs.count("poll") == 2, 0)
        await world.until(lambda: runs.count("evaluate") == 1, 0.3)
        assert runs.count("poll") == 2


@pytest.mark.anyio
@BOTH
async def test_the_tick_ticks_until_paused(kind: str) -> None:
    ticks: list[int] = []
    async with driven(kind) as world:
        world.schedule.tick(lambda: ticks.append(1), 0.05)
        await world.until(lambda: len(ticks) >= 3, 0.15)
        world.schedule.pause()
        paused = len(ticks)
        if isinstance(world.schedule, FakeSchedule):
            await world.schedule.advance(1)
        assert len(ticks) == paused
