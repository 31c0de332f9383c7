"""Basic auth under attack: no user enumeration by timing, checks taken in turns between peers,
and a flood of wrong passwords that cannot hold up a correct one by more than a second."""

from __future__ import annotations

import asyncio
import base64
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path

import bcrypt
import pytest

from monitor.secret import Secret
from monitor.web import WebGuard, load_web_config
from monitor.web.basicauth import BasicAuth, bcrypt_cost, decoy_hash
from monitor.web.checkqueue import CheckQueue, peer_key
from monitor.web.messages import Verdict
from tests.helpers import async_eventually
from tests.helpers.rawhttp import RawClient, request, serving

PASSWORD = "correct horse battery staple"
# The exporter toolkit's documented cost: slow enough for the timing tests to mean something.
COST = 10
GOOD_PEER = "127.0.0.2"  # the whole of 127/8 is loopback on Linux
FLOOD_PEER = "127.0.0.1"


def header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture(scope="module")
def hashed() -> str:
    return bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(COST)).decode()


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("10.1.2.3", "10.1.2.3"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("", ""),
        ("not-an-address", "not-an-address"),
    ],
)
def test_peer_key(address: str, key: str) -> None:
    assert peer_key(address) == key


# -- taking turns ---------------------------------------------------------------------------


class Gate:
    """Checks that block until released, recording the order they ran in."""

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.started = threading.Semaphore(0)
        self._release: dict[str, threading.Event] = {}

    def check(self, name: str, result: bool = False) -> Callable[[], bool]:
        self._release[name] = threading.Event()

        def run() -> bool:
            self.ran.append(name)
            self.started.release()
            assert self._release[name].wait(10)
            return result

        return run

    async def wait_started(self) -> None:
        assert await asyncio.to_thread(self.started.acquire, True, 10)

    def release(self, name: str) -> None:
        self._release[name].set()


@pytest.mark.anyio
async def test_peers_take_turns_and_a_newcomer_goes_next() -> None:
    gate = Gate()
    queue = CheckQueue(workers=1, per_peer=10)
    try:
        flood = [asyncio.ensure_future(queue.run("a", gate.check(f"a{i}"))) for i in range(5)]
        await gate.wait_started()  # a0 is running; a1..a4 wait
        good = asyncio.ensure_future(queue.run("b", gate.check("b0", True)))
        await asyncio.sleep(0)
        gate.release("a0")
        await gate.wait_started()
        assert gate.ran == ["a0", "b0"]  # before a1, though a1 asked first
        gate.release("b0")
        assert await good is True
        for i in range(1, 5):
            await gate.wait_started()
            gate.release(f"a{i}")
        assert await asyncio.gather(*flood) == [False] * 5
    finally:
        queue.close()


@pytest.mark.anyio
async def test_a_peer_that_failed_waits_behind_blameless_ones() -> None:
    gate = Gate()
    queue = CheckQueue(workers=1, per_peer=10)
    try:
        first = asyncio.ensure_future(queue.run("x", gate.check("x0")))
        await gate.wait_started()
        queue.failed("a")
        suspect = asyncio.ensure_future(queue.run("a", gate.check("a0")))  # asks first
        await asyncio.sleep(0)
        blameless = asyncio.ensure_future(queue.run("b", gate.check("b0")))
        await asyncio.sleep(0)
        gate.release("x0")
        await gate.wait_started()
        gate.release("b0")
        await gate.wait_started()
        gate.release("a0")
        await asyncio.gather(first, suspect, blameless)
        assert gate.ran == ["x0", "b0", "a0"]
    finally:
        queue.close()


@pytest.mark.anyio
async def test_suspects_hold_one_thread_at_most_so_a_good_login_starts_at_once() -> None:
    gate = Gate()
    queue = CheckQueue(workers=2, suspect_workers=1, per_peer=10)
    try:
        queue.failed("a")
        flood = [asyncio.ensure_future(queue.run("a", gate.check(f"a{i}"))) for i in range(3)]
        await gate.wait_started()
        await asyncio.sleep(0.05)
        assert gate.ran == ["a0"]  # the second thread stays free of the flood ...
        good = asyncio.ensure_future(queue.run("b", gate.check("b0", True)))
        await gate.wait_started()
        assert gate.ran == ["a0", "b0"]  # ... for a blameless check, at once
        gate.release("b0")
        assert await good is True
        for i in range(3):
            gate.release(f"a{i}")
            if i < 2:
                await gate.wait_started()
        assert await asyncio.gather(*flood) == [False] * 3
        assert gate.ran == ["a0", "b0", "a1", "a2"]
    finally:
        queue.close()


@pytest.mark.anyio
async def test_a_peer_may_have_only_so_many_checks_outstanding() -> None:
    gate = Gate()
    queue = CheckQueue(workers=1, per_peer=2)
    try:
        held = [asyncio.ensure_future(queue.run("a", gate.check(f"a{i}"))) for i in range(2)]
        await gate.wait_started()
        assert await queue.run("a", gate.check("a2")) is None  # refused at once
        held[1].cancel()  # one that waits goes away: its place is free again
        await asyncio.sleep(0)
        third = asyncio.ensure_future(queue.run("a", gate.check("a3")))
        gate.release("a0")
        await gate.wait_started()
        gate.release("a3")
        assert await third is False
        assert gate.ran == ["a0", "a3"]
        assert await held[0] is False
    finally:
        queue.close()


# -- no enumeration by timing ---------------------------------------------------------------


@pytest.mark.anyio
async def test_an_unknown_user_is_checked_at_the_highest_configured_cost(
    bcrypt_hashes: list[bytes],
) -> None:
    users = {
        "cheap": Secret(bcrypt.hashpw(b"a", bcrypt.gensalt(4)).decode()),
        "dear": Secret(bcrypt.hashpw(b"b", bcrypt.gensalt(6)).decode()),
    }
    auth = BasicAuth()
    try:
        for _ in range(2):
            assert await auth.check(users, header("nobody", "b")) is Verdict.DENY
        assert [bcrypt_cost(h) for h in bcrypt_hashes] == [6, 6]
        assert bcrypt_hashes[0] not in {s.reveal().encode() for s in users.values()}
    finally:
        auth.close()


def test_a_decoy_hash_matches_nothing_and_costs_a_real_check() -> None:
    decoy = decoy_hash(COST)
    assert bcrypt_cost(decoy) == COST
    assert len(decoy) == 60
    assert not bcrypt.checkpw(b"", decoy)
    assert decoy != decoy_hash(COST)  # random each time


@pytest.mark.anyio
async def test_an_unknown_user_costs_what_a_wrong_password_costs(hashed: str) -> None:
    users = {"prometheus": Secret(hashed)}
    auth = BasicAuth()
    unknown: list[float] = []
    wrong: list[float] = []
    try:
        for i in range(9):  # interleaved, so that drift in the machine's speed hits both
            for user, times in (("nobody", unknown), ("prometheus", wrong)):
                started = time.perf_counter()
                verdict = await auth.check(users, header(user, f"guess-{i}"), FLOOD_PEER)
                times.append(time.perf_counter() - started)
                assert verdict is Verdict.DENY
    finally:
        auth.close()
    ratio = statistics.median(unknown) / statistics.median(wrong)
    print(
        f"unknown user {statistics.median(unknown) * 1000:.1f} ms, wrong password "
        f"{statistics.median(wrong) * 1000:.1f} ms, ratio {ratio:.2f}"
    )
    assert 0.75 < ratio < 1.33


# -- a flood of wrong passwords -------------------------------------------------------------


async def _ask(port: int, credentials: str, local_address: str) -> int:
    client = await RawClient.connect(port, local_address=local_address)
    try:
        await client.send(request("/metrics", "GET", f"Authorization: {credentials}"))
        return (await client.answer(timeout=30)).status
    finally:
        client.close()


@pytest.mark.anyio
async def test_a_flood_of_wrong_passwords_delays_a_good_login_by_under_a_second(
    hashed: str, tmp_path: Path
) -> None:
    web = tmp_path / "web.yml"
    web.write_text(f"basic_auth_users:\n  prometheus: '{hashed}'\n")
    guard = WebGuard(load_web_config(web))
    answers: dict[int, int] = {}
    stop = asyncio.Event()

    async def flooder(i: int) -> None:
        while not stop.is_set():
            try:
                status = await _ask(port, header("prometheus", f"wrong-{i}"), FLOOD_PEER)
            except OSError:
                status = 0
            answers[status] = answers.get(status, 0) + 1

    async with serving(authorize=guard.authorize) as server:
        port = server.port
        flood = [asyncio.ensure_future(flooder(i)) for i in range(40)]
        try:

            async def in_full_swing() -> bool:  # wrong passwords checked and refused
                return answers.get(401, 0) >= 3

            await async_eventually(in_full_swing, what="the flood")
            started = time.monotonic()
            status = await _ask(port, header("prometheus", PASSWORD), GOOD_PEER)
            took = time.monotonic() - started
        finally:
            stop.set()
            await asyncio.gather(*flood, return_exceptions=True)
    print(f"good login under a flood of 40: {took * 1000:.0f} ms; flood answers {answers}")
    assert status == 200
    assert took < 1.0
    assert answers.get(429, 0) > 0  # the flood asked for more checks than it was given
