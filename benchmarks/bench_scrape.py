"""Memory and time of concurrent scrapes of a big snapshot, against one scrape in the same run.

    python benchmarks/bench_scrape.py [--accounts N] [--concurrency 1,10,100] [--stall S]

Runs the daemon as a process (`python -m monitor run`) against the fake upstream with N
accounts (10,000 by default), then scrapes /metrics with C clients at once, half asking for
gzip, each reading nothing for S seconds before reading the whole answer (as a slow network
would). Prints, per level, the wall time, bodies per second, and the daemon's resident memory
after and its peak (VmHWM). The peak's growth over the idle daemon, divided by the growth of one
scrape, is the ratio to watch: with every concurrent scrape sharing one body and one gzip form,
sent in bounded slices, it stays near 1 instead of growing with C.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.testing.fakeapi import FakeAccount, FakeUpstream
from tests.helpers import API_TOKEN, ConfigWriter
from tests.helpers.daemonprocess import DaemonProcess
from tests.helpers.rawhttp import slow_scrape

DAY = 86400.0


def accounts(count: int) -> list[FakeAccount]:
    now = time.time()
    return [
        FakeAccount(f"user{i:05d}@example.com", now + (i % 240 + 1) * 3600, max_jobs=1 + i % 8)
        for i in range(count)
    ]


def wait_ready(port: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("the daemon never became ready")


async def scrape_all(port: int, concurrency: int, stall: float) -> tuple[float, int]:
    started = time.monotonic()
    answers = await asyncio.gather(
        *(
            slow_scrape(port, stall_seconds=stall, coding="gzip" if i % 2 else "identity")
            for i in range(concurrency)
        )
    )
    assert all(a.status == 200 for a in answers)
    return time.monotonic() - started, sum(len(a.body) for a in answers)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--concurrency", default="1,10,100")
    parser.add_argument("--stall", type=float, default=1.0)
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]

    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeUpstream(token=API_TOKEN, accounts=accounts(args.accounts)) as fake,
    ):
        directory = Path(tmp)
        config = ConfigWriter(directory).for_upstream(fake.base_url, timeout="30s")
        daemon = DaemonProcess(config, directory, max_fds=1024)
        try:
            wait_ready(daemon.port)
            idle = daemon.status_kib("VmRSS")
            print(
                f"{args.accounts} accounts; idle daemon RSS {idle / 1024:.0f} MiB "
                f"(peak so far {daemon.status_kib('VmHWM') / 1024:.0f} MiB)"
            )
            print(
                f"{'scrapes':>8} {'wall s':>7} {'bodies/s':>9} {'MiB sent':>9} "
                f"{'RSS after':>10} {'peak':>7} {'growth/1':>9}"
            )
            one_growth: float | None = None
            for level in levels:
                wall, sent = asyncio.run(scrape_all(daemon.port, level, args.stall))
                rss = daemon.status_kib("VmRSS")
                peak = daemon.status_kib("VmHWM")
                growth = max(peak - idle, 1)
                if one_growth is None:
                    one_growth = growth
                print(
                    f"{level:>8} {wall:>7.2f} {level / wall:>9.1f} {sent / 2**20:>9.0f} "
                    f"{rss / 1024:>8.0f}Mi {peak / 1024:>5.0f}Mi {growth / one_growth:>9.2f}"
                )
        finally:
            code, took = daemon.stop()
            print(f"SIGTERM: exit {code} in {took:.2f} s")


if __name__ == "__main__":
    main()
