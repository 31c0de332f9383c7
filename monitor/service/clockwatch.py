"""The daemon's clock: the host's wall clock while it can be trusted. While a step of it has not
been checked against upstream yet, or upstream's `Date` says it is more than the skew limit off,
the daemon's time is the last trusted reading moved on by the monotonic clock, so that no
expiry is judged, and no notification dated, by a clock known to be wrong."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from monitor.clock import SKEW_LIMIT_SECONDS, STEP_TOLERANCE_SECONDS, Clock, ClockCheck, Instant

log = structlog.get_logger("monitor.clock")


class ClockWatch:
    """A Clock that watches another (the host's). Every reading compares the wall clock with
    the monotonic one, so a step is noticed at the first reading after it; the polls report
    upstream's clock (`checked`).

    Trust: the local clock is *verified* once a poll finds it within the skew limit of
    upstream's, and stays so until it steps. A hold starts when a verified clock steps (judged
    time then goes on from the reading before the step) or when a poll finds it off (from the
    last verified reading, or from upstream's clock if none was verified in this run). A hold
    ends when no source's last check is off and, after a step, a poll made since has checked
    the clock; a step that no poll can check holds for `hold_limit_seconds` at most."""

    def __init__(self, local: Clock, *, hold_limit_seconds: float) -> None:
        self.local = local
        self.hold_limit_seconds = hold_limit_seconds
        # Told of every step (seconds the wall clock jumped beyond the monotonic one), from
        # within the reading that noticed it: it must only schedule work, not do it.
        self.on_step: Callable[[float], None] | None = None
        # Told of every jump of the daemon's own time (a step of a clock it could not check,
        # a hold that starts from upstream's clock, one that ends), from within the reading
        # that made it, before the new time is returned: what is due at a wall time moves
        # with it before anything is dated anew.
        self.on_jump: Callable[[float], None] | None = None
        self._last = Instant.of(local)
        self._offset = self._last.unix - self._last.mono  # the daemon's time less monotonic
        self._verified = False
        self._anchor: Instant | None = None  # while held: the reading judged time goes on from
        self._step_held_since: float | None = None  # monotonic; a step no poll checked yet
        self._stepped_at = float("-inf")  # monotonic: checks measured before it are stale
        self._skews: dict[str, float] = {}

    # -- the Clock protocol ------------------------------------------------------------------

    def time(self) -> float:
        now = self._read()
        anchor = self._anchor
        judged = now.unix if anchor is None else anchor.unix + (now.mono - anchor.mono)
        offset = judged - now.mono
        jump, self._offset = offset - self._offset, offset
        if abs(jump) > STEP_TOLERANCE_SECONDS and self.on_jump is not None:
            self.on_jump(jump)
        return judged

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    def monotonic(self) -> float:
        return self.local.monotonic()

    # -- what the polls tell -----------------------------------------------------------------

    @property
    def held(self) -> bool:
        """True while the daemon's time is not the host's wall clock."""
        self._read()
        return self._anchor is not None

    def skew(self, source: str) -> float | None:
        """How far the local clock was ahead of upstream's at the last check by `source`."""
        return self._skews.get(source)

    def checked(self, source: str, check: ClockCheck) -> None:
        """A poll of `source` read upstream's clock."""
        now = self._read()
        if check.at.mono < self._stepped_at:
            return  # measured before the last step: it says nothing of the clock now
        skew = check.skew_seconds
        self._skews[source] = skew
        if abs(skew) > SKEW_LIMIT_SECONDS:
            if self._anchor is None:
                verified = self._verified
                upstream = Instant(check.at.unix - skew, check.at.mono)
                self._anchor = now if verified else upstream
                log.warning(
                    "clock.skewed",
                    source=source,
                    skew_seconds=round(skew, 3),
                    judged_on="the last verified reading" if verified else "upstream's clock",
                )
            self._verified = False
            # Checked and found off: held until the clocks agree, not for a limit.
            self._step_held_since = None
            return
        self._verified = True
        self._step_held_since = None
        self._release(now)

    def forget(self, source: str) -> None:
        """A source removed by a reload: its checks no longer count."""
        self._skews.pop(source, None)
        self._release(self._read())

    # -- inside ------------------------------------------------------------------------------

    def _read(self) -> Instant:
        now = Instant.of(self.local)
        before, self._last = self._last, now
        step = before.step_to(now)
        if abs(step) > STEP_TOLERANCE_SECONDS:
            self._stepped(before, now, step)
        elif (
            self._step_held_since is not None
            and now.mono - self._step_held_since >= self.hold_limit_seconds
        ):
            log.warning(
                "clock.unchecked",
                held_seconds=round(now.mono - self._step_held_since, 3),
                trusted="the host's clock, as no poll could check it",
            )
            self._step_held_since = None
            self._release(now)
        return now

    def _stepped(self, before: Instant, now: Instant, step: float) -> None:
        self._stepped_at = now.mono
        if self._anchor is None and self._verified:
            self._anchor = before
        if self._anchor is not None:
            self._step_held_since = now.mono
        self._verified = False
        log.warning("clock.stepped", step_seconds=round(step, 3), held=self._anchor is not None)
        if self.on_step is not None:
            self.on_step(step)

    def _release(self, now: Instant) -> None:
        anchor = self._anchor
        if anchor is None or self._step_held_since is not None:
            return
        if any(abs(skew) > SKEW_LIMIT_SECONDS for skew in self._skews.values()):
            return
        self._anchor = None
        judged = anchor.unix + (now.mono - anchor.mono)
        log.info("clock.trusted", correction_seconds=round(now.unix - judged, 3))
