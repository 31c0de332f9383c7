"""The two clocks: the system clock read both ways, one moment read from both (Instant), and
what upstream's Date says (ClockCheck)."""

from __future__ import annotations

import time

from monitor.clock import ClockCheck, Instant, SystemClock
from monitor.testing import FakeClock

T0 = 1_900_000_000.0


def test_the_system_clock_reads_the_wall_and_the_monotonic_clock() -> None:
    clock = SystemClock()
    before_wall, before_mono = time.time(), time.monotonic()
    now = Instant.of(clock)
    assert before_wall <= now.unix <= time.time()
    assert before_mono <= now.mono <= time.monotonic()
    assert abs(clock.now().timestamp() - time.time()) < 1


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
