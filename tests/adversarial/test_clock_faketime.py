"""The daemon as a process whose wall clock libfaketime steps mid-run (the monotonic clock left
alone, as NTP leaves it), against the fake upstream and a webhook receiver in this process,
whose clocks are true: a step back a day leaves polling and /readyz as they were, and a 30-day
excursion pages no account."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.testing.fakeapi import ACCOUNTS, FakeUpstream, Fault
from monitor.testing.receiver import WebhookReceiver
from tests.helpers import ConfigWriter, eventually, http_status
from tests.helpers.daemonprocess import DaemonProcess

SKEW = "PixverseMonitorClockSkew"


def libfaketime() -> str:
    """The path of libfaketime; skip when missing locally, fail under CI (CI=true)."""
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    if not found:
        message = "libfaketime is not installed (Debian: apt-get install -y faketime)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}; CI must install it")
        pytest.skip(message)
    return found[0]


class SteppedDaemon:
    """`python -m monitor run` under libfaketime; `step(offset)` sets its wall clock's offset
    from the true time ("+0", "-1d", "+30d"), read again at every clock reading."""

    def __init__(self, tmp_path: Path, fake: FakeUpstream, receiver: WebhookReceiver) -> None:
        self._offset = tmp_path / "faketime"
        self.step("+0")
        configs = ConfigWriter(tmp_path)
        sink = f'[[sinks]]\nname = "ops"\ntype = "webhook"\nurl = "{receiver.url}/hook"\n'
        config = configs.for_upstream(
            fake.base_url, sink, interval="1s", timeout="1s", poll='stale_after = "3s"'
        )
        env = {
            "LD_PRELOAD": libfaketime(),
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "FAKETIME_TIMESTAMP_FILE": str(self._offset),
            "FAKETIME_NO_CACHE": "1",
        }
        self.process = DaemonProcess(config, tmp_path, env=env)

    def step(self, offset: str) -> None:
        self._offset.write_text(offset + "\n")

    def status(self, path: str) -> int | None:
        return http_status(self.process.port, path)


@pytest.fixture
def daemon(
    tmp_path: Path, fake: FakeUpstream, receiver: WebhookReceiver
) -> Iterator[SteppedDaemon]:
    stepped = SteppedDaemon(tmp_path, fake, receiver)
    try:
        yield stepped
        code, _ = stepped.process.stop()
        assert code == 0, stepped.process.stderr_path.read_text()
        assert "Traceback" not in stepped.process.stderr_path.read_text()
    finally:
        stepped.process.kill()


def notified(receiver: WebhookReceiver) -> list[tuple[str, str, str, str]]:
    return [
        (
            a["status"],
            a["labels"]["alertname"],
            a["labels"]["severity"],
            a["labels"].get("account", ""),
        )
        for a in receiver.alerts()
    ]


def polls_go_on(fake: FakeUpstream, count: int = 3, timeout: float = 10.0) -> None:
    """`count` more polls reach upstream (one a second, when all is well)."""
    target = fake.count(ACCOUNTS) + count
    eventually(lambda: fake.count(ACCOUNTS) >= target, timeout, what=f"{count} more polls")


def test_a_step_back_a_day_keeps_polling_and_readyz_honest(
    daemon: SteppedDaemon, fake: FakeUpstream, receiver: WebhookReceiver
) -> None:
    eventually(lambda: daemon.status("/readyz") == 200, timeout=30, what="ready")
    daemon.step("-1d")
    polls_go_on(fake)
    assert daemon.status("/readyz") == 200
    # Honest both ways: upstream failing makes it not ready after stale_after (3 s), and
    # SourceDown fires; reading it again makes it ready.
    fake.fail_always(ACCOUNTS, Fault(400))
    eventually(lambda: daemon.status("/readyz") == 503, timeout=10, what="not ready")
    down = ("firing", "PixverseSourceDown", "critical", "")
    eventually(lambda: down in notified(receiver), timeout=10, what="SourceDown")
    fake.fail_always(ACCOUNTS, None)
    eventually(lambda: daemon.status("/readyz") == 200, timeout=10, what="ready again")
    up = ("resolved", "PixverseSourceDown", "critical", "")
    eventually(lambda: up in notified(receiver), timeout=10, what="SourceDown resolved")
    polls_go_on(fake)


def test_a_30_day_excursion_pages_no_account(
    daemon: SteppedDaemon, fake: FakeUpstream, receiver: WebhookReceiver
) -> None:
    warning = ("firing", "PixverseTokenExpiringSoon", "warning", "bob@example.com")
    eventually(lambda: warning in notified(receiver), timeout=30, what="bob's warning")
    daemon.step("+30d")
    skewed = ("firing", SKEW, "warning", "")
    eventually(lambda: skewed in notified(receiver), timeout=10, what="the clock skew warning")
    polls_go_on(fake, count=8, timeout=20)  # put right after about 8 s
    daemon.step("+0")
    agreed = ("resolved", SKEW, "warning", "")
    eventually(lambda: agreed in notified(receiver), timeout=10, what="the clocks agreeing")
    polls_go_on(fake)  # and polling goes on, not 30 days out
    assert daemon.status("/readyz") == 200
    assert notified(receiver) == [warning, skewed, agreed]
