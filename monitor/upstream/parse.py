"""Upstream JSON to plain values: tolerant of any shape, never raises, drops credentials.
Every value is range-checked here, where it enters; what is out of range counts as invalid.

Hot path for large account lists, so records are NamedTuples and times are Unix floats.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import NamedTuple

import orjson

from monitor.timefmt import MAX_UNIX

# Unix times above this are milliseconds (10^11 s is the year 5138).
MILLISECONDS_ABOVE = 1e11
# Expiry sources that disagree by more than this are a mismatch; the earliest wins.
MISMATCH_TOLERANCE_SECONDS = 60.0
# Jobs of one account, live: upstream allows 1..8; anything past this is nonsense.
MAX_JOBS_FIELD = 1000
# Longest account key (an email: RFC 5321 allows 254), and longest name: an id, a username,
# a plan, an AI service. Upstream text becomes label values, state-file texts and message
# lines: what is longer is not kept (see `bounded_name`).
MAX_EMAIL_LENGTH = 320
MAX_NAME_LENGTH = 256


class ExpirySource(StrEnum):
    """Which upstream field an expiry came from; the `expiry_source` label."""

    EXPIRE_TIME = "expire_time"
    EXPIRE_TIME_UTC = "expire_time_utc"
    JWT_EXP = "jwt_exp"
    NONE = "none"


_ORIGINS = (ExpirySource.EXPIRE_TIME, ExpirySource.EXPIRE_TIME_UTC, ExpirySource.JWT_EXP)


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
    """Live capacity of one account from /scheduler/available (its maxJobs there is not
    used: the accounts list is where maxJobs comes from)."""

    executing: int
    available: int


class ParsedCapacity(NamedTuple):
    # By email as upstream wrote it, and by its casefolded form too: email addresses are
    # compared without regard to case (as [[accounts]] matches them), so an account listed
    # as A@x.io gets the row of a@x.io. Look up with `capacity_of`.
    by_email: Mapping[str, AccountCapacity]
    invalid: int
    error: str | None = None


def capacity_of(by_email: Mapping[str, AccountCapacity], email: str) -> AccountCapacity | None:
    """The live capacity row of `email`: the one written exactly so, else any one that
    differs only in case."""
    found = by_email.get(email)
    if found is None:
        found = by_email.get(email.casefold())
    return found


_Parsed = tuple[Account, tuple[str, ...]]  # an account, and the fields of it that were invalid


class AccountMemo:
    """The accounts parsed at the previous poll, so that an unchanged entry is not parsed
    again (JWT and date decoding are most of the cost). Each is kept under its email with a
    fingerprint of the entry's fields, in which Python's salted hash stands in for the token:
    the token itself is never kept, nor the password, which is never read. Only the accounts
    of the last poll stay in it."""

    def __init__(self) -> None:
        self._previous: dict[str, tuple[tuple[object, ...], _Parsed]] = {}
        self._current: dict[str, tuple[tuple[object, ...], _Parsed]] = {}

    def __len__(self) -> int:
        """How many accounts it holds: those of the last poll."""
        return len(self._previous)

    def _rotate(self) -> None:
        self._previous, self._current = self._current, {}


def parse_accounts(payload: object, memo: AccountMemo | None = None) -> ParsedAccounts:
    """The body of GET /v2/pixverse/accounts (already JSON-decoded). With a `memo` carried
    from poll to poll, the result is the same, only faster for unchanged accounts."""
    if not isinstance(payload, dict):
        return ParsedAccounts((), {}, f"expected a JSON object at the top, got {_kind(payload)}")
    invalid: dict[str, int] = {}
    accounts = []
    if memo is not None:
        # Rotated only after the loop, so these stay the two halves of this poll.
        previous, current = memo._previous, memo._current
    for raw_key, entry in payload.items():
        if type(entry) is not dict:
            invalid["entry"] = invalid.get("entry", 0) + 1
            continue
        # The key is the account's identity, unique by construction. Without one, the
        # entry's own email stands in, unless another entry is keyed by it: two accounts
        # must never share a series.
        key = raw_key
        if not key:
            key = entry.get("email")
            if type(key) is not str or not key or key in payload:
                invalid["email"] = invalid.get("email", 0) + 1
                continue
        if len(key) > MAX_EMAIL_LENGTH:
            invalid["email"] = invalid.get("email", 0) + 1
            continue
        if memo is None:
            parsed = _account(key, entry)
        else:
            fingerprint = _fingerprint(entry)
            known = previous.get(key)
            # Compared, never hashed: a fingerprint may hold lists, and that is fine.
            if known is not None and known[0] == fingerprint:
                parsed = known[1]
            else:
                parsed = _account(key, entry)
            current[key] = (fingerprint, parsed)
        account, bad_fields = parsed
        accounts.append(account)
        for field_name in bad_fields:
            invalid[field_name] = invalid.get(field_name, 0) + 1
    if memo is not None:
        memo._rotate()
    return ParsedAccounts(tuple(accounts), invalid)


def _fingerprint(entry: dict[str, object]) -> tuple[object, ...]:
    """Everything an Account is made of besides its key, with types (True == 1 as a value,
    not as an ExpireTime) and the token's salted hash in place of the token."""
    jwt = entry.get("jwt")
    if type(jwt) is not dict:
        # Its content does not matter then (and may be a token in the wrong place).
        return (type(jwt), entry.get("email"), entry.get("maxJobs"), type(entry.get("maxJobs")))
    get = jwt.get
    token = get("token")
    time_, iso, account_id, username, max_jobs = (
        get("ExpireTime"),
        get("ExpireTimeUTC"),
        get("AccountId"),
        get("Username"),
        entry.get("maxJobs"),
    )
    return (
        # Only a string token is read; anything else counts by its type alone.
        hash(token) if type(token) is str else type(token),
        time_,
        type(time_),
        iso,
        type(iso),
        account_id,
        type(account_id),
        username,
        type(username),
        max_jobs,
        type(max_jobs),
        entry.get("email"),
    )


def _account(email: str, entry: dict[str, object]) -> _Parsed:
    """One entry to an Account, and the names of its fields that were invalid. The hot loop
    of a first poll: written flat, no list or call that the common entry does not need."""
    bad: tuple[str, ...] = ()
    jwt = entry.get("jwt")
    if type(jwt) is not dict:
        if jwt is not None:
            bad = ("jwt",)
        jwt = _NO_JWT
    get = jwt.get
    raw_time, raw_iso, raw_token = get("ExpireTime"), get("ExpireTimeUTC"), get("token")
    by_time = by_iso = by_token = None
    if raw_time is not None:
        by_time = _unix(raw_time)
        if by_time is None:
            bad += ("expire_time",)
    if raw_iso is not None:
        by_iso = iso_unix(raw_iso)
        if by_iso is None:
            bad += ("expire_time_utc",)
    if raw_token is not None:
        # An opaque token is normal ("…secured…"); only a readable exp is worth anything.
        by_token = jwt_exp(raw_token)

    # In order of availability (docs/operations.md, "When useapi.net misbehaves"), unless
    # they disagree by more than the tolerance: then the earliest wins and every value is
    # kept for the log.
    mismatch: tuple[tuple[ExpirySource, float], ...] = ()
    expiry_source: ExpirySource
    expiry_unix: float | None
    if by_time is not None:
        expiry_source, expiry_unix = ExpirySource.EXPIRE_TIME, by_time
    elif by_iso is not None:
        expiry_source, expiry_unix = ExpirySource.EXPIRE_TIME_UTC, by_iso
    elif by_token is not None:
        expiry_source, expiry_unix = ExpirySource.JWT_EXP, by_token
    else:
        expiry_source, expiry_unix = ExpirySource.NONE, None
    if expiry_unix is not None and (by_iso is not None or by_token is not None):
        # `expiry_unix` is the first value present, so by_time is it or absent.
        earliest = latest = expiry_unix
        for value in (by_iso, by_token):
            if value is not None:
                if value < earliest:
                    earliest = value
                elif value > latest:
                    latest = value
        if latest - earliest > MISMATCH_TOLERANCE_SECONDS:
            mismatch = tuple(
                (origin, unix)
                for origin, unix in zip(_ORIGINS, (by_time, by_iso, by_token), strict=True)
                if unix is not None
            )
            expiry_source, expiry_unix = next(m for m in mismatch if m[1] == earliest)

    max_jobs = entry.get("maxJobs")
    if type(max_jobs) is not int or not 1 <= max_jobs <= 8:
        bad += ("max_jobs",)
        max_jobs = 0
    account_id = get("AccountId")
    account_id = str(account_id) if type(account_id) is int else bounded_name(account_id) or ""
    username = bounded_name(get("Username")) or ""
    # tuple.__new__ skips the generated keyword-handling __new__: half the cost, 10,000 times.
    account = _new_tuple(
        Account,
        (email, account_id, username, expiry_unix, expiry_source, max_jobs, mismatch),
    )
    return account, bad


# Read in place of a `jwt` that is absent or not an object; never written to.
_NO_JWT: dict[str, object] = {}
_new_tuple = tuple.__new__


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
        if type(row) is not dict:
            invalid += 1
            continue
        email, executing, available = row.get("email"), row.get("executing"), row.get("available")
        if (
            type(email) is not str
            or len(email) > MAX_EMAIL_LENGTH
            or type(executing) is not int
            or type(available) is not int
            or not 0 <= executing <= MAX_JOBS_FIELD
            or not 0 <= available <= MAX_JOBS_FIELD
        ):
            invalid += 1
            continue
        by_email[email] = _new_tuple(AccountCapacity, (executing, available))
    # Rows written exactly so win over one that differs in case, whatever their order.
    for email, row in list(by_email.items()):
        folded = email.casefold()
        if folded != email:
            by_email.setdefault(folded, row)
    return ParsedCapacity(by_email, invalid)


_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")


def jwt_exp(token: object) -> float | None:
    """The `exp` claim of a JWT, decoded and never verified; None when there is none."""
    if not isinstance(token, str):
        return None
    # Exactly two dots: three parts (at most four are made, however many dots there are).
    parts = token.split(".", 3)
    if len(parts) != 3:
        return None
    segment = parts[1]
    try:
        # binascii directly is ~3x faster than base64.urlsafe_b64decode; padding may be excess.
        raw = binascii.a2b_base64(segment.encode().translate(_URLSAFE_TO_STANDARD) + b"==")
        claims = orjson.loads(raw)
    except (ValueError, binascii.Error, orjson.JSONDecodeError):
        return None
    if not isinstance(claims, dict):
        return None
    return _unix(claims.get("exp"))


def _unix(value: object) -> float | None:
    if type(value) is int or type(value) is float:
        seconds = value / 1000.0 if value > MILLISECONDS_ABOVE else float(value)
        # NaN fails both comparisons, so it is refused too.
        if 0.0 < seconds <= MAX_UNIX:
            return seconds
    return None


def iso_unix(value: object) -> float | None:
    if type(value) is not str:
        return None
    try:
        when = datetime.fromisoformat(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp()
    except (ValueError, OverflowError):
        return None
    return seconds if 0.0 < seconds <= MAX_UNIX else None


def bounded_name(value: object) -> str | None:
    """A name upstream gives (a username, an account id, a plan, an AI service): a string of
    1 to MAX_NAME_LENGTH characters; None for anything else. The one rule for every name
    read from upstream, as MAX_EMAIL_LENGTH is for account keys."""
    if type(value) is str and 0 < len(value) <= MAX_NAME_LENGTH:
        return value
    return None


def _kind(value: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )
