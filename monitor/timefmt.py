"""Time as text, in one place: durations as written in the config ("90s", "5m", "1h30m", "7d",
300) and shown to people, timestamps in UTC ISO 8601 / RFC 3339, and HTTP dates."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

# The last instant that ISO 8601 writes with four digits and a datetime holds,
# 9999-12-31T23:59:59Z: a time past it is nonsense, not a far future.
MAX_UNIX = 253_402_300_799.0
# The longest duration a setting may have. Longer is a typo, and would overflow the date
# arithmetic it is used in (now + 999999998 days has no datetime).
MAX_DURATION = timedelta(days=3650)

_UNIT_MICROSECONDS = {
    "ms": 1_000,
    "s": 1_000_000,
    "m": 60_000_000,
    "h": 3_600_000_000,
    "d": 86_400_000_000,
    "w": 604_800_000_000,
}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+")
_MICROSECOND = timedelta(microseconds=1)
_MAX_MICROSECONDS = MAX_DURATION // _MICROSECOND


def parse_duration(value: object) -> timedelta:
    """Parse a duration of at most MAX_DURATION; raise ValueError with a readable message
    when it is not one. Exact to the microsecond (no float on the way), so that
    `format_duration` round-trips."""
    if isinstance(value, bool):
        raise ValueError(f'expected a duration such as "90s", "5m" or "72h", got {value!r}')
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a duration cannot be negative, got {value}")
        return _microseconds(value * 1_000_000, value)
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit():
            # Past 15 digits it is too long anyway; int() refuses past 4300.
            seconds = int(text) if len(text) <= 15 else _MAX_MICROSECONDS
            return _microseconds(seconds * 1_000_000, value)
        if _WHOLE.fullmatch(text):
            total = sum(
                (Decimal(n) * _UNIT_MICROSECONDS[u] for n, u in _PART.findall(text)), Decimal(0)
            )
            return _microseconds(int(total.to_integral_value(ROUND_HALF_EVEN)), value)
    raise ValueError(
        f'expected a duration such as "90s", "5m", "72h", "7d" or integer seconds, '
        f"got {_short(value)}"
    )


def _microseconds(count: int, value: object) -> timedelta:
    if count > _MAX_MICROSECONDS:
        limit = format_duration(MAX_DURATION)
        raise ValueError(f"a duration must be at most {limit} (ten years), got {_short(value)}")
    return timedelta(microseconds=count)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def format_duration(delta: timedelta) -> str:
    """The shortest config spelling of a duration, exact to the microsecond: 5400 s ->
    "1h30m", 1.5 ms -> "1.5ms". `parse_duration` reads it back to the same value."""
    micros = delta // _MICROSECOND
    if micros == 0:
        return "0s"
    sign = "-" if micros < 0 else ""
    micros = abs(micros)
    parts = []
    for unit, size in (("d", 86_400_000_000), ("h", 3_600_000_000), ("m", 60_000_000)):
        count, micros = divmod(micros, size)
        if count:
            parts.append(f"{count}{unit}")
    seconds, micros = divmod(micros, 1_000_000)
    if seconds:
        parts.append(f"{seconds}s")
    millis, micros = divmod(micros, 1000)
    if micros:
        parts.append(f"{millis}.{micros:03d}".rstrip("0") + "ms")
    elif millis:
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


def format_time_left(ttl_seconds: float | None) -> str:
    """The time left before an expiry, for people: "2d 3h", "expired 3h 5m ago", "unknown"."""
    if ttl_seconds is None:
        return "unknown"
    if ttl_seconds <= 0:
        return f"expired {format_ttl(-ttl_seconds)} ago"
    return format_ttl(ttl_seconds)


def readable_utc(unix: float, *, seconds: bool = False, zone: bool = True) -> str:
    """Unix seconds as people read a UTC time: "2026-11-28 05:32 UTC" (or "05:32:24 UTC");
    without `zone`, "2026-11-28 05:32", for a column whose heading says UTC."""
    when = datetime.fromtimestamp(unix, UTC)
    text = when.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return f"{text} UTC" if zone else text


def iso_utc(unix: float) -> str:
    """Unix seconds as ISO 8601 UTC to the second: "2026-11-28T05:32:24Z"."""
    return datetime.fromtimestamp(unix, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def human_utc(unix: float) -> str:
    """Unix seconds as people read a time in a message, to the minute: "2026-12-07 06:00 UTC"."""
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%d %H:%M UTC")


def rfc3339(unix: float) -> str:
    """Unix seconds as RFC 3339 UTC with milliseconds, as Alertmanager writes times."""
    return (
        datetime.fromtimestamp(unix, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


_DAYS = "Mon|Tue|Wed|Thu|Fri|Sat|Sun"
_LONG_DAYS = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH = "|".join(_MONTHS)
_TIME = r"([0-9]{2}):([0-9]{2}):([0-9]{2})"
# RFC 9110's HTTP-date: IMF-fixdate, which every server sends, and the two obsolete forms a
# recipient must still read (RFC 850's, with a two-digit year, and C's asctime()); ASCII
# digits only. Groups: day, month, year, hour, minute, second (asctime: month first).
_IMF_FIXDATE = re.compile(rf"(?:{_DAYS}), ([0-9]{{2}}) ({_MONTH}) ([0-9]{{4}}) {_TIME} GMT")
_RFC850_DATE = re.compile(rf"(?:{_LONG_DAYS}), ([0-9]{{2}})-({_MONTH})-([0-9]{{2}}) {_TIME} GMT")
_ASCTIME_DATE = re.compile(rf"(?:{_DAYS}) ({_MONTH}) ([0-9 ][0-9]) {_TIME} ([0-9]{{4}})")


def http_date_unix(value: str | None, now_unix: float) -> float | None:
    """Unix seconds of an HTTP date (a `Date` or `Retry-After` header) in any of RFC 9110's
    three forms; None when absent or anything else. A two-digit year more than 50 years
    after `now_unix` is of the century before; a leap second is the last of its minute."""
    if value is None:
        return None
    text = value.strip(" \t")
    if found := _IMF_FIXDATE.fullmatch(text):
        day, month, year, hour, minute, second = found.groups()
    elif found := _RFC850_DATE.fullmatch(text):
        day, month, short_year, hour, minute, second = found.groups()
        this_year = datetime.fromtimestamp(min(max(0.0, now_unix), MAX_UNIX), UTC).year
        year = str(2000 + int(short_year))
        if int(year) > this_year + 50:
            year = str(int(year) - 100)
    elif found := _ASCTIME_DATE.fullmatch(text):
        month, day, hour, minute, second, year = found.groups()
    else:
        return None
    try:
        when = datetime(
            int(year),
            _MONTHS.index(month) + 1,
            int(day),
            int(hour),
            int(minute),
            min(int(second), 59),
            tzinfo=UTC,
        )
    except ValueError:  # 31 Feb, hour 25, year 0
        return None
    return when.timestamp()
