"""Basic auth under attack: no user enumeration by timing, and a flood of wrong passwords that
cannot hold up a correct one by more than a second (tests/web/test_checkqueue.py has the turns
between peers that make it so)."""

from __future__ import annotations

import asyncio
import base64
import statistics
import time
from pathlib import Path

import bcrypt
import pytest

from monitor.secret import Secret
from monitor.web import WebGuard, load_web_config
from monitor.web.basicauth import BasicAuth, bcrypt_cost, decoy_hash
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
