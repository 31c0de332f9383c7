"""Each upstream answer maps to the spec's outcome, against the fake API on loopback."""

from __future__ import annotations

import gzip
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import orjson
import pytest

from monitor.clock import Instant
from monitor.config.model import PollConfig, SourceConfig
from monitor.errors import Outcome
from monitor.secret import Secret
from monitor.testing.fakeapi import (
    ACCOUNTS,
    AVAILABLE,
    FEATURES,
    FakeAccount,
    FakeUpstream,
    Fault,
)
from monitor.testing.fakeclock import FakeClock
from monitor.upstream.client import UpstreamClient
from monitor.upstream.poll import PollResult, poll_source
from tests.helpers import API_TOKEN, DAY, LogCapture

START = 1_800_000_000.0


class Sleeps:
    """A sleep that records what was asked and moves the fake clock instead of waiting."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.clock.advance(seconds)


def source(base_url: str, *, capacity: bool = True, token: str = API_TOKEN) -> SourceConfig:
    return SourceConfig("main", base_url, Secret(token), "test", None, None, capacity)


def poll_config(*, interval: float) -> PollConfig:
    seconds = timedelta(seconds=interval)
    return PollConfig(seconds, timedelta(seconds=2), timedelta(0), 3 * seconds, 8 * 1024 * 1024)


async def poll(
    base_url: str,
    *,
    timeout: float = 2.0,
    max_bytes: int = 8 * 1024 * 1024,
    capacity: bool = True,
    sleeps: Sleeps | None = None,
    interval: float = 300.0,
    transport: httpx.AsyncBaseTransport | None = None,
    token: str = API_TOKEN,
    one_shot: bool = False,
) -> PollResult:
    """One poll; `interval` is the time to the deadline: the next poll, or with `one_shot`
    the end of a check's --timeout."""
    clock = sleeps.clock if sleeps else FakeClock(START)
    client = UpstreamClient(
        source(base_url, capacity=capacity, token=token),
        timeout=timedelta(seconds=timeout),
        max_response_bytes=max_bytes,
        clock=clock,
        sleep=sleeps or Sleeps(clock),
        transport=transport,
        one_shot=one_shot,
    )
    try:
        return await poll_source(
            "main",
            client,
            capacity_endpoint=capacity,
            started_unix=clock.time(),
            deadline=clock.monotonic() + interval,
        )
    finally:
        await client.aclose()


@pytest.mark.anyio
async def test_success_reads_both_endpoints_with_the_token(fake: FakeUpstream) -> None:
    result = await poll(fake.base_url)
    assert result.outcome is Outcome.SUCCESS
    assert result.accounts is not None
    assert {a.email for a in result.accounts.accounts} == {"alice@example.com", "bob@example.com"}
    assert result.capacity is not None
    assert result.capacity.by_email["alice@example.com"].executing == 2
    assert {r.path for r in fake.requests} == {ACCOUNTS, AVAILABLE}
    assert all(r.authorized for r in fake.requests)


@pytest.mark.anyio
@pytest.mark.parametrize("status", [401, 403])
async def test_rejected_token_is_unauthorized(fake: FakeUpstream, status: int) -> None:
    fake.fail_next(ACCOUNTS, Fault(status))
    result = await poll(fake.base_url)
    assert result.outcome is Outcome.UNAUTHORIZED
    assert result.accounts is None
    assert f"HTTP {status}" in (result.error or "")


@pytest.mark.anyio
async def test_wrong_token_is_unauthorized(fake: FakeUpstream) -> None:
    result = await poll(fake.base_url, token="wrong")
    assert result.outcome is Outcome.UNAUTHORIZED
    assert "Unauthorized" in (result.error or "")


@pytest.mark.anyio
async def test_404_is_an_outcome_of_its_own_with_no_accounts(fake: FakeUpstream) -> None:
    fake.set_accounts([])
    result = await poll(fake.base_url)
    assert result.outcome is Outcome.NO_ACCOUNTS
    assert result.outcome.up and not result.outcome.has_fresh_data
    assert result.accounts is not None and result.accounts.accounts == ()
    assert result.capacity is None
    assert "404" in (result.error or "")


@pytest.mark.anyio
async def test_a_json_null_is_not_a_404(fake: FakeUpstream) -> None:
    fake.serve_raw(ACCOUNTS, b"null")
    result = await poll(fake.base_url)
    assert result.outcome is Outcome.INVALID_PAYLOAD


@pytest.mark.anyio
@pytest.mark.parametrize("status", [200, 404, 500])
async def test_the_date_of_the_accounts_answer_checks_the_clock(
    fake: FakeUpstream, status: int
) -> None:
    """Whatever /accounts answers, its Date says how far our clock is from upstream's."""
    if status == 404:
        fake.set_accounts([])
    elif status == 500:
        fake.fail_next(ACCOUNTS, *[Fault(500, headers={"Retry-After": "0"})] * 2)
    fake.clock_offset_seconds = -3600.0  # upstream an hour behind the true time
    clock = FakeClock(START)  # our clock, years away from the true time
    result = await poll(fake.base_url, sleeps=Sleeps(clock))
    assert result.clock is not None
    true_now = time.time()
    # When the last answer came: after the retries' waits (the backoff at least).
    arrived = Instant(clock.time(), clock.monotonic())
    assert result.clock.at == arrived
    assert abs(result.clock.upstream_unix - (true_now - 3600)) < 5
    assert result.clock.skew_seconds == arrived.unix - result.clock.upstream_unix


@pytest.mark.anyio
@pytest.mark.parametrize("date", [None, "yesterday", "Sun, 06 Nov 1994 08:49:37 +0200"])
async def test_no_readable_date_no_clock_check(fake: FakeUpstream, date: str | None) -> None:
    if date is None:
        fake.clock_offset_seconds = None
    else:
        fake.fail_next(ACCOUNTS, Fault(200, body=b"{}", headers={"Date": date}))
    result = await poll(fake.base_url)
    assert result.outcome is Outcome.SUCCESS
    assert result.clock is None


@pytest.mark.anyio
async def test_429_honours_retry_after_seconds(fake: FakeUpstream) -> None:
    fake.fail_next(ACCOUNTS, Fault(429, headers={"Retry-After": "7"}))
    sleeps = Sleeps(FakeClock(START))
    result = await poll(fake.base_url, sleeps=sleeps)
    assert result.outcome is Outcome.SUCCESS
    assert sleeps.calls == [7.0]


@pytest.mark.anyio
async def test_429_honours_retry_after_date(fake: FakeUpstream) -> None:
    clock = FakeClock(START)
    when = format_datetime(datetime.fromtimestamp(START + 42, UTC), usegmt=True)
    fake.fail_next(ACCOUNTS, Fault(429, headers={"Retry-After": when}))
    sleeps = Sleeps(clock)
    assert (await poll(fake.base_url, sleeps=sleeps)).outcome is Outcome.SUCCESS
    assert sleeps.calls == [42.0]


@pytest.mark.anyio
@pytest.mark.parametrize("header", ["²", "soon", "1.5", "Fri, 15 Jan 2027 08:00:42 +0000"])
async def test_an_unreadable_retry_after_is_ignored_and_logged(
    fake: FakeUpstream, logs: LogCapture, header: str
) -> None:
    """ "²".isdigit() is true, and float("²") raised out of the request path: the capacity
    read failed the whole poll with a task error."""
    fake.fail_next(AVAILABLE, Fault(429, headers={"Retry-After": header}))
    sleeps = Sleeps(FakeClock(START))
    result = await poll(fake.base_url, sleeps=sleeps)
    assert result.outcome is Outcome.SUCCESS
    assert len(sleeps.calls) == 1 and 0.5 <= sleeps.calls[0] <= 1.0  # the backoff instead
    (ignored,) = logs.events("upstream.retry_after_ignored")
    assert ignored["source"] == "main"
    assert ignored["path"] == "/v2/pixverse/scheduler/available"
    assert ignored["value"] == repr(header)


@pytest.mark.anyio
async def test_a_retry_after_is_waited_for_at_most_a_poll_interval(fake: FakeUpstream) -> None:
    clock = FakeClock(START)
    client = UpstreamClient.of(source(fake.base_url), poll_config(interval=60), clock)
    waits: list[float] = []

    async def pause(seconds: float) -> None:
        waits.append(seconds)

    fake.fail_next(FEATURES, Fault(429, headers={"Retry-After": "3000"}))
    try:
        await client.features("alice@example.com", START + 3600, pause=pause)
    finally:
        await client.aclose()
    assert waits == [60.0]


@pytest.mark.anyio
async def test_retry_never_runs_past_the_next_poll(fake: FakeUpstream) -> None:
    fake.fail_next(ACCOUNTS, Fault(429, headers={"Retry-After": "600"}))
    sleeps = Sleeps(FakeClock(START))
    result = await poll(fake.base_url, sleeps=sleeps, interval=300)
    assert result.outcome is Outcome.HTTP_ERROR
    assert "past the next poll" in (result.error or "")
    assert sleeps.calls == []


@pytest.mark.anyio
async def test_5xx_is_retried_with_backoff_then_succeeds(fake: FakeUpstream) -> None:
    fake.fail_next(ACCOUNTS, Fault(502), Fault(503))
    sleeps = Sleeps(FakeClock(START))
    result = await poll(fake.base_url, sleeps=sleeps)
    assert result.outcome is Outcome.SUCCESS
    assert len(sleeps.calls) == 2
    assert 0.5 <= sleeps.calls[0] <= 1.0 and 1.0 <= sleeps.calls[1] <= 2.0  # exponential


@pytest.mark.anyio
async def test_5xx_gives_up_after_bounded_attempts(fake: FakeUpstream) -> None:
    fake.fail_always(ACCOUNTS, Fault(500))
    sleeps = Sleeps(FakeClock(START))
    result = await poll(fake.base_url, sleeps=sleeps)
    assert result.outcome is Outcome.HTTP_ERROR
    assert "gave up after 3 attempts" in (result.error or "")
    assert sum(1 for r in fake.requests if r.path == ACCOUNTS) == 3


@pytest.mark.anyio
async def test_408_is_retried_like_429_and_5xx(fake: FakeUpstream) -> None:
    fake.fail_next(ACCOUNTS, Fault(408))
    sleeps = Sleeps(FakeClock(START))
    assert (await poll(fake.base_url, sleeps=sleeps)).outcome is Outcome.SUCCESS
    assert len(sleeps.calls) == 1
    assert sum(1 for r in fake.requests if r.path == ACCOUNTS) == 2


@pytest.mark.anyio
@pytest.mark.parametrize("status", [400, 409, 418, 422])
async def test_other_4xx_is_not_retried(fake: FakeUpstream, status: int) -> None:
    fake.fail_next(ACCOUNTS, Fault(status))
    sleeps = Sleeps(FakeClock(START))
    assert (await poll(fake.base_url, sleeps=sleeps)).outcome is Outcome.HTTP_ERROR
    assert sleeps.calls == []


@pytest.mark.anyio
async def test_slow_answer_is_a_timeout(fake: FakeUpstream) -> None:
    fake.fail_next(ACCOUNTS, Fault(200, delay_seconds=1.5))
    result = await poll(fake.base_url, timeout=0.3)
    assert result.outcome is Outcome.TIMEOUT


@pytest.mark.anyio
async def test_refused_connection() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port any more.
    result = await poll(f"http://127.0.0.1:{port}")
    assert result.outcome is Outcome.CONNECTION_ERROR


@pytest.mark.anyio
async def test_dropped_connection(fake: FakeUpstream) -> None:
    fake.fail_next(ACCOUNTS, Fault(drop_connection=True))
    assert (await poll(fake.base_url)).outcome is Outcome.CONNECTION_ERROR


@pytest.mark.anyio
@pytest.mark.parametrize("body", [b"<html>oops</html>", b"", b'{"a": ', b"\xff\xfe"])
async def test_non_json_is_invalid_payload(fake: FakeUpstream, body: bytes) -> None:
    fake.serve_raw(ACCOUNTS, body)
    assert (await poll(fake.base_url)).outcome is Outcome.INVALID_PAYLOAD


@pytest.mark.anyio
@pytest.mark.parametrize("body", [b"[]", b'"accounts"', b"null", b"42"])
async def test_json_that_is_not_an_object_is_invalid_payload(
    fake: FakeUpstream, body: bytes
) -> None:
    fake.serve_raw(ACCOUNTS, body)
    result = await poll(fake.base_url)
    assert result.outcome is Outcome.INVALID_PAYLOAD
    assert "expected a JSON object" in (result.error or "")


@pytest.mark.anyio
async def test_oversized_body_is_too_large(fake: FakeUpstream, now: float) -> None:
    fake.set_accounts([FakeAccount(f"user{i}@example.com", now + DAY) for i in range(40)])
    result = await poll(fake.base_url, max_bytes=4096)
    assert result.outcome is Outcome.TOO_LARGE


def _transport(body_chunks: list[bytes], headers: dict[str, str]) -> httpx.MockTransport:
    async def stream() -> AsyncIterator[bytes]:
        for chunk in body_chunks:
            yield chunk

    class Stream(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            async for chunk in stream():
                yield chunk

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=headers, stream=Stream())

    return httpx.MockTransport(handler)


@pytest.mark.anyio
async def test_oversized_stream_without_content_length_is_cut_off() -> None:
    chunks = [b'{"a@x.io": {"pad": "' + b"x" * 3000, b"x" * 3000, b'"}}']
    result = await poll(
        "http://upstream.test", max_bytes=4096, capacity=False, transport=_transport(chunks, {})
    )
    assert result.outcome is Outcome.TOO_LARGE


@pytest.mark.anyio
async def test_gzip_bomb_is_capped_after_decompression() -> None:
    inflated = b'{"a@x.io": {"pad": "' + b"0" * 200_000 + b'"}}'
    bomb = gzip.compress(inflated)
    assert len(bomb) < 4096
    result = await poll(
        "http://upstream.test",
        max_bytes=4096,
        capacity=False,
        transport=_transport([bomb], {"Content-Encoding": "gzip"}),
    )
    assert result.outcome is Outcome.TOO_LARGE


@pytest.mark.anyio
async def test_wrong_types_are_tolerated_and_counted(fake: FakeUpstream, now: float) -> None:
    fake.set_accounts(
        [
            FakeAccount("a@x.io", now + DAY, max_jobs="eight"),
            FakeAccount("b@x.io", now + DAY, overrides={"jwt": "not-an-object"}),
            FakeAccount("c@x.io", now + DAY, overrides={"jwt": {"ExpireTime": "tomorrow"}}),
        ]
    )
    result = await poll(fake.base_url, capacity=False)
    assert result.outcome is Outcome.SUCCESS
    assert result.accounts is not None
    assert result.accounts.invalid == {"max_jobs": 1, "jwt": 1, "expire_time": 1}


@pytest.mark.anyio
async def test_capacity_failure_degrades_but_keeps_expiry(fake: FakeUpstream) -> None:
    fake.fail_always(AVAILABLE, Fault(500))
    result = await poll(fake.base_url)
    assert result.outcome is Outcome.CAPACITY_UNAVAILABLE
    assert result.accounts is not None and len(result.accounts.accounts) == 2
    assert result.capacity is None
    fake.fail_always(AVAILABLE, None)
    fake.serve_raw(AVAILABLE, b'{"available": "nope"}')
    assert (await poll(fake.base_url)).outcome is Outcome.CAPACITY_UNAVAILABLE


@pytest.mark.anyio
async def test_capacity_endpoint_can_be_turned_off(fake: FakeUpstream) -> None:
    result = await poll(fake.base_url, capacity=False)
    assert result.outcome is Outcome.SUCCESS
    assert result.capacity is None
    assert [r.path for r in fake.requests] == [ACCOUNTS]


@pytest.mark.anyio
async def test_a_failed_accounts_read_cancels_the_capacity_read(fake: FakeUpstream) -> None:
    fake.fail_next(AVAILABLE, Fault(200, delay_seconds=1.0))
    fake.fail_next(ACCOUNTS, Fault(401))
    result = await poll(fake.base_url)
    assert result.outcome is Outcome.UNAUTHORIZED
    assert result.duration_seconds < 0.9


@pytest.mark.anyio
async def test_user_agent_and_no_token_in_errors(fake: FakeUpstream) -> None:
    boom = Fault(500, body=orjson.dumps({"error": "boom", "code": 500}))
    fake.fail_next(ACCOUNTS, boom, boom, boom)
    result = await poll(fake.base_url)
    assert "boom" in (result.error or "")
    assert API_TOKEN not in repr(result)
    assert all(r.user_agent.startswith("pixverse-monitor/") for r in fake.requests)


# -- a one-shot check: no next poll, only what is left of --timeout ------------------------


@pytest.mark.anyio
async def test_one_shot_retries_a_5xx_once_within_the_time_left(fake: FakeUpstream) -> None:
    """Under the default poll.timeout (15s) the daemon's rule (wait + a whole timeout before
    the deadline) would never retry within a check's 8 s; the one-shot rule does."""
    fake.fail_next(ACCOUNTS, Fault(503))
    sleeps = Sleeps(FakeClock(START))
    result = await poll(fake.base_url, timeout=15, sleeps=sleeps, interval=8, one_shot=True)
    assert result.outcome is Outcome.SUCCESS, result.error
    assert len(sleeps.calls) == 1 and 0.5 <= sleeps.calls[0] <= 1.0
    assert fake.count(ACCOUNTS) == 2


@pytest.mark.anyio
async def test_one_shot_gives_up_after_one_retry(fake: FakeUpstream) -> None:
    fake.fail_always(ACCOUNTS, Fault(500))
    sleeps = Sleeps(FakeClock(START))
    result = await poll(fake.base_url, timeout=15, sleeps=sleeps, interval=8, one_shot=True)
    assert result.outcome is Outcome.HTTP_ERROR
    assert (result.error or "").endswith(", gave up after 2 attempts")
    assert fake.count(ACCOUNTS) == 2


@pytest.mark.anyio
async def test_one_shot_says_what_is_left_of_its_timeout_never_the_next_poll(
    fake: FakeUpstream,
) -> None:
    fake.fail_next(ACCOUNTS, Fault(503, headers={"Retry-After": "30"}))
    sleeps = Sleeps(FakeClock(START))
    result = await poll(fake.base_url, timeout=15, sleeps=sleeps, interval=7.5, one_shot=True)
    assert result.outcome is Outcome.HTTP_ERROR
    assert result.error == (
        "/v2/pixverse/accounts: HTTP 503 (fake error 503), not retried: a retry in 30.0s "
        "would not fit in the 7.5s left of --timeout"
    )
    assert "next poll" not in (result.error or "")
    assert sleeps.calls == []
    assert fake.count(ACCOUNTS) == 1


@pytest.mark.anyio
async def test_one_shot_retries_a_timeout_once(fake: FakeUpstream) -> None:
    fake.fail_next(ACCOUNTS, Fault(200, delay_seconds=1.5))
    sleeps = Sleeps(FakeClock(START))
    result = await poll(fake.base_url, timeout=0.3, sleeps=sleeps, interval=8, one_shot=True)
    assert result.outcome is Outcome.SUCCESS, result.error
    assert sleeps.calls == [0.0]  # at once: the attempt already took its whole timeout
    assert fake.count(ACCOUNTS) == 2


@pytest.mark.anyio
async def test_one_shot_does_not_retry_a_timeout_without_the_time(fake: FakeUpstream) -> None:
    fake.fail_next(ACCOUNTS, Fault(200, delay_seconds=1.5))
    result = await poll(fake.base_url, timeout=0.3, interval=0.5, one_shot=True)
    assert result.outcome is Outcome.TIMEOUT
    assert result.error == (
        "/v2/pixverse/accounts: no complete answer within 0.3s, not retried: a retry would "
        "not fit in the 0.5s left of --timeout"
    )
    assert fake.count(ACCOUNTS) == 1


@pytest.mark.anyio
async def test_the_daemon_does_not_retry_a_timeout(fake: FakeUpstream) -> None:
    """Its next poll is near: a timeout is a failed poll, as before."""
    fake.fail_next(ACCOUNTS, Fault(200, delay_seconds=1.5))
    result = await poll(fake.base_url, timeout=0.3, interval=300)
    assert result.outcome is Outcome.TIMEOUT
    assert result.error == "/v2/pixverse/accounts: no complete answer within 0.3s"
    assert fake.count(ACCOUNTS) == 1
