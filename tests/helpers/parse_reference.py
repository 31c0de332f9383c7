"""The accounts-list parser as it was before it was made faster, kept verbatim as the
reference that the fast one must agree with on every body (values, invalid counts and their
order, memo or not). `iso_unix` and `bounded_name` did not change and are the module's own."""

from __future__ import annotations

import binascii

import orjson

from monitor.timefmt import MAX_UNIX
from monitor.upstream.parse import (
    MAX_EMAIL_LENGTH,
    MILLISECONDS_ABOVE,
    MISMATCH_TOLERANCE_SECONDS,
    Account,
    ExpirySource,
    ParsedAccounts,
    bounded_name,
    iso_unix,
)

_ORIGINS = (ExpirySource.EXPIRE_TIME, ExpirySource.EXPIRE_TIME_UTC, ExpirySource.JWT_EXP)

_Expiry = tuple[ExpirySource, float | None, tuple[tuple[ExpirySource, float], ...], tuple[str, ...]]
_Parsed = tuple[Account, tuple[str, ...]]


def parse_accounts(payload: object) -> ParsedAccounts:
    """The body of GET /v2/pixverse/accounts (already JSON-decoded)."""
    if not isinstance(payload, dict):
        return ParsedAccounts((), {}, f"expected a JSON object at the top, got {_kind(payload)}")
    invalid: dict[str, int] = {}
    accounts = []
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
        parsed = _account(key, entry)
        account, bad_fields = parsed
        accounts.append(account)
        for field_name in bad_fields:
            invalid[field_name] = invalid.get(field_name, 0) + 1
    return ParsedAccounts(tuple(accounts), invalid)


def _account(email: str, entry: dict[str, object]) -> _Parsed:
    """One entry to an Account, and the names of its fields that were invalid."""
    bad: list[str] = []
    jwt = entry.get("jwt")
    if type(jwt) is not dict:
        if jwt is not None:
            bad.append("jwt")
        jwt = {}
    get = jwt.get
    expiry_source, expiry_unix, mismatch, bad_expiry = _expiry(
        get("ExpireTime"), get("ExpireTimeUTC"), get("token")
    )
    bad.extend(bad_expiry)
    max_jobs = entry.get("maxJobs")
    if type(max_jobs) is not int or not 1 <= max_jobs <= 8:
        bad.append("max_jobs")
        max_jobs = 0
    # Positional: measurably faster than keywords for 10,000 accounts.
    account = Account(
        email,
        _identifier(get("AccountId")),
        _text(get("Username")),
        expiry_unix,
        expiry_source,
        max_jobs,
        mismatch,
    )
    return account, tuple(bad)


def _expiry(raw_time: object, raw_iso: object, raw_token: object) -> _Expiry:
    """Expiry from the three upstream fields, in the order and with the mismatch rule of
    docs/operations.md ("When useapi.net misbehaves")."""
    bad: list[str] = []
    by_time = by_iso = by_token = None
    if raw_time is not None:
        by_time = _unix(raw_time)
        if by_time is None:
            bad.append("expire_time")
    if raw_iso is not None:
        by_iso = iso_unix(raw_iso)
        if by_iso is None:
            bad.append("expire_time_utc")
    if raw_token is not None:
        # An opaque token is normal ("…secured…"); only a readable exp is worth anything.
        by_token = jwt_exp(raw_token)

    # In order of availability, unless they disagree by more than the tolerance: then the
    # earliest wins and every value is kept for the log.
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
        values = [v for v in (by_time, by_iso, by_token) if v is not None]
        earliest = min(values)
        if max(values) - earliest > MISMATCH_TOLERANCE_SECONDS:
            mismatch = tuple(
                (origin, unix)
                for origin, unix in zip(_ORIGINS, (by_time, by_iso, by_token), strict=True)
                if unix is not None
            )
            expiry_source, expiry_unix = next(m for m in mismatch if m[1] == earliest)
    return expiry_source, expiry_unix, mismatch, tuple(bad)


_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")


def jwt_exp(token: object) -> float | None:
    """The `exp` claim of a JWT, decoded and never verified; None when there is none."""
    if not isinstance(token, str) or token.count(".") != 2:
        return None
    segment = token.split(".", 2)[1]
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


def _identifier(value: object) -> str:
    if type(value) is int:
        return str(value)
    return _text(value)


def _text(value: object) -> str:
    return bounded_name(value) or ""


def _kind(value: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )
