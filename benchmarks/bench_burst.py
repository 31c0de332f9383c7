"""A burst: 1,000 accounts turning critical at once, with a Slack and a webhook sink on
loopback receivers. Slack messages, webhook POSTs and seconds from the change to the last
delivery, for the code of a baseline (by default `main`, one notification per alert) and
for this tree (one notification per burst), measured in the same run, one after the other.

    python benchmarks/bench_burst.py [--accounts N] [--baseline REF]

The baseline runs from a git worktree of REF made for the run and removed after it;
`--baseline dbb48c8` is the last code that sent one notification per alert. Each
daemon polls every second; the accounts all go from 30 days left to 1 hour left in one
change of the fake upstream, so the burst is one poll's worth (the time includes waiting
for that poll). Target for this tree, at 1,000 accounts: one Slack message, 5 webhook POSTs
(200 alerts each), the last delivered within 10 s of the change.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.testing.fakeapi import ACCOUNTS, FakeAccount, FakeUpstream
from monitor.testing.receiver import WebhookReceiver
from tests.helpers import API_TOKEN, DAY, HOUR, ConfigWriter

ROOT = Path(__file__).resolve().parents[1]
SLACK_PATH = "/services/T0BENCH/B0BENCH/benchSlackPath"


@dataclass(frozen=True)
class Burst:
    slack_messages: int
    webhook_posts: int
    webhook_alerts: int
    seconds: float  # from the change upstream to the last delivery


@contextlib.contextmanager
def baseline_tree(ref: str) -> Iterator[Path]:
    """A checkout of `ref` beside this one, for the length of the run."""
    with tempfile.TemporaryDirectory(prefix="bench-burst-") as parent:
        tree = Path(parent) / "baseline"
        git = ["git", "-C", str(ROOT)]
        subprocess.run(
            [*git, "worktree", "add", "--detach", str(tree), ref], check=True, capture_output=True
        )
        try:
            yield tree
        finally:
            subprocess.run(
                [*git, "worktree", "remove", "--force", str(tree)], check=False, capture_output=True
            )


def start_daemon(config: Path, tree: Path, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    """`python -m monitor run` from `tree`'s package; its metrics port."""
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONUNBUFFERED": "1"}
    env.pop("USEAPI_TOKEN", None)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--log-format=json", "run", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tree,
            env=env,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in log.read_bytes().splitlines():
            if b'"daemon.started"' in line:
                listen = str(orjson.loads(line)["listen"])
                return process, int(listen.rsplit(":", 1)[1])
        if process.poll() is not None:
            raise SystemExit(f"daemon exited:\n{log.read_text()}")
        time.sleep(0.05)
    process.kill()
    raise SystemExit("daemon did not start")


def pending(port: int) -> float:
    """Notifications the daemon still owes, all sinks together."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("pixverse_monitor_notifications_pending{")
    )


def burst(tree: Path, count: int, work: Path) -> Burst:
    now = time.time()
    fine = [FakeAccount(f"u{i:05d}@x.io", now + 30 * DAY, max_jobs=4) for i in range(count)]
    with (
        FakeUpstream(API_TOKEN, fine) as fake,
        WebhookReceiver() as slack,
        WebhookReceiver() as hook,
    ):
        work.mkdir(parents=True, exist_ok=True)
        configs = ConfigWriter(work)
        sinks = (
            f'[[sinks]]\nname = "hook"\nurl = "{hook.url}/hook"\n\n'
            f'[[sinks]]\nname = "chat"\ntype = "slack"\nurl = "{slack.url}{SLACK_PATH}"\n'
        )
        config = configs.for_upstream(fake.base_url, sinks, interval="1s", timeout="5s")
        process, port = start_daemon(config, tree, work / "daemon.log")
        try:
            polled = [r for r in fake.requests if r.path == ACCOUNTS]
            while len(polled) < 2:  # running, and quiet: nothing is wrong yet
                time.sleep(0.05)
                polled = [r for r in fake.requests if r.path == ACCOUNTS]
            changed = time.time()
            fake.set_accounts([FakeAccount(a.email, changed + HOUR, max_jobs=4) for a in fine])
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                alerts = len(hook.alerts())
                if alerts >= count and slack.accepted() and pending(port) == 0:
                    break
                time.sleep(0.1)
            else:
                raise SystemExit("the burst was not delivered within 10 minutes")
        finally:
            process.terminate()
            process.wait(30)
        posts = hook.accepted() + slack.accepted()
        return Burst(
            slack_messages=len(slack.accepted()),
            webhook_posts=len(hook.accepted()),
            webhook_alerts=len(hook.alerts()),
            seconds=max(p.at_unix for p in posts) - changed,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--baseline", default="main", help="git ref of the code to compare with")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, baseline_tree(args.baseline) as old_tree:
        old = burst(old_tree, args.accounts, Path(scratch) / "old")
        new = burst(ROOT, args.accounts, Path(scratch) / "new")
    print(f"{args.accounts} accounts turning critical at once; a Slack and a webhook sink")
    print(f"{'':14} {'Slack messages':>15} {'webhook POSTs':>14} {'alerts':>7} {'seconds':>8}")
    for name, got in ((f"old ({args.baseline})", old), ("new", new)):
        print(
            f"{name:14} {got.slack_messages:>15} {got.webhook_posts:>14} "
            f"{got.webhook_alerts:>7} {got.seconds:>8.2f}"
        )
    print(f"new/old seconds: {new.seconds / old.seconds:.2f}")
    posts = -(-args.accounts // 200)
    met = new.slack_messages == 1 and new.webhook_posts == posts and new.seconds <= 10
    verdict = "met" if met else "MISSED"
    print(f"target (1 Slack message, {posts} webhook POSTs, within 10 s): {verdict}")


if __name__ == "__main__":
    main()
