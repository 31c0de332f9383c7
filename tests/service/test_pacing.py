"""Paced work, on a FakeSchedule: a burst of requests costs at most one run per interval, the
first at once and the rest together at the end of the interval, and the last request is
always followed by a run that sees it; a run that raises costs that run only."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from monitor.errors import Task
from monitor.service.pacing import Paced
from monitor.tasks import TaskErrors
from monitor.testing import FakeClock, FakeSchedule

T0 = 1_900_000_000.0


def paced(
    work: Callable[[], None], clock: FakeClock, errors: TaskErrors | None = None
) -> tuple[Paced, FakeSchedule]:
    """`work` paced to once a second, on a started FakeSchedule of `clock`."""
    schedule = FakeSchedule(clock)
    schedule.start()
    errors = errors or TaskErrors()
    made = Paced(work, clock, 1.0, schedule, job_id="paced", task=Task.EVALUATE, errors=errors)
    return made, schedule


@pytest.mark.anyio
async def test_a_thousand_answers_within_a_second_cost_at_most_two_evaluations() -> None:
    clock = FakeClock(T0)
    answers = 0
    seen: list[int] = []  # how many answers each evaluation saw
    work, schedule = paced(lambda: seen.append(answers), clock)
    for _ in range(1000):
        answers += 1
        work.request()
        await schedule.advance(0.000999)  # all 1,000 within one second
    assert len(seen) <= 2
    await schedule.advance(1.0)
    assert seen == [1, 1000]  # the first at once, the rest together
    # Quiet: nothing more. A later answer is evaluated at once again.
    await schedule.advance(5.0)
    assert len(seen) == 2
    answers += 1
    work.request()
    await schedule.run_due()
    assert seen == [1, 1000, 1001]


@pytest.mark.anyio
async def test_runs_are_a_second_apart_and_each_answer_is_seen_by_the_next() -> None:
    clock = FakeClock(T0)
    answers = 0
    runs: list[tuple[float, int]] = []  # (when, answers seen)
    work, schedule = paced(lambda: runs.append((clock.monotonic(), answers)), clock)
    arrivals = [0, 5, 12, 19, 21, 21, 45]  # in tenths of a second
    start = clock.monotonic()
    for tick in range(60):
        for _ in range(arrivals.count(tick)):
            answers += 1
            work.request()
        await schedule.advance(0.1)
    assert runs[-1][1] == len(arrivals)
    times = [when for when, _ in runs]
    assert all(b - a >= 1.0 - 1e-9 for a, b in itertools.pairwise(times)), times
    for k, tick in enumerate(arrivals, start=1):  # each answer is seen within a second
        at = start + tick / 10
        assert any(seen >= k and at <= when <= at + 1.0 + 1e-9 for when, seen in runs), runs


@pytest.mark.anyio
async def test_a_run_that_raises_is_reported_and_the_next_request_runs() -> None:
    clock = FakeClock(T0)
    counted: list[Task] = []
    calls: list[int] = []

    def work() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ArithmeticError("1/0")

    paced_work, schedule = paced(work, clock, TaskErrors(counted.append))
    paced_work.request()
    await schedule.run_due()
    assert counted == [Task.EVALUATE]
    paced_work.request()
    await schedule.advance(1.0)
    assert len(calls) == 2
    assert counted == [Task.EVALUATE]
