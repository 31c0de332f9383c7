"""Upstream JSON to plain values: tolerant of any shape, never raises, drops credentials.

Hot path for large account lists, so records are NamedTuples and times are Unix floats.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import NamedTuple

import orjson

# Unix times above this are milliseconds (10^11 s is the year 5138).
MILLISECONDS_ABOVE = 1e11
# The latest instant a datetime can hold; beyond it a time is nonsense, not a far expiry.
_MAX_UNIX = 253_402_300_799.0
# Expiry sources that disagree by more than this are a mismatch; the earliest wins.
MISMATCH_TOLERANCE_SECONDS = 60.0
MAX_JOBS_RANGE = range(1, 9)  # what useapi.net accepts for maxJobs


class ExpirySource(StrEnum):
    """Which upstream field an expiry came from; the `expiry_source` label."""

    EXPIRE_TIME = "expire_time"
    EXPIRE_TIME_UTC = "expire_time_utc"
    JWT_EXP = "jwt_exp"
    NONE = "none"


class Account(NamedTuple):
    """One PixVerse account as the monitor keeps it: no token, no password."""

    email: str
    account_id: str  # "" when absent
    username: str  # "" when absent
    expiry_unix: float | None
    expiry_source: ExpirySource
    max_jobs: int  # 0 when absent or invalid
    # Every expiry the upstream gave, when they disagree by more than the tolerance.
    mismatch: tuple[tuple[ExpirySource, float], ...] = ()


class ParsedAccounts(NamedTuple):
    """The accounts list; `error` is set when the payload as a whole is unusable."""

    accounts: tuple[Account, ...]
    invalid: Mapping[str, int]  # field -> number of invalid values seen
    error: str | None = None


class AccountCapacity(NamedTuple):
    """Live capacity of one account from /scheduler/available."""

    max_jobs: int | None
    executing: int
    available: int


class ParsedCapacity(NamedTuple):
    by_email: Mapping[str, AccountCapacity]
    invalid: int
    error: str | None = None


def parse_accounts(payload: object) -> ParsedAccounts:
    """The body of GET /v2/pixverse/accounts (already JSON-decoded)."""
    if not isinstance(payload, dict):
        return ParsedAccounts((), {}, f"expected a JSON object at the top, got {_kind(payload)}")
    invalid: dict[str, int] = {}
    accounts = []
    for key, entry in payload.items():
        if not isinstance(entry, dict):
            invalid["entry"] = invalid.get("entry", 0) + 1
            continue
        accounts.append(_account(key, entry, invalid))
    return ParsedAccounts(tuple(accounts), invalid)


def _account(key: str, entry: dict[str, object], invalid: dict[str, int]) -> Account:
    # The key is the account's identity (unique by construction); the field only fills a gap.
    email = key
    if not email and isinstance(entry.get("email"), str):
        email = str(entry["email"])
    jwt = entry.get("jwt")
    if not isinstance(jwt, dict):
        if jwt is not None:
            invalid["jwt"] = invalid.get("jwt", 0) + 1
        jwt = {}

    candidates: list[tuple[ExpirySource, float]] = []
    raw = jwt.get("ExpireTime")
    if raw is not None:
        unix = _unix(raw)
        if unix is None:
            invalid["expire_time"] = invalid.get("expire_time", 0) + 1
        else:
            candidates.append((ExpirySource.EXPIRE_TIME, unix))
    raw = jwt.get("ExpireTimeUTC")
    if raw is not None:
        unix = _iso_unix(raw)
        if unix is None:
            invalid["expire_time_utc"] = invalid.get("expire_time_utc", 0) + 1
        else:
            candidates.append((ExpirySource.EXPIRE_TIME_UTC, unix))
    raw = jwt.get("token")
    if raw is not None:
        unix = jwt_exp(raw)
        if unix is not None:
            candidates.append((ExpirySource.JWT_EXP, unix))
        # An opaque token is normal ("…secured…"); only a readable exp is worth anything.

    mismatch: tuple[tuple[ExpirySource, float], ...] = ()
    if not candidates:
        expiry_source, expiry_unix = ExpirySource.NONE, None
    elif len(candidates) == 1:
        expiry_source, expiry_unix = candidates[0]
    else:
        times = [unix for _, unix in candidates]
        if max(times) - min(times) > MISMATCH_TOLERANCE_SECONDS:
            mismatch = tuple(candidates)
            expiry_source, expiry_unix = min(candidates, key=lambda c: c[1])
        else:
            expiry_source, expiry_unix = candidates[0]

    max_jobs = entry.get("maxJobs")
    if type(max_jobs) is not int or max_jobs not in MAX_JOBS_RANGE:
        invalid["max_jobs"] = invalid.get("max_jobs", 0) + 1
        max_jobs = 0

    return Account(
        email=email,
        account_id=_identifier(jwt.get("AccountId")),
        username=_text(jwt.get("Username")),
        expiry_unix=expiry_unix,
        expiry_source=expiry_source,
        max_jobs=max_jobs,
        mismatch=mismatch,
    )


def parse_capacity(payload: object) -> ParsedCapacity:
    """The body of GET /v2/pixverse/scheduler/available (already JSON-decoded)."""
    if not isinstance(payload, dict):
        return ParsedCapacity({}, 0, f"expected a JSON object at the top, got {_kind(payload)}")
    rows = payload.get("available", [])
    if not isinstance(rows, list):
        return ParsedCapacity({}, 0, f"expected `available` to be an array, got {_kind(rows)}")
    by_email: dict[str, AccountCapacity] = {}
    invalid = 0
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("email"), str):
            invalid += 1
            continue
        executing = _count(row.get("executing"))
        available = _count(row.get("available"))
        if executing is None or available is None:
            invalid += 1
            continue
        by_email[row["email"]] = AccountCapacity(_count(row.get("maxJobs")), executing, available)
    return ParsedCapacity(by_email, invalid)


def jwt_exp(token: object) -> float | None:
    """The `exp` claim of a JWT, decoded and never verified; None when there is none."""
    if not isinstance(token, str) or token.count(".") != 2:
        return None
    payload = token.split(".", 2)[1]
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error, orjson.JSONDecodeError):
        return None
    if not isinstance(claims, dict):
        return None
    return _unix(claims.get("exp"))


def _unix(value: object) -> float | None:
    if type(value) is not int and type(value) is not float:
        return None
    seconds = float(value)
    if seconds > MILLISECONDS_ABOVE:
        seconds /= 1000.0
    if not (0.0 < seconds <= _MAX_UNIX) or math.isnan(seconds):
        return None
    return seconds


def _iso_unix(value: object) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        return _unix(when.timestamp())
    except (OverflowError, ValueError):
        return None


def _identifier(value: object) -> str:
    if type(value) is int:
        return str(value)
    if isinstance(value, str):
        return value
    return ""


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _count(value: object) -> int | None:
    return value if type(value) is int and value >= 0 else None


def _kind(value: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )
