"""When this process started, on the monotonic clock: where `check --timeout` counts from, so
that the interpreter's start-up and the imports count against the budget too."""

from __future__ import annotations

import os
import time
from pathlib import Path

# /proc/self/stat, field 22: the start time in clock ticks since boot. Fields are counted after
# the command name, which is in parentheses and may hold spaces or ")" itself.
_START_FIELD_AFTER_NAME = 22 - 3


def process_started_monotonic() -> float:
    """`time.monotonic()` as it was when the kernel started this process (Linux: from
    /proc/self/stat against CLOCK_BOOTTIME); where /proc cannot say, the time of this call."""
    now = time.monotonic()
    age = process_age_seconds()
    return now - age if age is not None else now


def process_age_seconds(stat_path: Path = Path("/proc/self/stat")) -> float | None:
    """Seconds since the kernel started this process, to a clock tick; None where unknown."""
    try:
        stat = stat_path.read_text(encoding="ascii", errors="replace")
        ticks = int(stat.rpartition(")")[2].split()[_START_FIELD_AFTER_NAME])
        per_second = os.sysconf("SC_CLK_TCK")
        booted = time.clock_gettime(time.CLOCK_BOOTTIME)
    except (OSError, ValueError, IndexError, AttributeError):
        return None
    if per_second <= 0:
        return None
    age = booted - ticks / per_second
    # A clock tick of rounding may put the start a hair in the future; more than that, and the
    # two clocks do not count from the same boot: not worth trusting.
    return max(0.0, age) if age > -1.0 else None
