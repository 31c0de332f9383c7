"""Time as text, in one place: durations as written in the config ("90s", "5m", "1h30m", "7d",
300) and shown to people, and timestamps in UTC ISO 8601 / RFC 3339."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

# The last instant that ISO 8601 writes with four digits and a datetime holds,
# 9999-12-31T23:59:59Z: a time past it is nonsense, not a far future.
MAX_UNIX = 253_402_300_799.0
# The longest duration a setting may have. Longer is a typo, and would overflow the date
# arithmetic it is used in.
MAX_DURATION = timedelta(days=3650)
_MAX_DURATION_SECONDS = MAX_DURATION.total_seconds()

_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+")


def parse_duration(value: object) -> timedelta:
    """Parse a duration of at most MAX_DURATION; raise ValueError with a readable message
    when it is not one."""
    if isinstance(value, bool):
        raise ValueError(f'expected a duration such as "90s", "5m" or "72h", got {value!r}')
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a duration cannot be negative, got {value}")
        return _bounded(value, value)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return _bounded(int(text) if len(text) <= 15 else math.inf, value)
        if _WHOLE.fullmatch(text):
            seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(text))
            return _bounded(seconds, value)
    raise ValueError(
        f'expected a duration such as "90s", "5m", "72h", "7d" or integer seconds, '
        f"got {_short(value)}"
    )


def _bounded(seconds: float, value: object) -> timedelta:
    # Compared before any float conversion: 10**400 has none. inf compares greater too.
    if seconds > _MAX_DURATION_SECONDS:
        limit = format_duration(MAX_DURATION)
        raise ValueError(f"must be at most {limit} (ten years), got {_short(value)}")
    return timedelta(seconds=seconds)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def format_duration(delta: timedelta) -> str:
    """The shortest config spelling of a duration, e.g. 5400 s -> "1h30m"."""
    millis = round(delta.total_seconds() * 1000)
    if millis == 0:
        return "0s"
    sign = "-" if millis < 0 else ""
    millis = abs(millis)
    parts = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        count, millis = divmod(millis, size)
        if count:
            parts.append(f"{count}{unit}")
    if millis:
        parts.append(f"{millis}ms")
    return sign + "".join(parts)


def format_ttl(seconds: float) -> str:
    """A time-to-live for a table, two units at most: "2d 3h", "5h 12m", "42s", "-3h 5m"."""
    sign = "-" if seconds < 0 else ""
    rest = int(abs(seconds))
    days, rest = divmod(rest, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        text = f"{days}d {hours}h"
    elif hours:
        text = f"{hours}h {minutes}m"
    elif minutes:
        text = f"{minutes}m {secs}s"
    else:
        text = f"{secs}s"
    return sign + text


def iso_utc(unix: float) -> str:
    """Unix seconds as ISO 8601 UTC to the second: "2026-11-28T05:32:24Z"."""
    return datetime.fromtimestamp(unix, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def rfc3339(unix: float) -> str:
    """Unix seconds as RFC 3339 UTC with milliseconds, as Alertmanager writes times."""
    return (
        datetime.fromtimestamp(unix, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )
