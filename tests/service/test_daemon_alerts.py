"""Alerting through the whole daemon: notifications reach real receivers, survive restarts
and SIGKILL, and threshold crossings are notified on time."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from monitor.alerts.sinks.webhook import SIGNATURE_HEADER, verify_signature
from monitor.config.load import load_config
from monitor.service.daemon import Daemon
from monitor.testing.fakeapi import ACCOUNTS, FakeAccount, FakeUpstream, Fault
from monitor.testing.receiver import WebhookReceiver
from tests.helpers import (
    DAY,
    HOUR,
    ConfigWriter,
    LogCapture,
    async_eventually,
    eventually,
)
from tests.helpers.daemonprocess import DaemonProcess
from tests.helpers.inprocess import get, running, series

SECRET = "receiver-SECRET-hmac"


def sinks_toml(configs: ConfigWriter, url: str, extra: str = "") -> str:
    (configs.dir / "hmac").write_text(SECRET)
    return f"""
[[sinks]]
name = "ops"
type = "webhook"
url = "{url}/hook"
secret_file = "{configs.dir / "hmac"}"
{extra}
"""


def alerts_of(receiver: WebhookReceiver) -> list[tuple[str, str, str, str]]:
    out = []
    for got in receiver.accepted():
        for alert in got.json()["alerts"]:
            labels = alert["labels"]
            out.append(
                (
                    alert["status"],
                    labels["alertname"],
                    labels["severity"],
                    labels.get("account", ""),
                )
            )
    return sorted(out)


@pytest.mark.anyio
async def test_notifications_and_alert_metrics(
    fake: FakeUpstream,
    configs: ConfigWriter,
    receiver: WebhookReceiver,
    logs: LogCapture,
    now: float,
) -> None:
    fake.set_accounts(
        [
            FakeAccount("ok@x.io", now + 10 * DAY),
            FakeAccount("warn@x.io", now + 2 * DAY),
            FakeAccount("crit@x.io", now + 5 * HOUR),
            FakeAccount("gone@x.io", now - HOUR),
            FakeAccount("what@x.io", None),
        ]
    )
    config = configs.load(fake.base_url, sinks_toml(configs, receiver.url))

    async with running(Daemon(config)) as daemon:
        await _delivered(daemon, 1)
        got = await series(daemon)
        # gone@x.io: expired, and (until renewed) still expiring soon, as the rules judge it.
        assert get(got, "pixverse_monitor_alerts_firing", severity="critical") == 3
        assert get(got, "pixverse_monitor_alerts_firing", severity="warning") == 2
        # Five alerts of one poll: one notification.
        assert (
            get(got, "pixverse_monitor_notifications_total", sink="ops", outcome="delivered") == 1
        )
        for outcome in ("retried", "failed", "dropped"):
            assert (
                get(got, "pixverse_monitor_notifications_total", sink="ops", outcome=outcome) == 0
            )
        assert get(got, "pixverse_monitor_notifications_pending", sink="ops") == 0

    assert alerts_of(receiver) == [
        ("firing", "PixverseTokenExpired", "critical", "gone@x.io"),
        ("firing", "PixverseTokenExpiringSoon", "critical", "crit@x.io"),
        ("firing", "PixverseTokenExpiringSoon", "critical", "gone@x.io"),
        ("firing", "PixverseTokenExpiringSoon", "warning", "warn@x.io"),
        ("firing", "PixverseTokenExpiryUnknown", "warning", "what@x.io"),
    ]
    for got in receiver.accepted():
        assert verify_signature(
            SECRET, got.headers[SIGNATURE_HEADER.lower()], got.body, time.time()
        )
        assert got.path == "/hook"
    firing = logs.events("alert.firing")
    assert len(firing) == 5
    assert {e["reason"] for e in firing} == {"started"}
    (delivered,) = logs.events("notification.delivered")
    assert delivered["alerts"] == 5
    for secret in [SECRET, *fake.secrets_served()]:
        assert secret not in logs.text


async def _true(value: bool) -> bool:
    return value


async def _delivered(daemon: Daemon, count: int) -> None:
    """Wait until the daemon itself counts `count` deliveries and owes nothing: a receiver
    records a request before its answer reaches the sender, so its own list is too early."""

    async def done() -> bool:
        got = await series(daemon)
        delivered = get(
            got, "pixverse_monitor_notifications_total", sink="ops", outcome="delivered"
        )
        pending = get(got, "pixverse_monitor_notifications_pending", sink="ops")
        return delivered is not None and delivered >= count and pending == 0

    await async_eventually(done, what=f"{count} deliveries counted by the daemon")


@pytest.mark.anyio
async def test_unauthorized_is_source_down_at_once(
    fake: FakeUpstream, configs: ConfigWriter, receiver: WebhookReceiver
) -> None:
    fake.fail_always(ACCOUNTS, Fault(401))
    config = configs.load(fake.base_url, sinks_toml(configs, receiver.url))

    async with running(Daemon(config)):
        await async_eventually(lambda: _true(bool(receiver.accepted())))

    assert alerts_of(receiver) == [("firing", "PixverseSourceDown", "critical", "")]
    body = receiver.accepted()[0].json()
    assert body["commonLabels"] == {
        "alertname": "PixverseSourceDown",
        "severity": "critical",
        "source": "main",
    }
    assert "unauthorized" in body["commonAnnotations"]["summary"]


@pytest.mark.anyio
async def test_a_restart_neither_repeats_nor_forgets(
    fake: FakeUpstream, configs: ConfigWriter, receiver: WebhookReceiver, now: float
) -> None:
    fake.set_accounts(
        [FakeAccount("warn@x.io", now + 2 * DAY), FakeAccount("gone@x.io", now - HOUR)]
    )
    config = configs.load(fake.base_url, sinks_toml(configs, receiver.url))

    async def run_once() -> None:
        """Until this run has delivered one notification and polled."""
        async with running(Daemon(config)) as daemon:
            await _delivered(daemon, 1)
            await async_eventually(
                lambda: _true(all(sum(s.polls_total.values()) for s in daemon.snapshot.sources))
            )

    await run_once()
    fake.update("gone@x.io", expires_at=now + 30 * DAY)  # renewed while we were down
    await run_once()
    assert alerts_of(receiver) == [
        ("firing", "PixverseTokenExpired", "critical", "gone@x.io"),
        ("firing", "PixverseTokenExpiringSoon", "critical", "gone@x.io"),
        ("firing", "PixverseTokenExpiringSoon", "warning", "warn@x.io"),
        ("resolved", "PixverseTokenExpired", "critical", "gone@x.io"),
        ("resolved", "PixverseTokenExpiringSoon", "critical", "gone@x.io"),
    ]
    ids = [r.headers["idempotency-key"] for r in receiver.accepted()]
    assert len(ids) == len(set(ids)) == 2


def _outbox(state: Path) -> list[dict[str, Any]] | None:
    """The saved outbox; None before the first save."""
    try:
        document = orjson.loads((state / "state.json").read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None
    outbox: list[dict[str, Any]] = document["outbox"]
    return outbox


def _pending(state: Path) -> list[str] | None:
    """Ids in the saved outbox; None before the first save."""
    outbox = _outbox(state)
    return None if outbox is None else [n["id"] for n in outbox]


def _pending_events(state: Path) -> int:
    """Events in the saved outbox, in all its notifications."""
    return sum(len(n["events"]) for n in _outbox(state) or [])


def test_sigkill_with_pending_notifications_loses_and_repeats_nothing(
    fake: FakeUpstream, configs: ConfigWriter, now: float
) -> None:
    fake.set_accounts(
        [FakeAccount("gone@x.io", now - HOUR), FakeAccount("warn@x.io", now + 2 * DAY)]
    )
    receiver = WebhookReceiver().start()
    path = configs.for_upstream(
        fake.base_url, sinks_toml(configs, receiver.url), interval="1s", poll='stale_after = "1h"'
    )
    state = configs.dir / "state"
    first = DaemonProcess(path, configs.dir, name="first")
    try:
        # Run 1 delivers the two alerts of the moment ...
        # (an empty saved outbox: the daemon has seen both answers, not just sent both)
        eventually(
            lambda: len(receiver.alerts()) == 3 and _pending(state) == [],
            timeout=15,
            what="first deliveries",
        )
        delivered_before = {r.headers["idempotency-key"] for r in receiver.accepted()}
        # ... then the receiver goes away, things change, and notifications pile up.
        receiver.stop()
        fake.update("gone@x.io", expires_at=now + 30 * DAY)
        fake.remove("warn@x.io")
        fake.put(FakeAccount("what@x.io", None))
        # Two resolutions for gone@x.io, one for warn@x.io, one new alert for what@x.io.
        pending = eventually(
            lambda: _pending_events(state) == 4 and _pending(state),
            timeout=15,
            what="four pending alert events in the state file",
        )
        first.kill()  # SIGKILL, with those pending
    finally:
        first.kill()
    receiver.start()  # back, on the same port
    second = DaemonProcess(path, configs.dir, name="second")
    try:
        eventually(lambda: len(receiver.alerts()) == 7, timeout=15, what="pending deliveries")
        eventually(lambda: _pending(state) == [], timeout=5, what="an empty outbox")
        assert second.stop()[0] == 0
    finally:
        second.kill()
        receiver.stop()
    ids = [r.headers["idempotency-key"] for r in receiver.accepted()]
    assert len(ids) == len(set(ids)), "a notification was delivered twice"
    assert set(ids) == delivered_before | set(pending)
    assert ("firing", "PixverseTokenExpiryUnknown", "warning", "what@x.io") in alerts_of(receiver)


@pytest.mark.anyio
@pytest.mark.e2e
async def test_a_threshold_crossing_is_notified_within_2_seconds(
    fake: FakeUpstream, configs: ConfigWriter, receiver: WebhookReceiver
) -> None:
    crossing_at = float(int(time.time()) + 3)  # whole seconds, as upstream expiry times are
    fake.set_accounts([FakeAccount("edge@x.io", crossing_at + 24 * HOUR)])  # critical within 3 s
    config = configs.load(fake.base_url, sinks_toml(configs, receiver.url))  # polls hourly

    async with running(Daemon(config)):
        await async_eventually(
            lambda: _true(len(receiver.accepted()) == 2), timeout=10, what="the severity change"
        )

    first, second = receiver.accepted()
    assert first.json()["alerts"][0]["labels"]["severity"] == "warning"
    assert second.json()["alerts"][0]["labels"]["severity"] == "critical"
    latency = second.at_unix - crossing_at
    assert 0 <= latency < 2.0, f"notified {latency:.3f}s after the crossing"


def test_notify_test_command(configs: ConfigWriter, receiver: WebhookReceiver) -> None:
    with WebhookReceiver() as refusing:
        refusing.respond(400, times=10)
        path = configs.for_upstream(
            "http://127.0.0.1:1",
            sinks_toml(configs, receiver.url)
            + f'\n[[sinks]]\nname = "chat"\ntype = "slack"\nurl = "{refusing.url}/services/x"\n',
        )

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "monitor", "notify-test", "--config", str(path), *args],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )

        both = cli()
        assert both.returncode == 1
        assert (
            "ops (webhook http://127.0.0.1" in both.stdout and "delivered (HTTP 200)" in both.stdout
        )
        assert "chat (slack http://127.0.0.1" in both.stdout and "FAILED: HTTP 400" in both.stdout
        assert "/services/x" not in both.stdout  # the Slack URL's path is a credential
        assert cli("--sink", "ops").returncode == 0
        assert cli("--sink", "nope").returncode == 2
    (got, *_) = receiver.accepted()
    body = got.json()
    assert body["commonLabels"]["alertname"] == "PixverseMonitorTest"
    assert verify_signature(SECRET, got.headers[SIGNATURE_HEADER.lower()], got.body, time.time())
    empty = configs.for_upstream("http://127.0.0.1:1")
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "notify-test", "--config", str(empty)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert load_config(empty, env={}).sinks == ()


@pytest.mark.anyio
async def test_a_reload_reapplies_thresholds_and_sinks_without_losing_alert_state(
    fake: FakeUpstream, configs: ConfigWriter, receiver: WebhookReceiver, now: float
) -> None:
    fake.set_accounts(
        [FakeAccount("soon@x.io", now + 4 * DAY), FakeAccount("gone@x.io", now - HOUR)]
    )
    path = configs.for_upstream(fake.base_url, sinks_toml(configs, receiver.url))
    with WebhookReceiver() as second:
        async with running(Daemon(load_config(path, env={}))) as daemon:
            await async_eventually(lambda: _true(len(receiver.alerts()) == 2))
            # Warning from 5 days on, and a second sink: the 4-day token is now due a
            # warning, on the reload itself, sent to both sinks; the expired one is not
            # announced again to the first.
            path.write_text(
                path.read_text().replace("[metrics]", '[thresholds]\nwarning = "5d"\n\n[metrics]')
                + f'\n[[sinks]]\nname = "second"\nurl = "{second.url}"\n'
            )
            assert await daemon.reload()
            await async_eventually(lambda: _true(len(second.accepted()) == 1))
            await async_eventually(lambda: _true(len(receiver.alerts()) == 3))
        assert alerts_of(receiver) == [
            ("firing", "PixverseTokenExpired", "critical", "gone@x.io"),
            ("firing", "PixverseTokenExpiringSoon", "critical", "gone@x.io"),
            ("firing", "PixverseTokenExpiringSoon", "warning", "soon@x.io"),
        ]
        assert alerts_of(second) == [
            ("firing", "PixverseTokenExpiringSoon", "warning", "soon@x.io")
        ]


@pytest.mark.anyio
async def test_a_burst_is_one_notification_saved_a_few_times(
    fake: FakeUpstream,
    configs: ConfigWriter,
    receiver: WebhookReceiver,
    now: float,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from monitor.alerts.statefile import StateFile

    fake.set_accounts([FakeAccount(f"u{i}@x.io", None) for i in range(60)])  # expiry unknown
    config = configs.load(fake.base_url, sinks_toml(configs, receiver.url))
    saves: list[int] = []
    original = StateFile.write

    def counting(self: StateFile, data: bytes) -> None:
        saves.append(1)  # the daemon encodes on its loop and writes in a thread
        original(self, data)

    monkeypatch.setattr(StateFile, "write", counting)

    async with running(Daemon(config)) as daemon:
        await _delivered(daemon, 1)

    (post,) = receiver.accepted()  # 60 alerts of one poll: one POST
    assert len(post.json()["alerts"]) == 60
    assert 1 <= len(saves) < 10, len(saves)
    document = orjson.loads((configs.dir / "state" / "state.json").read_bytes())
    assert (len(document["alerts"]), document["outbox"]) == (60, [])
