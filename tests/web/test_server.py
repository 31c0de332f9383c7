"""The HTTP server at the byte level (docs/operations.md, "The HTTP endpoints"): framing,
deadlines, the connection cap, credentials before body, content coding, HEAD and methods,
send timeout and shutdown."""

from __future__ import annotations

import asyncio
import gzip
import ssl
import time
from pathlib import Path

import pytest

from monitor.web import HttpServer, ServerLimits
from monitor.web.messages import Request, Response, Verdict
from tests.helpers import LogCapture, async_eventually
from tests.helpers.certs import TestCA
from tests.helpers.rawhttp import RawClient, echo, request, serving

SHORT = 0.5  # seconds: the shortened limit of the timing tests


def big_body(size: int = 16 * 1024 * 1024) -> bytes:
    # Compressible, but not trivially: gzip must do some work.
    line = b'pixverse_account_token_ttl_seconds{source="main",account="a"} 12345.5\n'
    return (line * (size // len(line) + 1))[:size]


def test_the_defaults_are_the_documented_limits() -> None:
    limits = ServerLimits()
    assert limits.request_seconds == 10.0
    assert limits.idle_seconds == 60.0
    assert limits.send_seconds == 30.0
    assert limits.max_connections == 256
    assert HttpServer(echo, "127.0.0.1", 0).limits == limits


# -- framing --------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    "head",
    [
        pytest.param(b"GET /metrics HTTP/1.1\r\n\r\n", id="no-host-1.1"),
        pytest.param(b"GET /metrics HTTP/1.0\r\n\r\n", id="no-host-1.0"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", id="two-hosts"),
        pytest.param(
            request("/", "GET", "Content-Length: 3", "Content-Length: 4") + b"abcd",
            id="conflicting-content-length",
        ),
        pytest.param(request("/", "GET", "Content-Length: 3x"), id="malformed-content-length"),
        pytest.param(request("/", "GET", "Content-Length: -1"), id="negative-content-length"),
        pytest.param(
            request("/", "GET", "Transfer-Encoding: chunked") + b"0\r\n\r\n", id="chunked"
        ),
        pytest.param(request("/", "GET", "Transfer-Encoding: gzip"), id="other-coding"),
        pytest.param(
            request("/", "GET", "Transfer-Encoding: chunked", "Content-Length: 5") + b"0\r\n\r\n",
            id="chunked-and-length",
        ),
        pytest.param(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n", id="tls-to-http"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n", id="bad-field"),
    ],
)
async def test_bad_framing_is_400_and_closed(head: bytes) -> None:
    async with serving() as server:
        client = await RawClient.connect(server.port)
        await client.send(head)
        answer = await client.answer()
        assert answer.status == 400
        assert answer.headers["connection"] == "close"
        assert await client.closed_by_server(timeout=2)


@pytest.mark.anyio
async def test_an_oversized_head_is_431() -> None:
    async with serving() as server:
        for split in (False, True):  # whole at once, and trickled in
            client = await RawClient.connect(server.port)
            head = request("/", "GET", "X-Filler: " + "a" * 20_000)
            if split:
                for start in range(0, len(head), 4096):
                    await client.send(head[start : start + 4096])
            else:
                await client.send(head)
            answer = await client.answer()
            assert answer.status == 431
            assert await client.closed_by_server(timeout=2)


@pytest.mark.anyio
async def test_a_big_body_is_refused_unread() -> None:
    async with serving() as server:
        client = await RawClient.connect(server.port)
        await client.send(request("/", "GET", "Content-Length: 100000000"))
        assert (await client.answer()).status == 413
        assert await client.closed_by_server(timeout=2)


@pytest.mark.anyio
async def test_a_small_body_is_read_and_dropped_and_the_connection_kept() -> None:
    async with serving() as server:
        client = await RawClient.connect(server.port)
        await client.send(request("/a", "GET", "Content-Length: 5") + b"hello")
        await client.send(request("/b"))
        assert (await client.answer()).body == b"GET /a\n"
        assert (await client.answer()).body == b"GET /b\n"  # pipelined, in order


@pytest.mark.anyio
async def test_head_has_the_headers_of_get_and_no_body() -> None:
    async def handler(request: Request) -> Response:
        return Response(200, big_body(5000))

    async with serving(handler) as server:
        client = await RawClient.connect(server.port)
        for coding in ("identity", "gzip"):
            await client.send(request("/", "HEAD", f"Accept-Encoding: {coding}"))
            head = await client.answer(b"HEAD")
            # Had the HEAD answer carried a body, this GET's answer would not parse.
            await client.send(request("/", "GET", f"Accept-Encoding: {coding}"))
            got = await client.answer()
            assert head.status == got.status == 200
            assert head.body == b""
            assert head.headers["content-length"] == got.headers["content-length"]
            assert head.headers.get("content-encoding") == got.headers.get("content-encoding")
            assert int(got.headers["content-length"]) == len(got.body)


@pytest.mark.anyio
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
async def test_methods_other_than_get_and_head_are_405(method: str) -> None:
    async with serving() as server:
        client = await RawClient.connect(server.port)
        await client.send(request("/metrics", method, "Content-Length: 4") + b"data")
        answer = await client.answer()
        assert answer.status == 405
        assert answer.headers["allow"] == "GET, HEAD"
        assert await client.closed_by_server(timeout=2)


# -- content coding -------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("accept", "coding"),
    [
        (None, None),
        ("gzip", "gzip"),
        ("x-gzip", "x-gzip"),
        ("GZIP", "gzip"),
        ("gzip;q=0", None),
        ("gzip; q=0.000", None),
        ("deflate, gzip;q=0", None),
        ("deflate, br", None),
        ("gzip;q=0.5, identity;q=1", None),
        ("gzip;q=1, identity;q=0.5", "gzip"),
        ("*", "gzip"),
        ("*;q=0", None),
        ("*, gzip;q=0", None),
        ("gzip;q=1.5", None),  # malformed weight: not acceptable
        ("gzip;q=abc", None),
        ("nogzip", None),  # no substring matching
        ("identity;q=0, gzip", "gzip"),
    ],
)
async def test_accept_encoding(accept: str | None, coding: str | None) -> None:
    body = big_body(10_000)

    async def handler(request: Request) -> Response:
        return Response(200, body)

    async with serving(handler) as server:
        client = await RawClient.connect(server.port)
        headers = [f"Accept-Encoding: {accept}"] if accept is not None else []
        await client.send(request("/", "GET", *headers))
        answer = await client.answer()
        assert answer.headers.get("content-encoding") == coding
        assert answer.headers["vary"] == "Accept-Encoding"
        assert (gzip.decompress(answer.body) if coding else answer.body) == body


@pytest.mark.anyio
async def test_small_bodies_are_not_compressed() -> None:
    async with serving() as server:
        client = await RawClient.connect(server.port)
        await client.send(request("/", "GET", "Accept-Encoding: gzip"))
        answer = await client.answer()
        assert "content-encoding" not in answer.headers
        assert answer.body == b"GET /\n"


# -- credentials before body ----------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("credentials", [None, "Basic d3Jvbmc6d3Jvbmc="])
async def test_credentials_are_checked_before_the_body_is_read(credentials: str | None) -> None:
    asked: list[Request] = []

    async def authorize(request: Request) -> Verdict:
        asked.append(request)
        return Verdict.DENY

    async with serving(authorize=authorize, challenge="Basic realm=x") as server:
        client = await RawClient.connect(server.port)
        headers = ["Content-Length: 100"]
        if credentials is not None:
            headers.append(f"Authorization: {credentials}")
        started = time.monotonic()
        await client.send(request("/metrics", "GET", *headers))  # and no body, ever
        answer = await client.answer()
        # At once, not after the 10 s a body may take to arrive.
        assert time.monotonic() - started < 2
        assert answer.status == 401
        assert answer.headers["www-authenticate"] == "Basic realm=x"
        assert await client.closed_by_server(timeout=2)
        assert [r.path for r in asked] == ["/metrics"]


@pytest.mark.anyio
async def test_busy_is_429_and_open_paths_need_no_credentials() -> None:
    async def authorize(request: Request) -> Verdict:
        return Verdict.BUSY

    async with serving(authorize=authorize, open_paths=frozenset({"/healthz"})) as server:
        client = await RawClient.connect(server.port)
        await client.send(request("/metrics"))
        answer = await client.answer()
        assert (answer.status, answer.headers["retry-after"]) == (429, "1")
        client = await RawClient.connect(server.port)
        await client.send(request("/healthz"))
        assert (await client.answer()).status == 200


# -- deadlines ------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    "sent",
    [
        pytest.param(b"", id="nothing"),
        pytest.param(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n", id="part-of-the-head"),
        pytest.param(request("/", "GET", "Content-Length: 10") + b"12345", id="part-of-the-body"),
    ],
)
async def test_a_request_must_arrive_within_the_limit(sent: bytes) -> None:
    async with serving(limits=ServerLimits(request_seconds=SHORT)) as server:
        client = await RawClient.connect(server.port)
        started = time.monotonic()
        for byte in sent:  # a byte at a time, as slowloris does
            await client.send(bytes([byte]))
        assert await client.closed_by_server(timeout=SHORT + 3)
        assert time.monotonic() - started >= SHORT * 0.9


@pytest.mark.anyio
async def test_the_first_requests_deadline_covers_the_tls_handshake(tmp_path: Path) -> None:
    ca = TestCA(tmp_path)
    issued = ca.server()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(issued.cert_file, issued.key_file)
    limits = ServerLimits(request_seconds=SHORT)
    async with serving(tls=lambda: context, limits=limits) as server:
        silent = await RawClient.connect(server.port)  # TCP only: never says hello
        started = time.monotonic()
        assert await silent.closed_by_server(timeout=SHORT + 3)
        assert time.monotonic() - started >= SHORT * 0.9
        client_context = ssl.create_default_context(cafile=ca.cert_file)
        client = await RawClient.connect(server.port, context=client_context)
        await client.send(request("/tls"))
        assert (await client.answer()).body == b"GET /tls\n"


@pytest.mark.anyio
async def test_the_deadline_runs_from_the_first_byte_of_a_later_request() -> None:
    limits = ServerLimits(request_seconds=SHORT, idle_seconds=30)
    async with serving(limits=limits) as server:
        client = await RawClient.connect(server.port)
        await client.send(request("/a"))
        assert (await client.answer()).status == 200
        await asyncio.sleep(SHORT * 2)  # idle for longer than a request may take: allowed
        await client.send(request("/b"))
        assert (await client.answer()).body == b"GET /b\n"
        await client.send(b"GET /c HTTP/1.1\r\n")  # ... but then the rest never comes
        assert await client.closed_by_server(timeout=SHORT + 3)


@pytest.mark.anyio
async def test_an_idle_keep_alive_connection_is_closed() -> None:
    async with serving(limits=ServerLimits(idle_seconds=SHORT)) as server:
        client = await RawClient.connect(server.port)
        await client.send(request("/"))
        assert (await client.answer()).status == 200
        answered = time.monotonic()
        assert await client.closed_by_server(timeout=SHORT + 3)
        assert time.monotonic() - answered >= SHORT * 0.9


# -- the connection cap ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_cap_closes_the_connection_waiting_longest() -> None:
    release = asyncio.Event()

    async def handler(request: Request) -> Response:
        if request.path == "/slow":
            await release.wait()
        return Response(200, b"done\n")

    async with serving(handler, limits=ServerLimits(max_connections=3)) as server:
        busy = await RawClient.connect(server.port)  # oldest, but answering a request
        await busy.send(request("/slow"))
        first = await RawClient.connect(server.port)
        await first.send(b"GET / HTTP/1.1\r\n")  # an incomplete request
        second = await RawClient.connect(server.port)
        await second.send(b"GET / HTTP/1.1\r\n")
        await async_eventually(_open(server, 3), what="three connections open")

        newcomer = await RawClient.connect(server.port)
        assert await first.closed_by_server(timeout=2)
        await newcomer.send(request("/new"))
        assert (await newcomer.answer()).status == 200
        await second.send(b"Host: x\r\n\r\n")
        assert (await second.answer()).status == 200
        release.set()
        assert (await busy.answer()).body == b"done\n"
        assert server.open_connections <= 3


@pytest.mark.anyio
async def test_a_flood_never_holds_more_than_the_cap(logs: LogCapture) -> None:
    cap = 20
    async with serving(limits=ServerLimits(max_connections=cap)) as server:
        flood = []
        for _ in range(5 * cap):
            client = await RawClient.connect(server.port)
            await client.send(request("/", "GET", "Content-Length: 100"))  # no body, ever
            flood.append(client)
            assert server.open_connections <= cap
        await async_eventually(_open(server, cap), what="the flood to fill the server")
        scrape = await RawClient.connect(server.port)
        await scrape.send(request("/metrics"))
        assert (await scrape.answer(timeout=2)).status == 200
        for client in flood:
            client.close()
    # One warning for the whole flood, with the count, at once and when the server closed.
    shed = logs.events("http.connections_shed")
    assert 1 <= len(shed) <= 2
    assert sum(event.get("evicted", 0) for event in shed) >= 4 * cap
    assert shed[0]["max_connections"] == cap


@pytest.mark.anyio
async def test_a_lower_cap_applies_to_a_running_server() -> None:
    """A reload that leaves fewer descriptors for connections lowers the cap at once."""
    async with serving(limits=ServerLimits(max_connections=10)) as server:
        held = []
        for _ in range(6):
            client = await RawClient.connect(server.port)
            await client.send(b"GET / HTTP/1.1\r\n")
            held.append(client)
        await async_eventually(_open(server, 6), what="six connections open")
        server.cap_connections(3)
        newcomer = await RawClient.connect(server.port)
        await newcomer.send(request("/"))
        assert (await newcomer.answer(timeout=2)).status == 200
        assert server.open_connections <= 3
        for client in held:
            client.close()


def _open(server: HttpServer, count: int):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        return server.open_connections == count

    return check


# -- sending --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_client_that_stops_reading_is_cut_off(logs: LogCapture) -> None:
    body = big_body()

    async def handler(request: Request) -> Response:
        return Response(200, body)

    async with serving(handler, limits=ServerLimits(send_seconds=SHORT)) as server:
        stalled = await RawClient.connect(server.port)
        await stalled.send(request("/"))  # and never read
        await async_eventually(_open(server, 0), timeout=SHORT + 5, what="the cut")
        # Others are served meanwhile and after.
        client = await RawClient.connect(server.port)
        await client.send(request("/"))
        assert (await client.answer()).body == body
    (shed,) = logs.events("http.connections_shed")
    assert shed["send_timeout"] == 1


@pytest.mark.anyio
async def test_close_never_waits_on_a_client() -> None:
    body = big_body()

    async def handler(request: Request) -> Response:
        return Response(200, body)

    server = HttpServer(handler, "127.0.0.1", 0)
    await server.start()
    stalled = [await RawClient.connect(server.port) for _ in range(3)]
    for client in stalled:
        await client.send(request("/"))  # and never read
    idle = await RawClient.connect(server.port)
    await async_eventually(_open(server, 4), what="four connections")
    started = time.monotonic()
    await server.close()
    assert time.monotonic() - started < 1.5
    for client in [*stalled, idle]:
        assert await client.closed_by_server(timeout=2)


@pytest.mark.anyio
async def test_a_failing_handler_is_500_and_logged_once(logs: LogCapture) -> None:
    async def handler(request: Request) -> Response:
        raise RuntimeError("boom")

    async with serving(handler) as server:
        for _ in range(5):
            client = await RawClient.connect(server.port)
            await client.send(request("/"))
            assert (await client.answer()).status == 500
    failed = logs.events("http.request_failed")
    assert [e.get("handler_RuntimeError") for e in failed] == [1, 4]
    assert "boom" in str(failed[0].get("exception"))
