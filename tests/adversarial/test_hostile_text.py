"""Hostile text and headers from upstream: a `Retry-After` no RFC allows, emails and plan names
that try to forge `check`'s plugin line, and names too long to keep. Each once broke the
request path, the plugin output, or the size of /metrics and the state file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from monitor.config.load import load_config
from monitor.errors import Outcome
from monitor.service.daemon import Daemon
from monitor.testing.fakeapi import AVAILABLE, FakeAccount, FakeUpstream, Fault
from monitor.testing.fakefeatures import FakePlan, FakeSubscription
from monitor.testing.receiver import WebhookReceiver
from monitor.upstream.subscription import MAX_SERVICES
from tests.helpers import API_TOKEN, DAY, ConfigWriter, LogCapture, async_eventually
from tests.helpers.commands import cli
from tests.helpers.inprocess import first_poll, running, scrape, series

SUPERSCRIPT_TWO = {"Retry-After": "²"}  # "²".isdigit() is True; float("²") raises


@pytest.mark.anyio
async def test_a_retry_after_of_superscript_two_costs_the_daemon_nothing(
    fake: FakeUpstream, configs: ConfigWriter, logs: LogCapture
) -> None:
    """It turned the whole poll into a task error, and SourceDown fired although /accounts
    had answered 200."""
    config = load_config(configs.for_upstream(fake.base_url, timeout="1s"), env={})
    async with running(Daemon(config)) as daemon:
        await first_poll(daemon)
        fake.fail_next(AVAILABLE, Fault(429, headers=SUPERSCRIPT_TWO))
        result = await daemon.poll("main")
        assert result is not None and result.outcome is Outcome.SUCCESS, result
        got = await series(daemon)
    assert got[("pixverse_monitor_up", frozenset({("source", "main")}))] == 1
    assert not logs.events("task.failed")
    assert not [e for e in logs.events("alert.firing") if e["alertname"] == "PixverseSourceDown"]
    (ignored,) = logs.events("upstream.retry_after_ignored")
    assert ignored["value"] == repr("²")


def test_a_retry_after_of_superscript_two_still_gives_a_plugin_line(
    fake: FakeUpstream, configs: ConfigWriter
) -> None:
    """`check` printed a traceback and exited 1, with no PIXVERSE line."""
    fake.fail_next(AVAILABLE, Fault(429, headers=SUPERSCRIPT_TWO))
    done = cli("check", "--config", str(configs.for_upstream(fake.base_url)))
    assert done.stdout.startswith("PIXVERSE WARNING - "), (done.stdout, done.stderr)
    assert done.returncode == 1  # bob@example.com expires in two days
    assert "Traceback" not in done.stderr


FORGED = "x | forged=1\nPIXVERSE OK - all is well | hacked=1"


def test_upstream_text_cannot_forge_the_plugin_line(configs: ConfigWriter, now: float) -> None:
    """An email or a plan name with a newline planted a second `PIXVERSE OK` line, one with
    a `|` moved the perfdata boundary."""
    accounts = [
        FakeAccount(f"ev|l\nPIXVERSE OK - fine@x.io{chr(0x202E)}", now + 3600, max_jobs=2),
        FakeAccount("plan@x.io", now + 10 * DAY, plan=FakePlan(name=FORGED, expired_member=1)),
    ]
    with FakeUpstream(API_TOKEN, accounts) as fake:
        path = configs.for_upstream(fake.base_url)
        done = cli("check", "--config", str(path))
        as_json = cli("check", "--config", str(path), "--json")
    first, *rest = done.stdout.splitlines()
    assert first.startswith("PIXVERSE CRITICAL - ev|l".replace("|", "")), first
    assert first.count("|") == 1
    perfdata = first.partition(" | ")[2]
    assert perfdata.startswith("main_usable_jobs=")
    assert "forged" not in perfdata and "hacked" not in perfdata
    assert not any("|" in line or line.startswith("PIXVERSE ") for line in rest), rest
    assert done.returncode == 2
    # The JSON keeps every value whole, escaped so that no raw line break or bar is printed.
    assert "|" not in as_json.stdout
    document = orjson.loads(as_json.stdout)
    shown = {a["account"]: a for a in document["sources"][0]["accounts"]}
    assert shown["plan@x.io"]["plan"] == FORGED
    assert f"ev|l\nPIXVERSE OK - fine@x.io{chr(0x202E)}" in shown


LONG_PLAN = "Premium " * 12_800  # 100 KiB: more than the state file loads back (64 KiB a text)


def _sink(url: str) -> str:
    return f'\n[[sinks]]\nname = "ops"\nurl = "{url}/hook"\n'


def _saved(state: Path) -> dict[str, Any]:
    return orjson.loads(state.read_bytes()) if state.exists() else {"alerts": [], "outbox": []}


def _plan_alerts(entries: list[dict[str, Any]], *, event: bool) -> list[dict[str, Any]]:
    """The plan alerts of the saved book, or (`event`) of the saved outbox's notifications."""
    if event:
        alerts = [e["alert"] for notification in entries for e in notification["events"]]
    else:
        alerts = [e["alert"] for e in entries]
    return [a for a in alerts if a["name"] == "PixversePlanExpiringSoon"]


@pytest.mark.anyio
async def test_a_restart_after_long_plan_names_loses_nothing(
    configs: ConfigWriter, logs: LogCapture, now: float
) -> None:
    """Two lapsed plans with 100 KiB names, a sink down: the state file held texts longer
    than it loads, so the next start dropped both alerts (announced again) and both pending
    notifications (lost)."""
    plan = FakePlan(name=LONG_PLAN, expired_member=1)
    accounts = [FakeAccount(f"p{i}@x.io", now + 30 * DAY, plan=plan) for i in range(2)]
    receiver = WebhookReceiver().start()
    receiver.stop()  # refuses: the notifications stay pending
    with FakeUpstream(API_TOKEN, accounts) as fake:
        path = configs.for_upstream(fake.base_url, _sink(receiver.url), interval="2s", timeout="1s")
        config = load_config(path, env={})
        state = config.alerts.state_dir / "state.json"
        async with running(Daemon(config)):

            async def both_pending() -> bool:
                return len(_plan_alerts(_saved(state)["outbox"], event=True)) == 2

            await async_eventually(both_pending, timeout=15, what="two pending plan alerts")
        saved = _saved(state)
        pending = {n["id"] for n in saved["outbox"]}
        first_run = len(logs.events("alert.firing"))
        receiver.start()
        try:
            async with running(Daemon(load_config(path, env={}))) as daemon:

                async def delivered() -> bool:
                    got = {r.headers["idempotency-key"] for r in receiver.accepted()}
                    return pending <= got

                await async_eventually(delivered, timeout=15, what="the pending notifications")
                await daemon.poll("main")
        finally:
            receiver.stop()
    assert len(_plan_alerts(saved["alerts"], event=False)) == 2
    assert not logs.events("state.entries_dropped")
    assert len(logs.events("alert.firing")) == first_run  # nothing announced again
    assert {r.headers["idempotency-key"] for r in receiver.accepted()} == pending


@pytest.mark.anyio
async def test_names_too_long_to_keep_cost_neither_series_nor_state(
    configs: ConfigWriter, logs: LogCapture, now: float
) -> None:
    """20 accounts with 2 MiB plan names made /metrics 42 MB and the state file 84 MB;
    150,000 AI services in /v2/account made 450,002 series."""
    plan = FakePlan(name="P" * 2 * 1024 * 1024, expired_member=1)
    accounts = [FakeAccount(f"u{i}@x.io", now + 30 * DAY, plan=plan) for i in range(3)]
    services = {f"Service {n:06d}": {"total": 1, "active": 1} for n in range(150_000)}
    services["PixVerse API"] = {"total": 3, "active": 3}
    subscription = FakeSubscription(overrides={"accounts": services})
    with FakeUpstream(API_TOKEN, accounts, subscription) as fake:
        path = configs.for_upstream(fake.base_url, interval="2s", timeout="5s")
        config = load_config(path, env={})
        async with running(Daemon(config)) as daemon:

            async def read() -> bool:
                view = daemon.snapshot.sources[0].plans
                return len(view.plans) == 3 and view.subscription is not None

            await async_eventually(read, timeout=20, what="the plans and the subscription")
            body = (await scrape(daemon)).content
            got = await series(daemon)
    assert len(body) < 64 * 1024
    useapi = [labels for (name, labels) in got if name == "pixverse_useapi_accounts"]
    assert 3 <= len(useapi) <= 3 * MAX_SERVICES
    assert ("service", "PixVerse API") in {pair for labels in useapi for pair in labels}
    state = config.alerts.state_dir / "state.json"
    assert state.stat().st_size < 64 * 1024
    (dropped, *_) = logs.events("subscription.services_dropped")
    assert (dropped["kept"], dropped["dropped"]) == (MAX_SERVICES, 150_001 - MAX_SERVICES)
    assert {tuple(e["fields"]) for e in logs.events("plan.invalid_values")} == {("plan_name",)}
