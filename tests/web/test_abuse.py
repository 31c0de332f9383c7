"""The daemon under abuse, as a real process (`python -m monitor run`) with a 1,024 descriptor
limit: a flood of held connections, a hundred concurrent scrapes of 10,000 accounts, and a
client that stops reading while the daemon is asked to stop (docs/operations.md).

Marked `abuse` (`pytest -m abuse` runs just these); they run with the rest of the suite.
"""

from __future__ import annotations

import asyncio
import base64
import resource
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.testing.fakeapi import FakeAccount, FakeUpstream
from monitor.testing.receiver import WebhookReceiver
from tests.helpers import API_TOKEN, HOUR, ConfigWriter
from tests.helpers.certs import TestCA
from tests.helpers.daemonprocess import DaemonProcess
from tests.helpers.rawhttp import RawClient, request, slow_scrape

pytestmark = pytest.mark.abuse

FD_LIMIT = 1024
FLOOD = 1000
PASSWORD = "abuse-test-password"
LOG_BYTES_LIMIT = 256 * 1024  # a quiet daemon's few dozen lines, with room to spare
PEAK_RSS_LIMIT_KIB = 350 * 1024


@pytest.fixture(autouse=True)
def enough_descriptors_for_the_attacker() -> Iterator[None]:
    """The test process holds the flood's sockets (the daemon under test is the one with 1,024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, 8192) if hard != resource.RLIM_INFINITY else 8192
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Scraper:
    """A well-behaved client of the daemon: Prometheus, or a probe."""

    def __init__(self, port: int, context: ssl.SSLContext | None, authorization: str | None):
        self.port = port
        self.context = context
        self.authorization = authorization

    async def get(self, path: str) -> tuple[int, bytes, float]:
        started = time.monotonic()
        client = await RawClient.connect(self.port, context=self.context)
        try:
            headers = [f"Authorization: {self.authorization}"] if self.authorization else []
            await client.send(request(path, "GET", *headers))
            answer = await client.answer(timeout=10)
        finally:
            client.close()
        return answer.status, answer.body, time.monotonic() - started

    async def polls(self) -> dict[str, float]:
        status, body, _ = await self.get("/metrics")
        assert status == 200
        out: dict[str, float] = {}
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                if sample.name == "pixverse_monitor_polls_total":
                    out[sample.labels["outcome"]] = sample.value
        return out


async def hold(port: int, context: ssl.SSLContext | None, index: int) -> RawClient | None:
    """One attacker connection: a head without credentials and a body that never comes, or
    (one in three) only part of a head. Held open until the server closes it."""
    try:
        client = await RawClient.connect(port, context=context)
        if index % 3:
            await client.send(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        else:
            await client.send(request("/metrics", "GET", "Content-Length: 100"))
    except (OSError, ssl.SSLError):
        return None  # closed on us while connecting: the server made room for a newer one
    return client


@pytest.mark.anyio
@pytest.mark.parametrize("secured", [False, True], ids=["plain", "tls-and-basic-auth"])
async def test_a_flood_of_held_connections_stops_neither_polls_nor_scrapes(
    fake: FakeUpstream, configs: ConfigWriter, tmp_path: Path, secured: bool
) -> None:
    metrics = ""
    context: ssl.SSLContext | None = None
    authorization: str | None = None
    if secured:
        ca = TestCA(tmp_path)
        ca.server()
        hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode()
        web = tmp_path / "web.yml"
        web.write_text(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
            f"basic_auth_users:\n  prometheus: '{hashed}'\n"
        )
        metrics = f'web_config_file = "{web}"'
        context = ssl.create_default_context(cafile=ca.cert_file)
        authorization = basic("prometheus", PASSWORD)
    config = configs.for_upstream(fake.base_url, interval="1s", timeout="1s", metrics=metrics)
    daemon = DaemonProcess(config, tmp_path, max_fds=FD_LIMIT)
    scraper = Scraper(daemon.port, context, authorization)
    held: list[RawClient] = []
    try:
        before = await scraper.polls()
        latencies: list[float] = []
        fds: list[int] = []
        flooding = True

        async def probe() -> None:
            # Scrapes and health checks all through the flood, a few times a second.
            while flooding:
                status, _, took = await scraper.get("/metrics")
                assert status == 200
                latencies.append(took)
                health, body, _ = await Scraper(daemon.port, context, None).get("/healthz")
                assert (health, body) == (200, b"ok\n")
                fds.append(daemon.open_fds())
                await asyncio.sleep(0.2)

        prober = asyncio.ensure_future(probe())
        opening = asyncio.Semaphore(50)

        async def attacker(index: int) -> None:
            async with opening:
                client = await hold(daemon.port, context, index)
            if client is not None:
                held.append(client)

        await asyncio.gather(*(attacker(i) for i in range(FLOOD)))
        # Held while the daemon polls a few more times (within the 10 s a request may take).
        deadline = time.monotonic() + 7
        while (await scraper.polls()).get("success", 0) < before.get("success", 0) + 3:
            assert time.monotonic() < deadline, "polls stopped succeeding under the flood"
            assert not prober.done()
            await asyncio.sleep(0.25)
        await asyncio.wait({prober}, timeout=1)  # and a few more probes
        flooding = False
        await prober
        after = await scraper.polls()
        still_open = [c for c in held if not await c.closed_by_server(timeout=0.01)]
    finally:
        for client in held:
            client.close()
        code, took = daemon.stop()
    print(
        f"flood of {FLOOD} ({'TLS+auth' if secured else 'plain'}): {len(latencies)} scrapes, "
        f"slowest {max(latencies) * 1000:.0f} ms; daemon fds at most {max(fds)}; "
        f"{len(still_open)} attacker connections still open; polls {before} -> {after}; "
        f"log {daemon.log_bytes()} bytes; SIGTERM exit {code} in {took:.2f} s"
    )
    assert code == 0
    # Well within Prometheus's default scrape_timeout (10 s) however loaded the machine; a
    # server the flood had stalled would answer only after the 10 s the scrape waits.
    assert max(latencies) < 5.0
    assert len(latencies) >= 5
    assert after.get("success", 0) >= before.get("success", 0) + 3
    assert after.get("connection_error", 0) == 0
    assert max(fds) > 200  # the flood did fill the server ...
    assert max(fds) < FD_LIMIT - 200  # ... and the cap held descriptors well under the limit
    assert len(still_open) <= 256  # the server closed the rest to admit newer ones
    assert daemon.log_bytes() < LOG_BYTES_LIMIT
    assert len(daemon.events("http.connections_shed")) <= 2
    assert not [e for e in daemon.events() if e.get("logger") == "asyncio"]


LOW_FD_LIMIT = 64
IDLE_FLOOD = 120


@pytest.mark.anyio
async def test_under_a_low_descriptor_limit_a_flood_starves_neither_healthz_nor_saves(
    fake: FakeUpstream, configs: ConfigWriter, tmp_path: Path
) -> None:
    """With `ulimit -n 64` and the cap at 256, 120 idle connections took every descriptor:
    /healthz stopped answering, accept() failed in a loop and state saves failed with EMFILE.
    The cap now comes from the limit, less what polls, sinks and the state file keep."""
    with WebhookReceiver() as receiver:
        sink = f'\n[[sinks]]\nname = "ops"\nurl = "{receiver.url}/hook"\n'
        config = configs.for_upstream(fake.base_url, sink, interval="1s", timeout="1s")
        daemon = DaemonProcess(config, tmp_path, max_fds=LOW_FD_LIMIT)
        scraper = Scraper(daemon.port, None, None)
        held: list[RawClient] = []
        try:
            before = await scraper.polls()
            for index in range(IDLE_FLOOD):
                client = await hold(daemon.port, None, index)
                if client is not None:
                    held.append(client)
            # Under the flood: a new alert, so a notification and a state save, and polls.
            fake.put(FakeAccount("flooded@x.io", time.time() - 60))
            fds: list[int] = []
            deadline = time.monotonic() + 10
            while b"flooded@x.io" not in _state(tmp_path):
                assert time.monotonic() < deadline, "no state save under the flood"
                health = await scraper.get("/healthz")
                assert health[:2] == (200, b"ok\n")
                fds.append(daemon.open_fds())
                await asyncio.sleep(0.2)
            after = await scraper.polls()
            delivered = [r for r in receiver.accepted() if b"flooded@x.io" in r.body]
        finally:
            for client in held:
                client.close()
            code, _ = daemon.stop()
    capped = daemon.events("http.connections_capped")
    print(
        f"ulimit -n {LOW_FD_LIMIT}, {IDLE_FLOOD} idle connections: cap "
        f"{capped[0]['max_connections'] if capped else '?'}, daemon fds at most {max(fds)}, "
        f"polls {before} -> {after}"
    )
    assert code == 0
    assert capped and capped[0]["open_files_limit"] == LOW_FD_LIMIT
    assert max(fds) < LOW_FD_LIMIT - 8  # room left for a poll, a delivery and a save
    assert after.get("success", 0) > before.get("success", 0)
    assert delivered
    assert not daemon.events("state.save_failed")
    assert not [e for e in daemon.events() if "out of system resource" in str(e.get("event"))]


def _state(directory: Path) -> bytes:
    try:
        return (directory / "state" / "state.json").read_bytes()
    except FileNotFoundError:
        return b""


@pytest.fixture
def big_upstream() -> Iterator[FakeUpstream]:
    now = time.time()
    accounts = [
        FakeAccount(f"user{i:05d}@example.com", now + (i % 240 + 1) * HOUR, max_jobs=1 + i % 8)
        for i in range(10_000)
    ]
    with FakeUpstream(token=API_TOKEN, accounts=accounts) as upstream:
        yield upstream


async def _ready(daemon: DaemonProcess) -> None:
    scraper = Scraper(daemon.port, None, None)
    deadline = time.monotonic() + 120
    while (await scraper.get("/readyz"))[0] != 200:
        assert time.monotonic() < deadline, "the daemon never became ready"
        await asyncio.sleep(0.2)


@pytest.mark.anyio
async def test_a_hundred_concurrent_scrapes_of_10000_accounts_share_one_body(
    big_upstream: FakeUpstream, configs: ConfigWriter, tmp_path: Path
) -> None:
    config = configs.for_upstream(big_upstream.base_url, timeout="30s")
    daemon = DaemonProcess(config, tmp_path, max_fds=FD_LIMIT)
    try:
        await _ready(daemon)
        first = await slow_scrape(daemon.port)
        assert first.status == 200 and len(first.body) > 5_000_000
        baseline = daemon.status_kib("VmRSS")
        # Each reads nothing for a second first, as over a slow network: whatever the
        # daemon buffers per connection piles up meanwhile.
        answers = await asyncio.gather(
            *(
                slow_scrape(
                    daemon.port,
                    stall_seconds=1,
                    coding="gzip" if i % 2 else "identity",
                    keep_body=False,
                )
                for i in range(100)
            )
        )
        peak = daemon.status_kib("VmHWM")
        after = daemon.status_kib("VmRSS")
    finally:
        code, _ = daemon.stop()
    print(
        f"100 scrapes of 10,000 accounts: RSS {baseline // 1024} MiB before, peak "
        f"{peak // 1024} MiB, {after // 1024} MiB after"
    )
    assert code == 0
    assert all(a.status == 200 for a in answers)
    plain = [a for a in answers if "content-encoding" not in a.headers]
    compressed = [a for a in answers if a.headers.get("content-encoding") == "gzip"]
    assert len(plain) == len(compressed) == 50
    assert all(abs(a.size - first.size) < first.size / 100 for a in plain)
    assert all(a.size < first.size / 3 for a in compressed)
    # Scrapes of the same second got the same body: a handful of bodies for a hundred scrapes.
    assert len({a.sha256 for a in plain}) <= 5
    assert peak < PEAK_RSS_LIMIT_KIB
    assert after < baseline + 100 * 1024


@pytest.mark.anyio
async def test_a_client_that_stops_reading_does_not_hold_up_sigterm(
    big_upstream: FakeUpstream, configs: ConfigWriter, tmp_path: Path
) -> None:
    config = configs.for_upstream(big_upstream.base_url, timeout="30s")
    daemon = DaemonProcess(config, tmp_path, max_fds=FD_LIMIT)
    stalled: list[socket.socket] = []
    try:
        await _ready(daemon)
        for coding in ("identity", "gzip", "identity"):
            sock = socket.create_connection(("127.0.0.1", daemon.port))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(request("/metrics", "GET", f"Accept-Encoding: {coding}"))
            stalled.append(sock)
        for sock in stalled:  # the answers have started: the daemon is stuck sending them
            sock.settimeout(30)
            assert sock.recv(1, socket.MSG_PEEK) == b"H"
        code, took = daemon.stop(timeout=30)
    finally:
        daemon.kill()
        for sock in stalled:
            sock.close()
    print(f"SIGTERM with {len(stalled)} stalled readers: exit {code} in {took:.2f} s")
    assert code == 0
    assert took < 5
