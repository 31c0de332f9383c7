"""The password checks' queue: peers keyed by address (an IPv6 /64 as one), checks taken in
turns between peers, a peer that failed behind blameless ones, and a bounded queue per peer."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from monitor.web.checkqueue import CheckQueue, peer_key


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
