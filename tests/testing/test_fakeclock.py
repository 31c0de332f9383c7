"""The FakeClock the tests drive: time passing moves both of its clocks, a step only the wall
clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.testing.fakeclock import MONOTONIC_START, FakeClock

T0 = 1_900_000_000.0


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
