"""One message per burst: on a fake clock, 30 accounts crossing a threshold at the same moment
are one notification per sink (webhook, Slack, Alertmanager), each carrying all 30 alerts; and
a group sent as several POSTs survives a kill -9 between two of them."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from monitor.alerts import Alerting
from monitor.config import AccountLabel, Config
from monitor.errors import Outcome
from monitor.evaluate import evaluate
from monitor.exposition import InternalMetrics
from monitor.snapshot import Criteria, PlanSnapshot, Snapshot, SourceSnapshot
from monitor.testing.fakeapi import FakeAccount, FakeUpstream
from monitor.testing.fakeclock import FakeClock
from monitor.testing.receiver import WebhookReceiver
from monitor.upstream.parse import Account, ExpirySource
from tests.helpers import API_TOKEN, DAY, HOUR, ConfigWriter, async_eventually, eventually
from tests.helpers.daemonprocess import DaemonProcess

START = 1_800_000_000.0
CROSSING = START + 600.0  # every token turns critical (24 h left) at this moment
EXTERNAL = "http://monitor.test:9877"


@pytest.fixture
def receivers() -> Iterator[dict[str, WebhookReceiver]]:
    made = {name: WebhookReceiver().start() for name in ("hook", "chat", "am")}
    try:
        yield made
    finally:
        for receiver in made.values():
            receiver.stop()


def snapshot(config: Config, accounts: list[Account], now: float) -> Snapshot:
    evaluation = evaluate(accounts, None, config.thresholds, AccountLabel.EMAIL, now)
    source = SourceSnapshot(
        "main", evaluation, True, Outcome.SUCCESS, now, 0.1, {}, START, PlanSnapshot()
    )
    return Snapshot((source,), now, Criteria.of(config))


@pytest.mark.anyio
async def test_30_simultaneous_crossings_are_one_notification_per_sink(
    configs: ConfigWriter, receivers: dict[str, WebhookReceiver]
) -> None:
    config = configs.load(
        "http://127.0.0.1:9",
        f"""
[[sinks]]
name = "hook"
url = "{receivers["hook"].url}/hook"

[[sinks]]
name = "chat"
type = "slack"
url = "{receivers["chat"].url}/services/T/B/x"

[[sinks]]
name = "am"
type = "alertmanager"
url = "{receivers["am"].url}"
resolve_grace = 0
""",
    )
    expiry = CROSSING + 24 * HOUR
    accounts = [
        Account(f"u{i:02d}@x.io", "", "", expiry, ExpirySource.EXPIRE_TIME, 4) for i in range(30)
    ]
    clock = FakeClock(START)
    alerting = Alerting(config, clock, metrics=InternalMetrics(process=False))
    await alerting.start(EXTERNAL)
    try:
        # 30 warnings at the first evaluation: one notification per sink.
        crossing = alerting.evaluate(snapshot(config, accounts, START), CROSSING)
        assert crossing == CROSSING

        async def one_each(count: int) -> bool:
            notified = [
                [r for r in receiver.accepted() if "idempotency-key" in r.headers]
                for receiver in receivers.values()
            ]
            return all(len(n) >= count for n in notified) and not alerting.pending()

        await async_eventually(lambda: one_each(1), what="the warnings")
        # The crossing: all 30 turn critical at once.
        clock.set(CROSSING)
        alerting.evaluate(snapshot(config, accounts, CROSSING), None)
        await async_eventually(lambda: one_each(2), what="the crossing")
    finally:
        await alerting.stop()

    hook, chat, posts = (receivers[name].accepted() for name in ("hook", "chat", "am"))
    # Alertmanager's periodic re-send of what fires (no Idempotency-Key) is no notification.
    am = [r for r in posts if "idempotency-key" in r.headers]
    assert (len(hook), len(chat), len(am)) == (2, 2, 2)
    warned, crossed = (r.json() for r in hook)
    assert len(warned["alerts"]) == len(crossed["alerts"]) == 30
    assert {a["labels"]["severity"] for a in crossed["alerts"]} == {"critical"}
    assert crossed["commonLabels"]["severity"] == "critical"
    message = chat[1].json()
    assert message["blocks"][0]["text"]["text"] == "PixVerse: 30 critical firing"
    assert "10 more: 10 critical" in message["blocks"][-2]["text"]["text"]
    # Alertmanager: the 30 alerts under their new severity, and the 30 under the old one
    # ended, in one POST (no resolve_grace to hold the ends back).
    posted = am[1].json()
    assert len(posted) == 60
    ended = [a for a in posted if a["labels"]["severity"] == "warning"]
    assert len(ended) == 30 and {a["endsAt"] for a in ended} == {"2027-01-15T08:10:00.000Z"}
    ids = [r.headers["idempotency-key"] for r in (*hook, *chat, *am)]
    assert len(set(ids)) == 6


def test_config_group_wait_is_bounded(configs: ConfigWriter) -> None:
    from monitor.errors import ConfigError

    sink = '[[sinks]]\nname = "hook"\nurl = "http://127.0.0.1:9/x"\ngroup_wait = "{}"\n'
    assert configs.load("http://x", sink.format("30s")).sinks[0].group_wait == timedelta(seconds=30)
    with pytest.raises(ConfigError) as caught:
        configs.load("http://x", sink.format("1h"))
    assert caught.value.key == "sinks[0].group_wait"


def _outbox(state: Path) -> list[dict[str, Any]]:
    try:
        outbox: list[dict[str, Any]] = orjson.loads(state.read_bytes())["outbox"]
    except (FileNotFoundError, orjson.JSONDecodeError):
        return []
    return outbox


def test_a_group_half_delivered_before_a_kill_is_finished_after_restart(
    configs: ConfigWriter,
) -> None:
    """450 accounts turn warning at once: one notification, three POSTs (200, 200, 50).
    Killed (-9) after the first is accepted, the daemon sends the other two after a restart,
    under the same notification id, and never the first again."""
    now = time.time()
    accounts = [FakeAccount(f"u{i:03d}@x.io", now + 2 * DAY) for i in range(450)]
    with FakeUpstream(API_TOKEN, accounts) as fake, WebhookReceiver() as receiver:
        receiver.respond(200)  # the first part
        receiver.respond(503, times=1000)  # then nothing more gets through
        path = configs.for_upstream(
            fake.base_url, f'[[sinks]]\nname = "ops"\nurl = "{receiver.url}/hook"\n'
        )
        state = configs.dir / "state" / "state.json"
        first = DaemonProcess(path, configs.dir)
        try:
            (saved,) = eventually(
                lambda: [n for n in _outbox(state) if n["parts_sent"] == 1],
                timeout=30,
                what="the first part recorded as sent",
            )
            first.process.send_signal(signal.SIGKILL)
            first.process.wait(timeout=10)
        finally:
            first.kill()
        assert len(saved["events"]) == 450
        receiver.reset()
        second = DaemonProcess(path, configs.dir)
        try:
            eventually(
                lambda: len(receiver.accepted()) == 3 and _outbox(state) == [],
                timeout=30,
                what="the rest delivered after the restart",
            )
            code, _ = second.stop()
        finally:
            second.kill()
    assert code == 0
    ident = saved["id"]
    parts = receiver.accepted()
    assert [r.headers["idempotency-key"] for r in parts] == [
        f"{ident}-1of3",
        f"{ident}-2of3",
        f"{ident}-3of3",
    ]
    assert [len(r.json()["alerts"]) for r in parts] == [200, 200, 50]
    sent = [a["labels"]["account"] for r in parts for a in r.json()["alerts"]]
    assert sorted(sent) == [f"u{i:03d}@x.io" for i in range(450)]  # each once
    refused = [r for r in receiver.received if r.answered == 503]
    assert refused and {r.headers["idempotency-key"] for r in refused} == {f"{ident}-2of3"}
