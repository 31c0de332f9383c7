"""The first round of plan reads at 10,000 accounts: how often the daemon evaluates, how fast
/healthz answers meanwhile, and how long the round takes; plan answers evaluated one by one
(as before batching) against at most one evaluation a second, in the same run.

    python benchmarks/bench_plans.py [--accounts N] [--interval SECONDS] [--cap SECONDS]

Runs the daemon as a process (the daemon's own `run`, through a small launcher that counts
and times its evaluations) against the fake upstream with N accounts (10,000 by default) and
a short poll interval (60 s), so that the first round, spread over one interval, should take
about that long. /healthz is asked every 20 ms, one request at a time, from this process. The
one-by-one daemon is stopped after `--cap` seconds (one interval by default; the paced one
after three) when it has not finished: the table then shows how far it got and when it would
have finished at that pace.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.testing.fakeapi import FEATURES, FakeAccount, FakeUpstream
from monitor.testing.fakefeatures import FakePlan
from tests.helpers import API_TOKEN, ConfigWriter

# The daemon as `pixverse-monitor run` runs it, with the pacing of plan evaluations set from
# the command line, and each evaluation's start and duration written to a file at exit.
LAUNCHER = """
import atexit, json, sys, time
import monitor.service.timekeeping as timekeeping
from monitor.cli import main
from monitor.service.daemon import Daemon

config, pacing, record = sys.argv[1], float(sys.argv[2]), sys.argv[3]
timekeeping.PLAN_EVALUATION_SECONDS = pacing
evaluations = []
evaluate = Daemon._evaluate

def counted(self):
    began = time.perf_counter()
    evaluate(self)
    evaluations.append((time.monotonic(), time.perf_counter() - began))

Daemon._evaluate = counted
atexit.register(lambda: open(record, "w").write(json.dumps(evaluations)))
sys.exit(main(["--log-format=json", "run", "--config", config]))
"""


def accounts(count: int) -> list[FakeAccount]:
    now = time.time()
    # Every tenth plan has lapsed: each of those alerts, so evaluations cost what they do
    # when something is wrong.
    return [
        FakeAccount(
            f"user{i:05d}@example.com",
            now + (i % 240 + 1) * 3600,
            max_jobs=1 + i % 8,
            plan=FakePlan(expired_member=int(i % 10 == 0)),
        )
        for i in range(count)
    ]


class Prober(threading.Thread):
    """GET /healthz every 20 ms, one at a time, recording how long each took."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.latencies: list[float] = []
        self.halt = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self.halt.is_set():
                began = time.perf_counter()
                client.get(f"http://127.0.0.1:{self.port}/healthz")
                self.latencies.append(time.perf_counter() - began)
                self.halt.wait(0.02)


def started_port(stdout: Path, process: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for line in stdout.read_text().splitlines():
            if '"daemon.started"' in line:
                return int(str(json.loads(line)["listen"]).rsplit(":", 1)[1])
        if process.poll() is not None:
            raise SystemExit(f"the daemon exited: {stdout.with_suffix('.err').read_text()}")
        time.sleep(0.1)
    raise SystemExit("the daemon did not start")


def measure(
    fake: FakeUpstream, directory: Path, pacing: float, *, count: int, interval: float, cap: float
) -> dict[str, float]:
    configs = ConfigWriter(directory)
    config = configs.for_upstream(
        fake.base_url, interval=f"{interval:g}s", timeout="30s", poll='features_interval = "1h"'
    )
    record = directory / "evaluations.json"
    stdout, stderr = directory / "daemon.out", directory / "daemon.err"
    before = fake.count(FEATURES)
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, str(config), str(pacing), str(record)],
            stdout=out,
            stderr=err,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        prober = Prober(started_port(stdout, process))
        started = time.monotonic()
        prober.start()
        while fake.count(FEATURES) - before < count and time.monotonic() - started < cap:
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        prober.halt.set()
        prober.join(30)
        reads = fake.count(FEATURES) - before
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    evaluations = [d for at, d in json.loads(record.read_text()) if at <= started + elapsed]
    latencies = sorted(prober.latencies)
    return {
        "reads": reads,
        "seconds": elapsed,
        "done": float(reads >= count),
        "finish": elapsed * count / max(reads, 1),
        "evaluations_per_second": len(evaluations) / elapsed,
        "evaluation_ms": 1000 * statistics.median(evaluations) if evaluations else 0.0,
        "busy": sum(evaluations) / elapsed,
        "healthz_median_ms": 1000 * statistics.median(latencies),
        "healthz_p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--interval", type=float, default=60.0)
    parser.add_argument("--cap", type=float, default=None)
    args = parser.parse_args()
    cap = args.cap if args.cap is not None else args.interval
    rows = []
    with FakeUpstream(token=API_TOKEN, accounts=accounts(args.accounts)) as fake:
        for name, pacing, limit in (("one by one", 0.0, cap), ("paced, 1 s", 1.0, 3 * cap)):
            with tempfile.TemporaryDirectory() as tmp:
                measured = measure(
                    fake, Path(tmp), pacing, count=args.accounts, interval=args.interval, cap=limit
                )
                rows.append((name, measured))
    print(
        f"\nFirst round of /features at {args.accounts:,} accounts, poll.interval "
        f"{args.interval:g} s (the round is spread over one interval)\n"
    )
    head = (
        f"{'evaluations':<12} {'evals/s':>8} {'eval ms':>8} {'loop busy':>9} "
        f"{'healthz p50':>12} {'healthz p99':>12} {'reads':>7} {'first round':>16}"
    )
    print(head)
    print("-" * len(head))
    for name, m in rows:
        finish = (
            f"{m['seconds']:.0f} s"
            if m["done"]
            else f">{m['seconds']:.0f} s (~{m['finish']:.0f} s)"
        )
        print(
            f"{name:<12} {m['evaluations_per_second']:>8.1f} {m['evaluation_ms']:>8.0f} "
            f"{m['busy']:>9.0%} {m['healthz_median_ms']:>9.1f} ms {m['healthz_p99_ms']:>9.1f} ms "
            f"{m['reads']:>7.0f} {finish:>16}"
        )
    base, paced = rows[0][1], rows[1][1]
    print(
        f"\npaced / one by one: evaluations per second x"
        f"{paced['evaluations_per_second'] / max(base['evaluations_per_second'], 1e-9):.2f}, "
        f"healthz p50 x{paced['healthz_median_ms'] / base['healthz_median_ms']:.2f}, "
        f"p99 x{paced['healthz_p99_ms'] / base['healthz_p99_ms']:.2f}, "
        f"time to finish the first round x{paced['finish'] / base['finish']:.2f}"
    )


if __name__ == "__main__":
    main()
