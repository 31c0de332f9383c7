"""Basic auth over HTTP under attack, against baselines measured in the same run.

    python benchmarks/bench_basicauth.py [--cost 12] [--rounds 9] [--flood 40]

Serves a trivial handler behind the real web guard (a bcrypt hash of the given cost) on
127.0.0.1 and prints two ratios: an unknown user's answer time against a known user's with a
wrong password (target: 1, no user enumeration by timing), and a first, uncached correct login
from 127.0.0.2 while `--flood` wrong passwords are kept in flight from 127.0.0.1, against the
same login with no flood (target: the flood adds at most one check, well under a second).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import statistics
import sys
import tempfile
import time
from pathlib import Path

import bcrypt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.logs import configure_logging
from monitor.web import WebGuard, load_web_config
from tests.helpers.rawhttp import RawClient, request, serving


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def ask(port: int, credentials: str, local: str) -> tuple[int, float]:
    started = time.perf_counter()
    client = await RawClient.connect(port, local_address=local)
    try:
        await client.send(request("/metrics", "GET", f"Authorization: {credentials}"))
        status = (await client.answer(timeout=60)).status
    finally:
        client.close()
    return status, time.perf_counter() - started


async def run(cost: int, rounds: int, flood: int) -> None:
    hashed = bcrypt.hashpw(b"right", bcrypt.gensalt(cost)).decode()
    with tempfile.TemporaryDirectory() as tmp:
        web = Path(tmp) / "web.yml"
        web.write_text(f"basic_auth_users:\n  prometheus: '{hashed}'\n")
        guard = WebGuard(load_web_config(web))
        async with serving(authorize=guard.authorize) as server:
            port = server.port
            unknown: list[float] = []
            wrong: list[float] = []
            for i in range(rounds):
                for user, times in (("nobody", unknown), ("prometheus", wrong)):
                    status, took = await ask(port, basic(user, f"guess{i}"), "127.0.0.3")
                    assert status == 401
                    times.append(took)
            print(f"bcrypt cost {cost}; medians of {rounds} rounds, interleaved")
            print(f"{'':44} {'ms':>8} {'ratio':>7}")
            print(
                f"{'known user, wrong password (baseline)':44} "
                f"{statistics.median(wrong) * 1000:>8.1f} {1:>7.2f}"
            )
            print(
                f"{'unknown user':44} {statistics.median(unknown) * 1000:>8.1f} "
                f"{statistics.median(unknown) / statistics.median(wrong):>7.2f}"
            )

            quiet: list[float] = []
            loaded: list[float] = []
            stop = asyncio.Event()
            refused = {"401": 0, "429": 0}

            async def flooder(i: int) -> None:
                while not stop.is_set():
                    status, _ = await ask(port, basic("prometheus", f"w{i}"), "127.0.0.1")
                    refused[str(status)] = refused.get(str(status), 0) + 1

            for i in range(rounds):
                # A fresh password each round, so that no round finds it cached.
                password = f"right-{i}"
                new_hash = bcrypt.hashpw(password.encode(), bcrypt.gensalt(cost)).decode()
                web.write_text(f"basic_auth_users:\n  prometheus: '{new_hash}'\n")
                status, took = await ask(port, basic("prometheus", password), "127.0.0.2")
                assert status == 200
                quiet.append(took)
            stop.clear()
            tasks = [asyncio.ensure_future(flooder(i)) for i in range(flood)]
            await asyncio.sleep(1)  # let the flood fill every queue
            for i in range(rounds):
                password = f"flooded-{i}"
                new_hash = bcrypt.hashpw(password.encode(), bcrypt.gensalt(cost)).decode()
                web.write_text(f"basic_auth_users:\n  prometheus: '{new_hash}'\n")
                status, took = await ask(port, basic("prometheus", password), "127.0.0.2")
                assert status == 200
                loaded.append(took)
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            print(
                f"{'first correct login, no flood (baseline)':44} "
                f"{statistics.median(quiet) * 1000:>8.1f} {1:>7.2f}"
            )
            print(
                f"{f'first correct login, {flood} wrong in flight':44} "
                f"{statistics.median(loaded) * 1000:>8.1f} "
                f"{statistics.median(loaded) / statistics.median(quiet):>7.2f}"
                f"   (worst {max(loaded) * 1000:.0f} ms)"
            )
            print(f"flood answers: {refused}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cost", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--flood", type=int, default=40)
    args = parser.parse_args()
    # The file is rewritten every round (a fresh hash, so each first login is uncached): its
    # reloads would bury the table.
    configure_logging("warning", "console", stream=sys.stderr)
    asyncio.run(run(args.cost, args.rounds, args.flood))


if __name__ == "__main__":
    main()
