"""Parsing upstream JSON: every field may be absent or mistyped; credentials never kept."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.testing.fakeapi import FakeAccount, make_jwt
from monitor.upstream.decode import OUT_OF_RANGE, decode_json
from monitor.upstream.parse import (
    MAX_EMAIL_LENGTH,
    AccountMemo,
    ExpirySource,
    capacity_of,
    jwt_exp,
    parse_accounts,
    parse_capacity,
)
from tests.helpers import parse_reference

T = 1_800_000_000  # 2027-01-15T08:00:00Z
ISO = datetime.fromtimestamp(T, UTC).isoformat().replace("+00:00", "Z")


def one(jwt: Any = None, **entry: Any) -> dict[str, Any]:
    value: dict[str, Any] = {"email": "a@x.io", "maxJobs": 5, **entry}
    if jwt is not None:
        value["jwt"] = jwt
    return {"a@x.io": value}


@pytest.mark.parametrize(
    ("jwt", "expiry", "source"),
    [
        ({"ExpireTime": T}, T, ExpirySource.EXPIRE_TIME),
        ({"ExpireTime": T * 1000}, T, ExpirySource.EXPIRE_TIME),  # milliseconds
        ({"ExpireTime": T + 0.5}, T + 0.5, ExpirySource.EXPIRE_TIME),
        ({"ExpireTimeUTC": ISO}, T, ExpirySource.EXPIRE_TIME_UTC),
        ({"ExpireTimeUTC": "2027-01-15T08:00:00"}, T, ExpirySource.EXPIRE_TIME_UTC),  # naive=UTC
        ({"ExpireTimeUTC": "2027-01-15T10:00:00+02:00"}, T, ExpirySource.EXPIRE_TIME_UTC),
        ({"token": make_jwt("a", T)}, T, ExpirySource.JWT_EXP),
        # In order of availability when they agree within 60 s ...
        (
            {"ExpireTime": T, "ExpireTimeUTC": ISO, "token": make_jwt("a", T + 30)},
            T,
            ExpirySource.EXPIRE_TIME,
        ),
        ({"ExpireTimeUTC": ISO, "token": make_jwt("a", T - 59)}, T, ExpirySource.EXPIRE_TIME_UTC),
        # ... and the earliest when they disagree by more.
        ({"ExpireTime": T, "token": make_jwt("a", T - 3600)}, T - 3600, ExpirySource.JWT_EXP),
        ({"ExpireTime": T + 7200, "ExpireTimeUTC": ISO}, T, ExpirySource.EXPIRE_TIME_UTC),
        # Broken sources are skipped, the next one is used.
        ({"ExpireTime": "soon", "ExpireTimeUTC": ISO}, T, ExpirySource.EXPIRE_TIME_UTC),
        ({"ExpireTime": True, "token": make_jwt("a", T)}, T, ExpirySource.JWT_EXP),
        (
            {"ExpireTime": -5, "ExpireTimeUTC": "not a date", "token": make_jwt("a", T)},
            T,
            ExpirySource.JWT_EXP,
        ),
        ({"ExpireTime": float("inf")}, None, ExpirySource.NONE),
        ({"token": "abc…secured…cde"}, None, ExpirySource.NONE),
        ({"token": "a.b.c"}, None, ExpirySource.NONE),
        ({}, None, ExpirySource.NONE),
    ],
)
def test_expiry_sources(jwt: dict[str, Any], expiry: float | None, source: ExpirySource) -> None:
    (account,) = parse_accounts(one(jwt)).accounts
    assert account.expiry_unix == expiry
    assert account.expiry_source is source


def test_mismatch_records_every_value() -> None:
    (account,) = parse_accounts(one({"ExpireTime": T, "token": make_jwt("a", T - 3600)})).accounts
    assert account.mismatch == ((ExpirySource.EXPIRE_TIME, T), (ExpirySource.JWT_EXP, T - 3600))
    (agreeing,) = parse_accounts(one({"ExpireTime": T, "ExpireTimeUTC": ISO})).accounts
    assert agreeing.mismatch == ()


@pytest.mark.parametrize(
    ("max_jobs", "expected", "invalid"),
    [
        (1, 1, 0),
        (8, 8, 0),
        (0, 0, 1),
        (9, 0, 1),
        (-1, 0, 1),
        ("5", 0, 1),
        (5.0, 0, 1),
        (True, 0, 1),
        (None, 0, 1),
    ],
)
def test_max_jobs(max_jobs: Any, expected: int, invalid: int) -> None:
    parsed = parse_accounts(one({}, maxJobs=max_jobs))
    assert parsed.accounts[0].max_jobs == expected
    assert parsed.invalid.get("max_jobs", 0) == invalid


def test_entries_that_are_not_objects_are_counted_and_skipped() -> None:
    payload = {"a@x.io": {"maxJobs": 2}, "b@x.io": "nope", "c@x.io": [1], "d@x.io": None}
    parsed = parse_accounts(payload)
    assert [a.email for a in parsed.accounts] == ["a@x.io"]
    assert parsed.invalid["entry"] == 3
    assert parsed.error is None


@pytest.mark.parametrize("payload", [[], "x", 3, None, True])
def test_top_level_that_is_not_an_object_is_an_error(payload: object) -> None:
    parsed = parse_accounts(payload)
    assert parsed.error is not None
    assert parsed.accounts == ()


def test_identity_fields() -> None:
    entry = one({"AccountId": 1122334455, "Username": "neo"})
    (account,) = parse_accounts(entry).accounts
    assert (account.email, account.account_id, account.username) == ("a@x.io", "1122334455", "neo")
    (odd,) = parse_accounts(one({"AccountId": [1], "Username": 7})).accounts
    assert (odd.account_id, odd.username) == ("", "")


def test_the_key_is_the_identity_even_if_the_email_field_disagrees() -> None:
    payload = {"k1@x.io": {"email": "same@x.io"}, "k2@x.io": {"email": "same@x.io"}}
    assert [a.email for a in parse_accounts(payload).accounts] == ["k1@x.io", "k2@x.io"]


def test_token_and_password_are_not_kept() -> None:
    account = FakeAccount("a@x.io", T, password="hunter2-password")
    (parsed,) = parse_accounts({"a@x.io": account.entry()}).accounts
    text = repr(parsed)
    assert account.token_value() not in text
    assert "hunter2-password" not in text
    assert parsed.expiry_unix == T


def test_the_upstream_sample_model_parses() -> None:
    # The documented example, made valid JSON (its own sample has missing commas).
    sample = {
        "one@x.io": {
            "email": "one@x.io",
            "jwt": {
                "AccountId": 1122334455,
                "ExpireTime": 123456789,
                "ExpireTimeUTC": "2025-01-01T12:13:14.000Z",
                "Username": "u",
                "token": "abc…secured…cde",
            },
            "maxJobs": 8,
            "password": "…secured…",
        }
    }
    (account,) = parse_accounts(sample).accounts
    # 1973 vs 2025 disagree: the earliest wins.
    assert account.expiry_unix == 123456789
    assert len(account.mismatch) == 2


@pytest.mark.parametrize(
    "token",
    [
        "x.y",
        "a." + base64.urlsafe_b64encode(b"[1,2]").decode() + ".c",
        "a." + base64.urlsafe_b64encode(b'{"exp":"tomorrow"}').decode() + ".c",
        "a.!!!.c",
        "a." + base64.urlsafe_b64encode(b"\xff\xfe").decode() + ".c",
        12345,
    ],
)
def test_jwt_exp_of_garbage_is_none(token: object) -> None:
    assert jwt_exp(token) is None


def test_capacity() -> None:
    payload = {
        "executing": [{"id": "x", "type": "video"}],
        "available": [
            {"email": "a@x.io", "maxJobs": 5, "executing": 0, "available": 5},
            {"email": "b@x.io", "maxJobs": 8, "executing": 3, "available": 2},
            {"email": "c@x.io", "executing": "3", "available": 2},
            {"maxJobs": 1},
            "junk",
        ],
    }
    parsed = parse_capacity(payload)
    assert parsed.by_email["b@x.io"] == (3, 2)
    assert set(parsed.by_email) == {"a@x.io", "b@x.io"}
    assert parsed.invalid == 3
    assert parse_capacity({}).by_email == {}
    assert parse_capacity({"available": "x"}).error is not None
    assert parse_capacity([]).error is not None


def test_a_capacity_row_is_found_without_regard_to_case() -> None:
    """Policy matched emails without regard to case, the capacity join with it: an account
    listed as Ann@X.io had no live capacity when the scheduler wrote ann@x.io."""
    rows = [
        {"email": "ann@x.io", "executing": 1, "available": 4},
        {"email": "BOB@X.IO", "executing": 2, "available": 3},
        # Two rows differing only in case: each account gets its own.
        {"email": "Cy@x.io", "executing": 0, "available": 1},
        {"email": "cy@x.io", "executing": 0, "available": 2},
    ]
    by_email = parse_capacity({"available": rows}).by_email
    assert capacity_of(by_email, "Ann@X.io") == (1, 4)
    assert capacity_of(by_email, "bob@x.io") == (2, 3)
    assert capacity_of(by_email, "Bob@X.io") == (2, 3)
    assert capacity_of(by_email, "Cy@x.io") == (0, 1)
    assert capacity_of(by_email, "cy@x.io") == (0, 2)
    assert capacity_of(by_email, "CY@X.IO") == (0, 2)
    assert capacity_of(by_email, "dan@x.io") is None
    reversed_rows = parse_capacity({"available": rows[::-1]}).by_email
    assert capacity_of(reversed_rows, "Cy@x.io") == (0, 1)
    assert capacity_of(reversed_rows, "cy@x.io") == (0, 2)


def test_a_capacity_row_with_an_email_too_long_to_be_an_account_is_invalid() -> None:
    rows = [{"email": "a" * (MAX_EMAIL_LENGTH + 1), "executing": 0, "available": 1}]
    parsed = parse_capacity({"available": rows})
    assert (parsed.by_email, parsed.invalid) == ({}, 1)


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": 1e400, "b": "x\\ud800y"}',
        b'{"a": 1e400, "\\udfff": 1}',
        b'[1e400, [[["\\udc00"]]]]',
    ],
)
def test_a_lone_surrogate_is_refused_as_orjson_refuses_it(body: bytes) -> None:
    """orjson refuses a lone surrogate; the stdlib decoder, which reads a document again when
    it holds a number no double holds, kept it, and no string holding one can be written
    out (/metrics, a log line, `check`)."""
    with pytest.raises(ValueError, match="surrogate"):
        decode_json(body)
    with pytest.raises(ValueError, match="surrogate"):
        decode_json(body.replace(b"1e400", b"1"))  # orjson's own answer
    assert decode_json(b'{"a": 1e400, "b": "\\ud83d\\ude00"}') == {
        "a": OUT_OF_RANGE,
        "b": "\U0001f600",
    }


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=12,
)
interesting_keys = st.sampled_from(
    [
        "email",
        "jwt",
        "maxJobs",
        "password",
        "ExpireTime",
        "ExpireTimeUTC",
        "token",
        "AccountId",
        "Username",
        "available",
        "executing",
    ]
)
shaped = st.dictionaries(
    st.text(max_size=16),
    st.dictionaries(interesting_keys, json_values | st.dictionaries(interesting_keys, json_values)),
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, shaped))
def test_parsers_never_raise(payload: object) -> None:
    parsed = parse_accounts(payload)
    for account in parsed.accounts:
        assert account.expiry_unix is None or account.expiry_unix > 0
        assert 0 <= account.max_jobs <= 8
    parse_capacity(payload)
    parse_capacity({"available": payload})


@settings(max_examples=200)
@given(st.binary(max_size=64) | st.text(max_size=64))
def test_jwt_exp_never_raises(raw: bytes | str) -> None:
    text = raw if isinstance(raw, str) else base64.urlsafe_b64encode(raw).decode()
    jwt_exp(f"h.{text}.s")
    jwt_exp(text)


def test_parse_round_trip_through_json() -> None:
    body = orjson.dumps({"a@x.io": FakeAccount("a@x.io", T, expire_time_ms=True).entry()})
    (account,) = parse_accounts(orjson.loads(body)).accounts
    assert account.expiry_unix == T


@settings(max_examples=200)
@given(st.text(max_size=40), st.integers(min_value=1, max_value=10**10))
def test_jwt_exp_decodes_every_payload_length(subject: str, exp: int) -> None:
    # Payload segments of every length modulo 4 decode, whatever padding they need.
    assert jwt_exp(make_jwt(subject, exp)) == (exp / 1000 if exp > 1e11 else exp)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(json_values, shaped), min_size=1, max_size=4))
def test_memo_never_changes_the_result(payloads: list[object]) -> None:
    memo = AccountMemo()
    for payload in [*payloads, *payloads]:
        assert parse_accounts(payload, memo) == parse_accounts(payload)


def test_memo_sees_a_renewed_token_and_forgets_removed_accounts() -> None:
    memo = AccountMemo()
    first = {"a@x.io": {"jwt": {"token": make_jwt("a", T)}}, "b@x.io": {"jwt": {"ExpireTime": T}}}
    assert [a.expiry_unix for a in parse_accounts(first, memo).accounts] == [T, T]
    renewed = {"a@x.io": {"jwt": {"token": make_jwt("a", T + 86400)}}}
    assert parse_accounts(renewed, memo).accounts[0].expiry_unix == T + 86400
    assert len(memo) == 1  # b@x.io is gone from upstream, so from the memo too
    flipped = {"a@x.io": {"jwt": {"ExpireTime": True}}}
    assert parse_accounts(flipped, memo).invalid == {"expire_time": 1, "max_jobs": 1}
    assert parse_accounts({"a@x.io": {"jwt": {"ExpireTime": 1}}}, memo).accounts[0].expiry_unix == 1


# Fields as upstream writes them, near and past every bound: tokens that are JWTs (some
# disagreeing with the other fields), ISO dates in several forms, seconds and milliseconds.
expiry_numbers = st.one_of(
    st.integers(min_value=-10, max_value=10**14),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([T, T + 30, T + 61, T - 3600, T * 1000, 1e11, 1e11 + 1, True, 0]),
)
iso_texts = st.one_of(
    st.datetimes(timezones=st.none() | st.just(UTC)).map(lambda d: d.isoformat()),
    st.sampled_from([ISO, "2027-01-15T08:00:00", "2027-01-15T10:00:00+02:00", "soon", ""]),
)
tokens = st.one_of(
    st.builds(make_jwt, st.text(max_size=8), st.integers(min_value=-10, max_value=10**14)),
    st.sampled_from(["a.b.c", "abc…secured…cde", "..", "a.e30.b", "a.W10.b", "a.bnVsbA.b"]),
    json_values,
)
realistic_jwt = st.fixed_dictionaries(
    {},
    optional={
        "ExpireTime": expiry_numbers | json_values,
        "ExpireTimeUTC": iso_texts | json_values,
        "token": tokens,
        "AccountId": st.integers() | st.text(max_size=300) | json_values,
        "Username": st.text(max_size=300) | json_values,
    },
)
# All three sources present, a few seconds to a few minutes apart: around the tolerance.
close_jwt = st.builds(
    lambda time_, iso, token: {
        "ExpireTime": T + time_,
        "ExpireTimeUTC": datetime.fromtimestamp(T + iso, UTC).isoformat(),
        "token": make_jwt("a", T + token),
    },
    *[st.integers(min_value=-150, max_value=150)] * 3,
)
realistic = st.dictionaries(
    st.text(max_size=8) | st.sampled_from(["", "a@x.io", "x" * 321]),
    st.fixed_dictionaries(
        {},
        optional={
            "email": st.text(max_size=8) | json_values,
            "jwt": realistic_jwt | close_jwt | json_values,
            "maxJobs": st.integers(min_value=-2, max_value=10) | json_values,
        },
    )
    | json_values,
    max_size=6,
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(realistic, shaped, json_values), min_size=1, max_size=3))
def test_the_parser_agrees_with_its_reference(payloads: list[object]) -> None:
    # The straightforward parser it replaced, kept verbatim: same accounts, same invalid
    # counts in the same order, with a memo carried from body to body or without one.
    memo = AccountMemo()
    for payload in [*payloads, *payloads]:
        expected = parse_reference.parse_accounts(payload)
        for parsed in (parse_accounts(payload), parse_accounts(payload, memo)):
            assert parsed == expected
            assert list(parsed.invalid.items()) == list(expected.invalid.items())
            for got, want in zip(parsed.accounts, expected.accounts, strict=True):
                assert [type(v) for v in got] == [type(v) for v in want]
