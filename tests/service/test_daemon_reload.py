"""The daemon reloading its configuration (SIGHUP), its time driven by the test: what it keeps
(data, counters, clients, the poll schedule), what it applies at once with no new poll
(thresholds, limits, new sources, a new listen address), what a failed reload leaves in force,
and what a reload raises by itself, as docs/alerts.md says: a schedule change nothing, an
account no longer ignored fires, a new account_label starts every account alert again under
its new label, and new [[accounts]] labels start nothing."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.config.load import load_config
from monitor.config.model import Config
from monitor.config.policy import FirstMatch
from monitor.service.daemon import Daemon
from monitor.testing.fakeapi import ACCOUNTS, FakeAccount, FakeUpstream, Fault
from tests.helpers import (
    API_TOKEN,
    DAY,
    HOUR,
    ConfigWriter,
    LogCapture,
    async_eventually,
)
from tests.helpers.inprocess import (
    driven,
    firing,
    firing_names,
    get,
    running,
    scrape,
    series,
)

BOB = "bob@example.com"  # the shared fake's account within the 72h warning
# Answered at once, retried at once, failed: a poll that fails without waiting on real time.
DOWN = Fault(500, headers={"Retry-After": "0"})


def load(path: Path) -> Config:
    return load_config(path, env={})


def polls(daemon: Daemon, name: str = "main", outcome: str = "success") -> int:
    source = next(s for s in daemon.snapshot.sources if s.name == name)
    return sum(n for o, n in source.polls_total.items() if o.value == outcome)


# -- what it keeps and applies ----------------------------------------------------------------


@pytest.mark.anyio
async def test_reload_applies_thresholds_at_once_and_keeps_data(
    fake: FakeUpstream, configs: ConfigWriter, logs: LogCapture
) -> None:
    path = configs.for_sources([("main", fake.base_url)])

    async with driven(load(path), environ={}) as (daemon, schedule):
        clock = schedule.clock
        bob = {"source": "main", "account": BOB}
        before = await series(daemon)
        assert get(before, "pixverse_account_state", **bob, state="warning") == 1
        started = get(before, "pixverse_monitor_config_last_reload_success_timestamp_seconds")
        assert started == clock.time()
        configs.for_sources([("main", fake.base_url)], thresholds='warning = "36h"')
        await schedule.advance(60)
        assert await daemon.reload()
        after = await series(daemon)
        assert get(after, "pixverse_account_state", **bob, state="ok") == 1
        # The data and counters of the kept source are the ones from before the reload.
        for name, labels in (
            ("pixverse_monitor_polls_total", {"source": "main", "outcome": "success"}),
            ("pixverse_monitor_last_success_timestamp_seconds", {"source": "main"}),
            ("pixverse_account_token_expiry_timestamp_seconds", bob),
        ):
            assert get(after, name, **labels) == get(before, name, **labels) is not None
        assert get(after, "pixverse_monitor_config_last_reload_successful") == 1
        assert (
            get(after, "pixverse_monitor_config_last_reload_success_timestamp_seconds")
            == clock.time()
        )
        assert fake.count(ACCOUNTS) == 1

    (reloaded,) = logs.events("config.reloaded")
    assert reloaded["changed"] == ["thresholds.warning"]


@pytest.mark.anyio
async def test_reload_exports_the_new_limits_and_when_an_added_source_is_watched_from(
    fake: FakeUpstream, configs: ConfigWriter, logs: LogCapture
) -> None:
    path = configs.for_sources([("main", fake.base_url)], thresholds="min_usable_capacity = 2")

    async with driven(load(path), environ={}) as (daemon, schedule):
        started = schedule.clock.time()
        main = {"source": "main"}
        before = await series(daemon)
        assert get(before, "pixverse_capacity_min_usable_jobs", **main) == 2
        assert get(before, "pixverse_monitor_stale_after_seconds", **main) == 3 * 3600
        configs.for_sources(
            [("main", fake.base_url), ("extra", fake.base_url)],
            poll='interval = "1h"\njitter = 0\nstale_after = "5h"',
            thresholds="min_usable_capacity = 30",
        )
        await schedule.advance(60)
        assert await daemon.reload()
        # Applied with no new poll of main, and to the added source as well.
        after = await series(daemon)
        for source in ("main", "extra"):
            assert get(after, "pixverse_capacity_min_usable_jobs", source=source) == 30
            assert get(after, "pixverse_monitor_stale_after_seconds", source=source) == 5 * 3600
        watched = "pixverse_monitor_watch_start_timestamp_seconds"
        # poll.stale_after changed: the staleness of main counts from the reload now.
        assert get(after, watched, **main) == started + 60
        assert get(after, watched, source="extra") == started + 60
        assert get(after, "pixverse_monitor_polls_total", **main, outcome="success") == 1

    (reloaded,) = logs.events("config.reloaded")
    assert set(reloaded["changed"]) == {
        "sources.extra",
        "poll.stale_after",
        "thresholds.min_usable_capacity",
    }


@pytest.mark.anyio
async def test_a_broken_config_is_logged_and_the_running_one_kept(
    fake: FakeUpstream, configs: ConfigWriter, logs: LogCapture
) -> None:
    path = configs.for_sources([("main", fake.base_url)])

    async with driven(load(path), environ={}) as (daemon, schedule):
        started = schedule.clock.time()
        path.write_text(path.read_text().replace('interval = "1h"', 'interval = "soon"'))
        await schedule.advance(60)
        assert not await daemon.reload()
        got = await series(daemon)
        assert get(got, "pixverse_monitor_config_last_reload_successful") == 0
        assert get(got, "pixverse_monitor_config_last_reload_success_timestamp_seconds") == started
        assert get(got, "pixverse_monitor_up", source="main") == 1
        # Still the hourly schedule of the running config: stale after three of its hours,
        # polled an hour after the last poll.
        assert get(got, "pixverse_monitor_stale_after_seconds", source="main") == 3 * HOUR
        await schedule.advance(HOUR - 61)
        assert polls(daemon) == 1
        await schedule.advance(1)
        assert polls(daemon) == 2
        configs.for_sources([("main", fake.base_url)])
        assert await daemon.reload()
        got = await series(daemon)
        assert get(got, "pixverse_monitor_config_last_reload_successful") == 1
        assert get(got, "pixverse_monitor_polls_total", source="main", outcome="success") == 2

    (failed,) = logs.events("config.reload_failed")
    assert failed["key"] == "poll.interval"
    assert failed["level"] == "error"
    assert API_TOKEN not in logs.text


def last_connection(fake: FakeUpstream) -> int:
    """The connection the last /accounts request came on."""
    return next(r.connection for r in reversed(fake.requests) if r.path == ACCOUNTS)


async def _true(value: bool) -> bool:
    return value


@pytest.mark.anyio
async def test_sources_added_removed_and_moved(
    fake: FakeUpstream, configs: ConfigWriter, now: float
) -> None:
    path = configs.for_sources([("main", fake.base_url), ("old", fake.base_url)])

    with FakeUpstream(
        token=API_TOKEN, accounts=[FakeAccount("carol@example.com", now + 5 * DAY)]
    ) as other:
        async with driven(load(path), environ={}) as (daemon, schedule):
            await daemon.poll("main")
            main_connection = last_connection(fake)
            configs.for_sources([("main", fake.base_url), ("new", other.base_url)])
            assert await daemon.reload()
            await schedule.run_due()  # the new source is polled at once
            text = (await scrape(daemon)).text
            assert 'source="old"' not in text
            assert 'pixverse_monitor_up{source="new"} 1' in text
            assert 'source="new",account="carol@example.com"' in text
            # main keeps its client: its next poll comes on the connection it had.
            await daemon.poll("main")
            assert last_connection(fake) == main_connection
            # "main" moves to the other upstream: new clients, and the old ones are closed
            # (old's went with it): nothing is connected to the first upstream any more.
            configs.for_sources([("main", other.base_url), ("new", other.base_url)])
            assert await daemon.reload()
            await async_eventually(
                lambda: _true(fake.open_connections() == 0), what="the old clients closed"
            )
            await daemon.poll("main")
            got = await series(daemon)
            assert get(got, "pixverse_monitor_polls_total", source="main", outcome="success") == 4
            text = (await scrape(daemon)).text
            assert 'source="main",account="carol@example.com"' in text
            assert "alice@example.com" not in text


@pytest.mark.anyio
async def test_a_client_in_use_is_closed_only_after_its_poll(
    fake: FakeUpstream, configs: ConfigWriter
) -> None:
    path = configs.for_sources([("main", fake.base_url)])

    with FakeUpstream(token=API_TOKEN) as other:
        async with driven(load(path), environ={}) as (daemon, _):
            fake.fail_next(ACCOUNTS, Fault(200, delay_seconds=0.5, body=b"{}"))
            poll = asyncio.create_task(daemon.poll("main"))
            await async_eventually(lambda: _true(fake.count(ACCOUNTS) == 2))
            configs.for_sources([("main", other.base_url)])
            assert await daemon.reload()
            # Closed under it, the request in flight would have failed.
            result = await poll
            assert result is not None and result.outcome.value == "success"
            await async_eventually(lambda: _true(fake.open_connections() == 0))


@pytest.mark.anyio
async def test_interval_change_reschedules_polls(fake: FakeUpstream, configs: ConfigWriter) -> None:
    path = configs.for_sources([("main", fake.base_url)])

    async with driven(load(path), environ={}) as (daemon, schedule):
        await schedule.advance(600)
        configs.for_sources([("main", fake.base_url)], thresholds='warning = "48h"')
        assert await daemon.reload()
        # The schedule is kept: the next poll is an hour after the first.
        await schedule.advance(HOUR - 601)
        assert fake.count(ACCOUNTS) == 1
        await schedule.advance(1)
        assert fake.count(ACCOUNTS) == 2
        await schedule.advance(600)
        configs.for_sources([("main", fake.base_url)], poll='interval = "2m"\njitter = 0')
        assert await daemon.reload()
        # A new interval counts from the reload.
        await schedule.advance(119)
        assert fake.count(ACCOUNTS) == 2
        await schedule.advance(1)
        assert fake.count(ACCOUNTS) == 3
        await schedule.advance(120)
        assert fake.count(ACCOUNTS) == 4


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.anyio
async def test_a_new_listen_address_is_bound_and_the_old_released(
    fake: FakeUpstream, configs: ConfigWriter
) -> None:
    path = configs.for_sources([("main", fake.base_url)])

    async with driven(load(path), environ={}) as (daemon, _):
        old_port = daemon.metrics_port
        port = _free_port()
        configs.for_sources([("main", fake.base_url)], listen=f"127.0.0.1:{port}")
        assert await daemon.reload()
        assert daemon.metrics_port == port
        assert (await scrape(daemon, "/healthz")).status_code == 200
        with pytest.raises(httpx.ConnectError):
            async with httpx.AsyncClient() as client:
                await client.get(f"http://127.0.0.1:{old_port}/healthz")


@pytest.mark.anyio
async def test_an_address_in_use_fails_the_reload_and_changes_nothing(
    fake: FakeUpstream, configs: ConfigWriter, logs: LogCapture
) -> None:
    path = configs.for_sources([("main", fake.base_url)])
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        async with driven(load(path), environ={}) as (daemon, _):
            old_port = daemon.metrics_port
            configs.for_sources(
                [("main", fake.base_url)],
                listen=f"127.0.0.1:{port}",
                thresholds='warning = "48h"',
            )
            assert not await daemon.reload()
            assert daemon.metrics_port == old_port
            # Still the 72h warning: bob's 2 days left are a warning, not ok.
            bob = {"source": "main", "account": BOB}
            assert get(await series(daemon), "pixverse_account_state", **bob, state="warning") == 1
            assert (await scrape(daemon, "/healthz")).status_code == 200
    (failed,) = logs.events("config.reload_failed")
    assert failed["key"] == "metrics.listen"
    assert "cannot listen on" in failed["problem"]


@pytest.mark.anyio
async def test_reload_without_a_config_file_is_skipped(
    fake: FakeUpstream, configs: ConfigWriter
) -> None:
    config = load(configs.for_sources([("main", fake.base_url)]))

    async with running(Daemon(replace(config, path=None), environ={})) as daemon:
        assert not await daemon.reload()


@pytest.mark.anyio
async def test_each_email_is_matched_against_the_rules_once_per_config(
    fake: FakeUpstream, configs: ConfigWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon and its plan schedules each made a Policy, so 2,000 rules for 5,000
    accounts were matched twice per reload (8 s each); now one, made once per reload, answers
    the polls, the evaluations and the plan schedules alike."""
    asked: list[str] = []
    first = FirstMatch.first

    def counted(self: FirstMatch, email: str) -> int | None:
        asked.append(email)
        return first(self, email)

    monkeypatch.setattr(FirstMatch, "first", counted)
    rules = '\n[[accounts]]\nmatch = "bob@*"\nwarning = "36h"\ncritical = "12h"\n'
    path = configs.for_sources([("main", fake.base_url)], extra=rules)
    emails = sorted(a.email for a in fake.accounts())
    async with driven(load(path), environ={}) as (daemon, _):
        await daemon.poll("main")  # a second poll, evaluated again: nothing asked again
        assert sorted(asked) == emails
        path.write_text(path.read_text().replace('"36h"', '"30h"'))
        assert await daemon.reload()
        await daemon.poll("main")
        assert sorted(asked) == sorted(emails * 2)  # once more for the new config, only


# -- what a reload raises by itself -----------------------------------------------------------


@pytest.mark.anyio
async def test_shortening_the_interval_raises_no_alert_by_itself(
    fake: FakeUpstream, configs: ConfigWriter, now: float
) -> None:
    """The bug: a healthy source polled 50 min ago, stale_after 3h; a SIGHUP sets interval
    10m, so stale_after 30m, and PixverseSourceDown fired at once "(success)"."""
    fake.set_accounts([FakeAccount("a@x.io", now + 30 * DAY)])
    path = configs.for_sources([("main", fake.base_url)])
    async with driven(load(path), environ={}) as (daemon, schedule):
        await schedule.advance(50 * 60)
        assert await firing_names(daemon) == set()
        configs.for_sources([("main", fake.base_url)], poll='interval = "10m"\njitter = 0')
        assert await daemon.reload()
        assert await firing_names(daemon) == set()
        # Staleness counts from the reload: 30 min of no success from then is an outage,
        # noticed by the evaluation timer at that moment, between two polls.
        fake.fail_always(ACCOUNTS, DOWN)
        await schedule.advance(30 * 60 - 1)
        assert polls(daemon, outcome="http_error") == 2
        assert await firing_names(daemon) == set()
        await schedule.advance(1)
        assert await firing_names(daemon) == {("PixverseSourceDown", "main")}


@pytest.mark.anyio
async def test_a_reload_does_not_resolve_a_source_already_down(
    fake: FakeUpstream, configs: ConfigWriter
) -> None:
    path = configs.for_sources([("main", fake.base_url)])
    async with driven(load(path), environ={}) as (daemon, schedule):
        fake.fail_always(ACCOUNTS, DOWN)
        await schedule.advance(3 * HOUR + 1)  # stale_after is 3 x 1h
        assert ("PixverseSourceDown", "main") in await firing_names(daemon)
        # Down under the old schedule and the new one: the reload changes nothing about it.
        configs.for_sources([("main", fake.base_url)], poll='interval = "30m"\njitter = 0')
        assert await daemon.reload()
        assert ("PixverseSourceDown", "main") in await firing_names(daemon)


def alert_events(logs: LogCapture) -> list[tuple[str, str, str | None, str]]:
    """(event, alertname, account, reason) of every alert logged so far."""
    found: list[dict[str, Any]] = logs.events("alert.firing") + logs.events("alert.resolved")
    return sorted((e["event"], e["alertname"], e["account"], e["reason"]) for e in found)


@pytest.mark.anyio
async def test_an_account_no_longer_ignored_fires_at_once(
    fake: FakeUpstream, configs: ConfigWriter, logs: LogCapture
) -> None:
    ignored = f'[[accounts]]\nmatch = "{BOB}"\nignore = true\n'
    path = configs.for_sources([("main", fake.base_url)], extra=ignored)
    async with driven(load(path), environ={}) as (daemon, _):
        assert alert_events(logs) == []
        configs.for_sources([("main", fake.base_url)])
        assert await daemon.reload()
        expected = [("alert.firing", "PixverseTokenExpiringSoon", BOB, "started")]
        assert alert_events(logs) == expected
        assert fake.count(ACCOUNTS) == 1  # no new poll


@pytest.mark.anyio
async def test_new_policy_labels_start_nothing_a_new_account_label_starts_again(
    fake: FakeUpstream, configs: ConfigWriter, logs: LogCapture
) -> None:
    path = configs.for_sources([("main", fake.base_url)])
    async with driven(load(path), environ={}) as (daemon, _):
        started = [("alert.firing", "PixverseTokenExpiringSoon", BOB, "started")]
        assert alert_events(logs) == started
        (before,) = await firing(daemon)
        # A team label: the same alert, now carrying it; nothing notified.
        team = f'[[accounts]]\nmatch = "{BOB}"\nlabels = {{ team = "studio" }}\n'
        configs.for_sources([("main", fake.base_url)], extra=team)
        assert await daemon.reload()
        assert alert_events(logs) == started
        (relabelled,) = logs.events("alert.relabelled")  # for Alertmanager to end the old
        assert relabelled["alertname"] == "PixverseTokenExpiringSoon"
        (after,) = await firing(daemon)
        assert after["labels"] == {**before["labels"], "team": "studio"}
        assert after["starts_at"] == before["starts_at"]
        # A new account label is a new identity: resolved under the old, started under the new.
        configs.for_sources([("main", fake.base_url)], metrics='account_label = "hash"', extra=team)
        assert await daemon.reload()
        (hashed,) = await firing(daemon)
        account = hashed["labels"]["account"]
        assert account != BOB
        assert alert_events(logs) == sorted(
            [
                *started,
                ("alert.resolved", "PixverseTokenExpiringSoon", BOB, "resolved"),
                ("alert.firing", "PixverseTokenExpiringSoon", account, "started"),
            ]
        )
        # Its resolution says what the daemon sees: the old label is gone from the source.
        (resolved,) = logs.events("alert.resolved")
        assert resolved["summary"] == f"PixVerse account {BOB} removed from source main"
        assert fake.count(ACCOUNTS) == 1  # no new poll
