"""ClockWatch, the daemon's clock, on a FakeClock: the host's wall clock while it is trusted;
through a step not yet checked against upstream, or while upstream's Date says it is off by
more than the limit, the last trusted reading moved on by the monotonic clock."""

from __future__ import annotations

from structlog.testing import capture_logs

from monitor.clock import SKEW_LIMIT_SECONDS, ClockCheck, Instant
from monitor.service.clockwatch import ClockWatch
from monitor.testing.fakeclock import FakeClock

T0 = 1_900_000_000.0
DAY = 86400.0
HOLD_LIMIT = 900.0


def watch(start: float = T0) -> tuple[FakeClock, ClockWatch, list[float]]:
    local = FakeClock(start)
    clock = ClockWatch(local, hold_limit_seconds=HOLD_LIMIT)
    steps: list[float] = []
    clock.on_step = steps.append
    return local, clock, steps


def jumps(clock: ClockWatch) -> list[float]:
    """The jumps of the daemon's time `clock` tells, from now on."""
    told: list[float] = []
    clock.on_jump = told.append
    return told


def check(local: FakeClock, upstream_unix: float) -> ClockCheck:
    """What a poll answered now would say, upstream's clock reading `upstream_unix`."""
    return ClockCheck(Instant.of(local), upstream_unix)


def verified(local: FakeClock, clock: ClockWatch) -> None:
    clock.checked("main", check(local, local.time()))


def test_a_trusted_clock_is_the_hosts() -> None:
    local, clock, steps = watch()
    assert clock.time() == T0
    local.advance(3600)
    assert clock.time() == T0 + 3600
    assert clock.now().timestamp() == T0 + 3600
    assert clock.monotonic() == local.monotonic()
    verified(local, clock)
    assert not clock.held and clock.time() == local.time() and steps == []


def test_a_step_of_a_verified_clock_holds_until_a_poll_checks_it() -> None:
    local, clock, steps = watch()
    verified(local, clock)
    local.advance(10)
    clock.time()  # the reading before the step
    local.step(-DAY)
    local.advance(5)
    # Noticed at once, from the first reading after it: time goes on from before the step.
    assert clock.time() == T0 + 15
    assert steps == [-DAY] and clock.held
    local.advance(60)
    assert clock.time() == T0 + 75
    # A poll made after the step finds the host's clock a day behind upstream's: still held.
    clock.checked("main", check(local, T0 + 75))
    assert clock.skew("main") == -DAY
    local.advance(60)
    assert clock.held and clock.time() == T0 + 135
    # NTP puts it right; the poll that follows checks it, and the host's clock is used again.
    local.step(DAY)
    assert clock.time() == T0 + 135 and steps == [-DAY, DAY]
    clock.checked("main", check(local, local.time()))
    assert not clock.held and clock.time() == local.time() == T0 + 135


def test_a_check_measured_before_the_step_says_nothing() -> None:
    local, clock, _ = watch()
    verified(local, clock)
    in_flight = check(local, local.time())  # an answer that arrived before the step
    local.advance(1)
    local.step(30 * DAY)
    clock.time()
    clock.checked("main", in_flight)
    assert clock.held and clock.time() == T0 + 1


def test_a_step_no_poll_can_check_holds_for_the_limit_at_most() -> None:
    local, clock, _ = watch()
    verified(local, clock)
    local.step(-DAY)
    assert clock.time() == T0 and clock.held
    local.advance(HOLD_LIMIT - 1)
    assert clock.held and clock.time() == T0 + HOLD_LIMIT - 1
    local.advance(1)
    assert not clock.held
    assert clock.time() == T0 - DAY + HOLD_LIMIT  # the host's clock, trusted again


def test_a_step_a_poll_found_off_stays_held_and_is_never_called_unchecked() -> None:
    """A poll after the step checked the clock and found it off: the hold is the skew's now,
    until the clocks agree, and no line says that no poll could check it."""
    local, clock, _ = watch()
    verified(local, clock)
    local.step(-DAY)
    assert clock.held
    local.advance(10)
    clock.checked("main", check(local, local.time() + DAY))  # upstream: a day ahead of us
    with capture_logs() as logs:
        local.advance(HOLD_LIMIT)
        assert clock.held and clock.time() == T0 + HOLD_LIMIT + 10
    assert [e["event"] for e in logs] == []
    clock.checked("main", check(local, local.time()))  # NTP put the host right
    assert not clock.held


def test_a_step_of_a_clock_never_verified_is_taken_as_it_is() -> None:
    """Nothing says the clock before the step was the better one (no Date yet, say)."""
    local, clock, steps = watch()
    local.step(-DAY)
    assert clock.time() == T0 - DAY
    assert steps == [-DAY] and not clock.held


def test_a_skew_past_the_limit_holds_from_the_last_verified_reading() -> None:
    local, clock, _ = watch()
    verified(local, clock)
    local.advance(30)
    clock.checked("main", check(local, local.time() - SKEW_LIMIT_SECONDS))  # at the limit: fine
    assert not clock.held
    clock.checked("main", check(local, local.time() - SKEW_LIMIT_SECONDS - 1))
    assert clock.held and clock.skew("main") == SKEW_LIMIT_SECONDS + 1
    local.advance(100)
    assert clock.time() == T0 + 130  # no step: the host's clock went on as it was
    clock.checked("main", check(local, local.time() + 2))
    assert not clock.held


def test_a_clock_off_from_the_start_is_judged_by_upstreams() -> None:
    wrong_by = 30 * DAY
    local, clock, _ = watch(T0 + wrong_by)
    clock.checked("main", check(local, T0))
    assert clock.held
    assert clock.time() == T0
    local.advance(3600)
    assert clock.time() == T0 + 3600
    # Put right by NTP, then checked: the host's clock from then on.
    local.step(-wrong_by)
    clock.checked("main", check(local, local.time()))
    assert not clock.held and clock.time() == T0 + 3600


def test_every_source_must_agree_and_a_removed_one_no_longer_counts() -> None:
    local, clock, _ = watch()
    verified(local, clock)
    clock.checked("spare", check(local, local.time() - DAY))
    clock.checked("main", check(local, local.time()))
    assert clock.held
    clock.forget("spare")
    assert not clock.held and clock.skew("spare") is None


def test_the_daemons_time_jumps_only_when_it_must() -> None:
    local, clock, _ = watch()
    told = jumps(clock)
    local.step(-DAY)  # never verified: taken as it is, a jump
    assert clock.time() == T0 - DAY and told == [-DAY]
    verified(local, clock)
    local.step(DAY)  # verified: held, no jump
    local.advance(10)
    assert clock.time() == T0 - DAY + 10 and told == [-DAY]
    clock.checked("main", check(local, local.time()))  # checked: the host's clock, a jump
    assert clock.time() == T0 + 10 and told == [-DAY, DAY]
