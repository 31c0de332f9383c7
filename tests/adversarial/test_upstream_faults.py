"""The daemon against a hostile upstream: every fault ends in its outcome, the last good data
stays, nothing leaks (connections, descriptors, the token), and polling goes on."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator

import orjson
import pytest

from monitor.config.load import load_config
from monitor.errors import Outcome
from monitor.retry import retryable_status
from monitor.service.daemon import Daemon
from monitor.testing.fakeapi import ACCOUNTS, AVAILABLE, FakeAccount, FakeUpstream, Fault
from tests.helpers import API_TOKEN, DAY, ConfigWriter, LogCapture
from tests.helpers.fds import open_fds, open_sockets
from tests.helpers.inprocess import first_poll, running, scrape, series

MAX_BYTES = 64 * 1024
RETRY_NOW = {"Retry-After": "0"}  # the server asks for no more than the backoff


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """A retry waits the backoff at least, whatever Retry-After says (retry.retry_delay): a
    millisecond here, so that the hundreds of faults below take seconds, not minutes."""
    monkeypatch.setattr("monitor.upstream.client.BACKOFF_BASE_SECONDS", 0.001)


@pytest.fixture
async def daemon(
    fake: FakeUpstream, configs: ConfigWriter, anyio_backend: str
) -> AsyncIterator[Daemon]:
    path = configs.for_upstream(
        fake.base_url, timeout="1s", poll=f"max_response_bytes = {MAX_BYTES}"
    )
    async with running(Daemon(load_config(path, env={}))) as started:
        await first_poll(started)
        await _healthy(started)
        yield started


async def _healthy(daemon: Daemon) -> None:
    result = await daemon.poll("main")
    assert result is not None and result.outcome is Outcome.SUCCESS, result


def _accounts_held(daemon: Daemon) -> set[str]:
    (source,) = daemon.snapshot.sources
    assert source.evaluation is not None
    return {status.account.email for status in source.evaluation.accounts}


GOOD = {"alice@example.com", "bob@example.com"}

# (name, endpoint, faults in order, outcome). Each is one poll; then a healthy one follows.
FAULTS: list[tuple[str, str, list[Fault], Outcome]] = [
    ("hang", ACCOUNTS, [Fault(200, body=b"{}", delay_seconds=1.5)], Outcome.TIMEOUT),
    ("drip-fed answer", ACCOUNTS, [Fault(200, body=b"{}", drip_seconds=0.05)], Outcome.TIMEOUT),
    (
        "drip-fed body",
        ACCOUNTS,
        [Fault(200, body=b" " * 6000 + b"{}", drip_seconds=0.02, drip_bytes=64)],
        Outcome.TIMEOUT,
    ),
    ("reset", ACCOUNTS, [Fault(reset=True)], Outcome.CONNECTION_ERROR),
    ("closed without answer", ACCOUNTS, [Fault(drop_connection=True)], Outcome.CONNECTION_ERROR),
    (
        "body cut short",
        ACCOUNTS,
        [Fault(200, body=b'{"x@x.io": {"maxJobs": 3}}', truncate_to=6)],
        Outcome.CONNECTION_ERROR,
    ),
    (
        "head too large",
        ACCOUNTS,
        [Fault(200, body=b"{}", headers={"X-Junk": "a" * 200_000})],
        Outcome.CONNECTION_ERROR,
    ),
    ("oversize", ACCOUNTS, [Fault(200, body=b" " * (MAX_BYTES + 1) + b"{}")], Outcome.TOO_LARGE),
    (
        "gzip bomb",
        ACCOUNTS,
        [
            Fault(
                200,
                body=gzip.compress(b" " * 20_000_000),
                headers={"Content-Encoding": "gzip"},
            )
        ],
        Outcome.TOO_LARGE,
    ),
    (
        "bad gzip",
        ACCOUNTS,
        [Fault(200, body=b"not gzip at all", headers={"Content-Encoding": "gzip"})],
        Outcome.INVALID_PAYLOAD,
    ),
    ("deep JSON", ACCOUNTS, [Fault(200, body=b"[" * 5000 + b"]" * 5000)], Outcome.INVALID_PAYLOAD),
    (
        "deep JSON object",
        ACCOUNTS,
        [Fault(200, body=b'{"a":' * 3000 + b"1" + b"}" * 3000)],
        Outcome.INVALID_PAYLOAD,
    ),
    ("not JSON", ACCOUNTS, [Fault(200, body=b"<html>maintenance</html>")], Outcome.INVALID_PAYLOAD),
    ("empty body", ACCOUNTS, [Fault(200, body=b"")], Outcome.INVALID_PAYLOAD),
    ("NaN", ACCOUNTS, [Fault(200, body=b'{"x@x.io": NaN}')], Outcome.INVALID_PAYLOAD),
    ("array", ACCOUNTS, [Fault(200, body=b"[1, 2]")], Outcome.INVALID_PAYLOAD),
    ("null", ACCOUNTS, [Fault(200, body=b"null")], Outcome.INVALID_PAYLOAD),
    ("not UTF-8", ACCOUNTS, [Fault(200, body=b'{"\xff": 1}')], Outcome.INVALID_PAYLOAD),
    ("401", ACCOUNTS, [Fault(401)], Outcome.UNAUTHORIZED),
    ("403", ACCOUNTS, [Fault(403)], Outcome.UNAUTHORIZED),
    ("418", ACCOUNTS, [Fault(418, body=b"teapot")], Outcome.HTTP_ERROR),
    (
        "redirect",
        ACCOUNTS,
        [Fault(301, headers={"Location": "http://x.invalid/"})],
        Outcome.HTTP_ERROR,
    ),
    ("204", ACCOUNTS, [Fault(204, body=b"")], Outcome.HTTP_ERROR),
    ("500 three times", ACCOUNTS, [Fault(500, headers=RETRY_NOW)] * 3, Outcome.HTTP_ERROR),
    ("503 once", ACCOUNTS, [Fault(503, headers=RETRY_NOW)], Outcome.SUCCESS),
    (
        "429 asking too long",
        ACCOUNTS,
        [Fault(429, headers={"Retry-After": "99999999999"})],
        Outcome.HTTP_ERROR,
    ),
    (
        "429 nonsense Retry-After",
        ACCOUNTS,
        [Fault(429, headers={"Retry-After": "soon"})] * 3,
        Outcome.HTTP_ERROR,
    ),
    ("status 999", ACCOUNTS, [Fault(999, body=b"?")], Outcome.HTTP_ERROR),
    ("capacity hang", AVAILABLE, [Fault(200, delay_seconds=1.5)], Outcome.CAPACITY_UNAVAILABLE),
    ("capacity reset", AVAILABLE, [Fault(reset=True)], Outcome.CAPACITY_UNAVAILABLE),
    (
        "capacity junk",
        AVAILABLE,
        [Fault(200, body=b'{"available": 7}')],
        Outcome.CAPACITY_UNAVAILABLE,
    ),
    ("capacity 500", AVAILABLE, [Fault(500, headers=RETRY_NOW)] * 3, Outcome.CAPACITY_UNAVAILABLE),
]


@pytest.mark.anyio
async def test_every_fault_keeps_the_daemon_watching(
    daemon: Daemon, fake: FakeUpstream, logs: LogCapture
) -> None:
    fds = open_fds()
    for name, endpoint, faults, outcome in FAULTS:
        fake.fail_next(endpoint, *faults)
        result = await daemon.poll("main")
        assert result is not None, name
        assert result.outcome is outcome, (name, result.error)
        # The last good data stays, whatever broke.
        assert _accounts_held(daemon) == GOOD, name
        up = daemon.snapshot.sources[0].up
        assert up is outcome.has_fresh_data, name
        await _healthy(daemon)
    got = await series(daemon)
    assert got[("pixverse_monitor_up", frozenset({("source", "main")}))] == 1
    # A timeout cut short may leave a socket closing; never one per fault.
    assert open_fds() <= fds + 3
    assert not logs.events("task.failed")


@pytest.mark.anyio
async def test_every_status_code_has_its_outcome(daemon: Daemon, fake: FakeUpstream) -> None:
    seen: dict[int, Outcome] = {}
    for status in range(200, 600):
        if status in (200, 404):
            continue
        retried = retryable_status(status)
        # These never carry a body; one would be read as the start of the next answer.
        body = b"" if status in (204, 304) else b"nope"
        fault = Fault(status, body=body, headers=RETRY_NOW)
        fake.fail_next(ACCOUNTS, *[fault] * (3 if retried else 1))
        result = await daemon.poll("main")
        assert result is not None
        seen[status] = result.outcome
        await _healthy(daemon)
    assert {s for s, o in seen.items() if o is Outcome.UNAUTHORIZED} == {401, 403}
    assert {o for s, o in seen.items() if s not in (401, 403)} == {Outcome.HTTP_ERROR}
    assert _accounts_held(daemon) == GOOD


@pytest.mark.anyio
async def test_an_error_text_that_repeats_the_token_is_scrubbed(
    daemon: Daemon, fake: FakeUpstream, logs: LogCapture
) -> None:
    echo = orjson.dumps({"error": f"Bearer {API_TOKEN} is not a valid token", "code": 401})
    fake.fail_next(ACCOUNTS, Fault(401, body=echo))
    result = await daemon.poll("main")
    assert result is not None and result.outcome is Outcome.UNAUTHORIZED
    assert result.error is not None and "is not a valid token" in result.error
    assert API_TOKEN not in result.error
    assert API_TOKEN not in logs.text
    assert "is not a valid token" in logs.text


@pytest.mark.anyio
async def test_a_number_too_large_for_a_double_fails_only_its_account(
    daemon: Daemon, fake: FakeUpstream, now: float
) -> None:
    good = FakeAccount("good@x.io", now + 10 * DAY).entry()
    huge = FakeAccount("huge@x.io", now + 11 * DAY, expiry_fields=("expire_time",)).entry()
    body = orjson.dumps({"good@x.io": good, "huge@x.io": huge})
    # 1e400 is valid JSON, but no double holds it.
    expire = str(int(huge["jwt"]["ExpireTime"])).encode()
    body = body.replace(expire, b"1e400")
    assert b"1e400" in body
    fake.serve_raw(ACCOUNTS, body)
    result = await daemon.poll("main")
    assert result is not None and result.outcome is Outcome.SUCCESS, result.error
    assert result.accounts is not None
    by_email = {a.email: a for a in result.accounts.accounts}
    assert set(by_email) == {"good@x.io", "huge@x.io"}
    assert by_email["good@x.io"].expiry_unix is not None
    assert by_email["huge@x.io"].expiry_unix is None
    assert result.accounts.invalid == {"expire_time": 1}

    # The same in the capacity answer costs that row only.
    fake.serve_raw(ACCOUNTS, None)
    rows = [
        {"email": "alice@example.com", "executing": 1, "available": 2},
        {"email": "bob@example.com", "executing": "BIG", "available": 1},
        {"email": "eve@x.io", "executing": 0, "available": "HUGE"},
    ]
    raw = orjson.dumps({"available": rows})
    raw = raw.replace(b'"BIG"', b"1" * 40).replace(b'"HUGE"', b"-1e400")
    fake.serve_raw(AVAILABLE, raw)
    result = await daemon.poll("main")
    assert result is not None and result.outcome is Outcome.SUCCESS, result.error
    assert result.capacity is not None
    assert set(result.capacity.by_email) == {"alice@example.com"}
    assert result.capacity.invalid == 2


@pytest.mark.anyio
async def test_an_empty_key_never_gives_two_accounts_one_series(
    daemon: Daemon, fake: FakeUpstream, now: float
) -> None:
    twin = FakeAccount("alice@example.com", now + 3 * DAY).entry()
    stray = FakeAccount("carol@x.io", now + 3 * DAY).entry()
    body = orjson.dumps(
        {
            "alice@example.com": FakeAccount("alice@example.com", now + 10 * DAY).entry(),
            "": twin,  # claims to be alice too
        }
    )
    fake.serve_raw(ACCOUNTS, body)
    result = await daemon.poll("main")
    assert result is not None and result.accounts is not None
    emails = [a.email for a in result.accounts.accounts]
    assert emails == ["alice@example.com"]
    assert result.accounts.invalid == {"email": 1}
    text = (await scrape(daemon)).text
    assert text.count('pixverse_account_max_jobs{source="main",account="alice@example.com"}') == 1

    # An empty key whose email is nobody else's is that account.
    fake.serve_raw(ACCOUNTS, orjson.dumps({"": stray}))
    result = await daemon.poll("main")
    assert result is not None and result.accounts is not None
    assert [a.email for a in result.accounts.accounts] == ["carol@x.io"]


@pytest.mark.anyio
async def test_a_tls_error_is_a_connection_error(fake: FakeUpstream, configs: ConfigWriter) -> None:
    # The fake speaks plain HTTP: a TLS handshake with it fails.
    tls_url = fake.base_url.replace("http://", "https://")
    config = load_config(configs.for_upstream(tls_url, timeout="1s"), env={})
    async with running(Daemon(config)) as daemon:
        await first_poll(daemon)
        result = await daemon.poll("main")
    assert result is not None and result.outcome is Outcome.CONNECTION_ERROR


LONG_RUN_POLLS = 300


@pytest.mark.anyio
async def test_300_polls_alternating_failure_and_success_leak_nothing(
    configs: ConfigWriter, now: float, logs: LogCapture
) -> None:
    """Against an upstream that closes every connection after its answer, a failed accounts
    read cancels the capacity read in flight. That must never leave a connection behind:
    polls after the failures succeed, and the process's descriptors stay flat."""
    accounts = [FakeAccount(f"u{i}@x.io", now + 10 * DAY) for i in range(3)]
    failures = [
        [Fault(401)],
        [Fault(200, body=b"not json")],
        [Fault(418)],
        [Fault(500, headers=RETRY_NOW)] * 3,
    ]
    with FakeUpstream(API_TOKEN, accounts, close_after_each_answer=True) as fake:
        config = load_config(configs.for_upstream(fake.base_url, timeout="2s"), env={})
        async with running(Daemon(config)) as daemon:
            await first_poll(daemon)
            outcomes: list[Outcome] = []
            samples: list[tuple[int, int]] = []
            for i in range(LONG_RUN_POLLS):
                if i % 2:
                    fake.fail_next(ACCOUNTS, *failures[(i // 2) % len(failures)])
                result = await daemon.poll("main")
                assert result is not None
                outcomes.append(result.outcome)
                if i == 20 or i % 50 == 49:
                    samples.append((open_fds(), open_sockets()))
    successes = outcomes[0::2]
    failed = outcomes[1::2]
    assert set(successes) == {Outcome.SUCCESS}, successes
    assert Outcome.TIMEOUT not in failed
    assert set(failed) == {Outcome.UNAUTHORIZED, Outcome.INVALID_PAYLOAD, Outcome.HTTP_ERROR}
    (base_fds, base_sockets), *later = samples
    worst_fds = max(f for f, _ in later)
    worst_sockets = max(s for _, s in later)
    detail = f"fds/sockets over the run: {samples}"
    assert worst_fds <= base_fds + 3, detail
    assert worst_sockets <= base_sockets + 3, detail
