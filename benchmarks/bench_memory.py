"""Resident memory of the daemon against a naive exporter, both polling the same fake upstream.

    python benchmarks/bench_memory.py [--accounts 30,10000] [--polls 3] [--interval 2]

For each account count, starts the fake upstream and, side by side against it, the naive
exporter (benchmarks/naive_exporter.py: the daemon's per-account token and capacity series as
prometheus_client gauges, from httpx and json; the baseline), the daemon with the same data
(`python -m monitor run`, subscription and plan reads off) and the daemon as configured by
default (plan reads on). Once each has polled `--polls` times (and the daemon with plans has
read every plan), samples each resident size (VmRSS) over two poll intervals, each sample
after a /metrics scrape as Prometheus would make, and prints the median and the peak (VmHWM)
with their ratios to the naive exporter's. Goals, same data: <= 1.25x at 30 accounts, <= 1.0x
at 10,000.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.testing.fakeapi import FakeAccount, FakeUpstream
from tests.helpers import API_TOKEN
from tests.helpers.daemonprocess import DaemonProcess

NAIVE = Path(__file__).resolve().parent / "naive_exporter.py"
GOALS = {30: 1.25, 10_000: 1.0}
POLLS = re.compile(rb'^pixverse_monitor_polls_total\{[^}]*outcome="success"[^}]*\} (\S+)$', re.M)
PLANS = re.compile(
    rb'^pixverse_monitor_requests_total\{[^}]*endpoint="features",outcome="success"\} (\S+)$',
    re.M,
)


def accounts(count: int) -> list[FakeAccount]:
    now = time.time()
    return [
        FakeAccount(
            f"user{i:05d}@example.com",
            now + (i % 240 + 1) * 3600,
            max_jobs=1 + i % 8,
            executing=i % 3,
        )
        for i in range(count)
    ]


def config(directory: Path, base_url: str, interval: float, *, plans: bool) -> Path:
    directory.mkdir()
    token_file = directory / "useapi-token"
    token_file.write_text(API_TOKEN + "\n")
    path = directory / "config.toml"
    path.write_text(
        f"""
[[sources]]
name = "main"
base_url = "{base_url}"
token_file = "{token_file}"
account_endpoint = {str(plans).lower()}
features_endpoint = {str(plans).lower()}

[poll]
interval = "{interval:g}s"
timeout = "30s"
jitter = 0

[metrics]
listen = "127.0.0.1:0"

[alerts]
state_dir = "{directory / "state"}"
"""
    )
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(field)


def counted(port: int, pattern: re.Pattern[bytes]) -> float:
    """The sum of the samples `pattern` finds in the exporter's /metrics (a scrape)."""
    try:
        body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=60).content
    except httpx.HTTPError:
        return 0.0
    return sum(float(m) for m in pattern.findall(body))


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)


def measure(count: int, polls: int, interval: float) -> dict[str, tuple[float, int]]:
    """(median VmRSS, VmHWM) in KiB of the naive exporter, the daemon on the same data, and
    the daemon with plan reads; the median of samples taken over two poll intervals once
    each has polled `polls` times (resident size swings with each poll's transient)."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeUpstream(token=API_TOKEN, accounts=accounts(count)) as fake,
    ):
        directory = Path(tmp)
        naive_port = free_port()
        naive = subprocess.Popen(
            [sys.executable, str(NAIVE), fake.base_url, str(naive_port), f"{interval:g}"],
            env={**os.environ, "USEAPI_TOKEN": API_TOKEN},
        )
        same = DaemonProcess(
            config(directory / "same", fake.base_url, interval, plans=False), directory / "same"
        )
        plans = DaemonProcess(
            config(directory / "plans", fake.base_url, interval, plans=True), directory / "plans"
        )
        try:
            timeout = 300 + polls * interval * 4
            pids = {"naive": naive.pid, "same": same.pid, "plans": plans.pid}
            ports = {"naive": naive_port, "same": same.port, "plans": plans.port}
            for name, port in ports.items():
                wait_for(lambda p=port: counted(p, POLLS) >= polls, timeout, f"{name} polls")
            wait_for(lambda: counted(plans.port, PLANS) >= count, timeout, "the plan reads")
            samples: dict[str, list[int]] = {name: [] for name in pids}
            end = time.monotonic() + 2 * interval
            while time.monotonic() < end:
                for name, port in ports.items():
                    counted(port, POLLS)  # a scrape, as Prometheus would
                    samples[name].append(status_kib(pids[name], "VmRSS"))
                time.sleep(interval / 8)
            return {
                name: (statistics.median(samples[name]), status_kib(pid, "VmHWM"))
                for name, pid in pids.items()
            }
        finally:
            same.stop()
            plans.stop()
            naive.terminate()
            naive.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", default="30,10000")
    parser.add_argument("--polls", type=int, default=3)
    parser.add_argument("--interval", type=float, default=2.0)
    args = parser.parse_args()

    rows = [("accounts", "process", "RSS", "ratio", "goal", "peak", "ratio")]
    for count in (int(c) for c in args.accounts.split(",")):
        sizes = measure(count, args.polls, args.interval)
        naive_rss, naive_peak = sizes["naive"]
        for name, label in (
            ("naive", "naive exporter (baseline)"),
            ("same", "daemon, same data"),
            ("plans", "daemon, plan reads on"),
        ):
            rss, peak = sizes[name]
            goal = GOALS.get(count) if name == "same" else None
            rows.append(
                (
                    f"{count:,}",
                    label,
                    f"{rss / 1024:.1f} MiB",
                    f"{rss / naive_rss:.2f}x",
                    f"<= {goal:.2f}x" if goal else "",
                    f"{peak / 1024:.1f} MiB",
                    f"{peak / naive_peak:.2f}x",
                )
            )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)).rstrip())


if __name__ == "__main__":
    main()
