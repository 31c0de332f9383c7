"""The two clocks: the system clock read both ways, one moment read from both (Instant), what
upstream's Date says (ClockCheck), and the FakeClock the tests drive: time passing moves both
of its clocks, a step only the wall clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from monitor.clock import ClockCheck, Instant, SystemClock
from monitor.testing.fakeclock import MONOTONIC_START, FakeClock

T0 = 1_900_000_000.0


def test_the_system_clock_reads_the_wall_and_the_monotonic_clock() -> None:
    clock = SystemClock()
    before_wall, before_mono = time.time(), time.monotonic()
    now = Instant.of(clock)
    assert before_wall <= now.unix <= time.time()
    assert before_mono <= now.mono <= time.monotonic()
    assert abs(clock.now().timestamp() - time.time()) < 1


def test_a_fake_clock_moves_both_clocks_as_time_passes() -> None:
    clock = FakeClock(T0)
    assert (clock.time(), clock.monotonic()) == (T0, MONOTONIC_START)
    assert clock.now() == datetime.fromtimestamp(T0, UTC)
    clock.advance(90)
    clock.advance(timedelta(minutes=1))
    assert (clock.time(), clock.monotonic()) == (T0 + 150, MONOTONIC_START + 150)
    clock.set(T0 + 1000)
    assert (clock.time(), clock.monotonic()) == (T0 + 1000, MONOTONIC_START + 1000)
    with pytest.raises(ValueError, match="step"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="step"):
        clock.set(T0)


def test_a_step_moves_the_wall_clock_alone_either_way() -> None:
    clock = FakeClock(T0, monotonic=5.0)
    clock.step(timedelta(days=-1))
    assert (clock.time(), clock.monotonic()) == (T0 - 86400, 5.0)
    clock.step(30 * 86400)
    assert (clock.time(), clock.monotonic()) == (T0 + 29 * 86400, 5.0)


def test_an_instant_tells_a_step_from_time_passing() -> None:
    clock = FakeClock(T0)
    before = Instant.of(clock)
    clock.advance(3600)
    assert before.step_to(Instant.of(clock)) == 0
    clock.step(-86400)
    assert before.step_to(Instant.of(clock)) == -86400


def test_a_clock_check_is_how_far_ours_is_ahead_of_upstreams() -> None:
    at = Instant(T0, 10.0)
    assert ClockCheck(at, T0 - 30).skew_seconds == 30
    assert ClockCheck(at, T0 + 86400).skew_seconds == -86400
