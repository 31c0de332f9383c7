"""Paced work, on a FakeClock: a burst of requests costs at most one run per interval, the
first at once and the rest together at the end of the interval, and the last request is
always followed by a run that sees it."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from monitor.errors import Task
from monitor.service.pacing import Paced
from monitor.tasks import TaskErrors
from monitor.testing.fakeclock import FakeClock
from tests.helpers import async_eventually

T0 = 1_900_000_000.0


class Timers:
    """A sleep on the fake clock: it returns when the test has moved the clock far enough."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.waiting: list[tuple[float, asyncio.Future[None]]] = []

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.append((self.clock.monotonic() + seconds, future))
        await future

    async def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        for due, future in list(self.waiting):
            if due <= self.clock.monotonic():
                self.waiting.remove((due, future))
                future.set_result(None)
        for _ in range(5):  # let whoever was woken run
            await asyncio.sleep(0)


@pytest.mark.anyio
async def test_a_thousand_answers_within_a_second_cost_at_most_two_evaluations() -> None:
    clock = FakeClock(T0)
    timers = Timers(clock)
    answers = 0
    seen: list[int] = []  # how many answers each evaluation saw
    paced = Paced(lambda: seen.append(answers), clock, 1.0, sleep=timers.sleep)
    paced.start(*_supervision())
    try:
        for _ in range(1000):
            answers += 1
            paced.request()
            await timers.advance(0.000999)  # all 1,000 within one second
            await asyncio.sleep(0)
        assert len(seen) <= 2
        await timers.advance(1.0)
        await async_eventually(lambda: _true(seen[-1] == 1000), what="the last answer evaluated")
        assert len(seen) == 2
        assert seen[0] == 1  # the first at once
        # Quiet: nothing more. A later answer is evaluated at once again.
        await timers.advance(5.0)
        assert len(seen) == 2
        answers += 1
        paced.request()
        await async_eventually(lambda: _true(seen[-1] == 1001), what="a lone answer evaluated")
        assert len(seen) == 3
    finally:
        await paced.stop()


@pytest.mark.anyio
async def test_runs_are_a_second_apart_and_each_answer_is_seen_by_the_next() -> None:
    clock = FakeClock(T0)
    timers = Timers(clock)
    answers = 0
    runs: list[tuple[float, int]] = []  # (when, answers seen)
    paced = Paced(lambda: runs.append((clock.monotonic(), answers)), clock, 1.0, sleep=timers.sleep)
    paced.start(*_supervision())
    try:
        arrivals = [0, 5, 12, 19, 21, 21, 45]  # in tenths of a second
        start = clock.monotonic()
        for tick in range(60):
            for _ in range(arrivals.count(tick)):
                answers += 1
                paced.request()
            await timers.advance(0.1)
        assert runs[-1][1] == len(arrivals)
        times = [when for when, _ in runs]
        assert all(b - a >= 1.0 for a, b in itertools.pairwise(times)), times
        for k, tick in enumerate(arrivals, start=1):  # each answer is seen within a second
            at = start + tick / 10
            assert any(seen >= k and at <= when <= at + 1.1 for when, seen in runs), runs
    finally:
        await paced.stop()


def _supervision() -> tuple[Task, TaskErrors]:
    return Task.EVALUATE, TaskErrors()


async def _true(value: bool) -> bool:
    return value
