"""Configuration reload: the diff (pure) and the daemon applying it without losing state."""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from monitor.config.load import load_config
from monitor.config.model import Config
from monitor.config.policy import FirstMatch
from monitor.service.daemon import Daemon
from monitor.service.reload import diff_configs
from monitor.testing.fakeapi import ACCOUNTS, FakeAccount, FakeUpstream, Fault
from monitor.testing.fakeclock import FakeClock
from tests.helpers import API_TOKEN, DAY, ConfigWriter, LogCapture, async_eventually
from tests.helpers.daemons import get, running, scrape, series


def source_block(name: str, base_url: str, token_file: Path) -> str:
    return f'[[sources]]\nname = "{name}"\nbase_url = "{base_url}"\ntoken_file = "{token_file}"\n'


def write_config(
    configs: ConfigWriter,
    sources: list[tuple[str, str]],
    *,
    poll: str = 'interval = "1h"\njitter = 0',
    thresholds: str = "",
    listen: str = "127.0.0.1:0",
    timeout: str = "2s",
) -> Path:
    blocks = "\n".join(source_block(n, url, configs.token_file) for n, url in sources)
    return configs.write(
        f"""{blocks}
[poll]
timeout = "{timeout}"
{poll}

[thresholds]
{thresholds}

[metrics]
listen = "{listen}"

[alerts]
state_dir = "{configs.dir / "state"}"
"""
    )


def load(path: Path) -> Config:
    return load_config(path, env={})


# -- the diff -------------------------------------------------------------------------------


def test_the_diff_of_an_unchanged_config_is_empty(configs: ConfigWriter) -> None:
    config = load(write_config(configs, [("main", "http://a.test")]))
    diff = diff_configs(config, load(configs.dir / "config.toml"))
    assert diff.added == diff.removed == diff.new_clients == diff.changed == ()
    assert not diff.reschedule and not diff.rebind


def test_the_diff_names_what_changed(configs: ConfigWriter) -> None:
    old = load(
        write_config(
            configs,
            [("kept", "http://a.test"), ("moved", "http://a.test"), ("gone", "http://a.test")],
        )
    )
    new = load(
        write_config(
            configs,
            [("kept", "http://a.test"), ("moved", "http://b.test"), ("fresh", "http://a.test")],
            poll='interval = "10m"\njitter = 0',
            thresholds='warning = "48h"',
            listen="127.0.0.1:9999",
        )
    )
    diff = diff_configs(old, new)
    assert diff.added == ("fresh",)
    assert diff.removed == ("gone",)
    assert diff.new_clients == ("moved",)
    assert diff.reschedule and diff.rebind
    assert set(diff.changed) == {
        "sources.fresh",
        "sources.gone",
        "sources.moved.base_url",
        "poll.interval",
        "poll.stale_after",  # its default follows the interval
        "thresholds.warning",
        "metrics.port",
    }


def test_a_new_token_or_timeout_means_new_clients(configs: ConfigWriter) -> None:
    old = load(write_config(configs, [("main", "http://a.test")]))
    configs.token_file.write_text("a-rotated-token\n")
    rotated = load(configs.dir / "config.toml")
    diff = diff_configs(old, rotated)
    assert diff.new_clients == ("main",)
    assert diff.changed == ("sources.main.token",)
    assert "a-rotated-token" not in repr(diff)
    slower = load(write_config(configs, [("main", "http://a.test")], timeout="9s"))
    assert diff_configs(rotated, slower).new_clients == ("main",)


# -- the daemon -----------------------------------------------------------------------------


async def _polled(daemon: Daemon, name: str, count: int = 1) -> bool:
    return any(
        s.name == name and sum(s.polls_total.values()) >= count for s in daemon.snapshot.sources
    )


@pytest.mark.anyio
async def test_reload_applies_thresholds_at_once_and_keeps_data(
    fake: FakeUpstream, configs: ConfigWriter, logs: LogCapture
) -> None:
    path = write_config(configs, [("main", fake.base_url)])
    clock = FakeClock(time.time())

    async with running(Daemon(load(path), clock=clock, environ={})) as daemon:
        await async_eventually(lambda: _polled(daemon, "main"))
        bob = {"source": "main", "account": "bob@example.com"}
        before = await series(daemon)
        assert get(before, "pixverse_account_state", **bob, state="warning") == 1
        started = get(before, "pixverse_monitor_config_last_reload_success_timestamp_seconds")
        assert started == clock.time()
        write_config(configs, [("main", fake.base_url)], thresholds='warning = "36h"')
        clock.advance(60)
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
        assert sum(1 for r in fake.requests if r.path == ACCOUNTS) == 1

    (reloaded,) = logs.events("config.reloaded")
    assert reloaded["changed"] == ["thresholds.warning"]


@pytest.mark.anyio
async def test_reload_exports_the_new_limits_and_when_an_added_source_is_watched_from(
    fake: FakeUpstream, configs: ConfigWriter, logs: LogCapture
) -> None:
    path = write_config(configs, [("main", fake.base_url)], thresholds="min_usable_capacity = 2")
    clock = FakeClock(time.time())
    started = clock.time()

    async with running(Daemon(load(path), clock=clock, environ={})) as daemon:
        await async_eventually(lambda: _polled(daemon, "main"))
        main = {"source": "main"}
        before = await series(daemon)
        assert get(before, "pixverse_capacity_min_usable_jobs", **main) == 2
        assert get(before, "pixverse_monitor_stale_after_seconds", **main) == 3 * 3600
        write_config(
            configs,
            [("main", fake.base_url), ("extra", fake.base_url)],
            poll='interval = "1h"\njitter = 0\nstale_after = "5h"',
            thresholds="min_usable_capacity = 30",
        )
        clock.advance(60)
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
    path = write_config(configs, [("main", fake.base_url)])
    clock = FakeClock(time.time())

    daemon = Daemon(load(path), clock=clock, environ={})
    async with running(daemon):
        await async_eventually(lambda: _polled(daemon, "main"))
        started = clock.time()
        path.write_text(path.read_text().replace('interval = "1h"', 'interval = "soon"'))
        clock.advance(60)
        assert not await daemon.reload()
        got = await series(daemon)
        assert get(got, "pixverse_monitor_config_last_reload_successful") == 0
        assert get(got, "pixverse_monitor_config_last_reload_success_timestamp_seconds") == started
        assert daemon._config.poll.interval == timedelta(hours=1)
        assert get(got, "pixverse_monitor_up", source="main") == 1
        await daemon.poll("main")  # still polling with the old config
        write_config(configs, [("main", fake.base_url)])
        assert await daemon.reload()
        got = await series(daemon)
        assert get(got, "pixverse_monitor_config_last_reload_successful") == 1
        assert get(got, "pixverse_monitor_polls_total", source="main", outcome="success") == 2

    (failed,) = logs.events("config.reload_failed")
    assert failed["key"] == "poll.interval"
    assert failed["level"] == "error"
    assert API_TOKEN not in logs.text


@pytest.mark.anyio
async def test_sources_added_removed_and_moved(
    fake: FakeUpstream, configs: ConfigWriter, now: float
) -> None:
    path = write_config(configs, [("main", fake.base_url), ("old", fake.base_url)])

    with FakeUpstream(
        token=API_TOKEN, accounts=[FakeAccount("carol@example.com", now + 5 * DAY)]
    ) as other:
        daemon = Daemon(load(path), environ={})
        async with running(daemon):
            await async_eventually(lambda: _polled(daemon, "main"))
            await async_eventually(lambda: _polled(daemon, "old"))
            main_client = daemon._polls.sources["main"].client
            write_config(configs, [("main", fake.base_url), ("new", other.base_url)])
            assert await daemon.reload()
            assert daemon._polls.sources["main"].client is main_client
            await async_eventually(lambda: _polled(daemon, "new"), what="new source polled")
            text = (await scrape(daemon)).text
            assert 'source="old"' not in text
            assert 'pixverse_monitor_up{source="new"} 1' in text
            assert 'source="new",account="carol@example.com"' in text
            # "main" moves to the other upstream: a new client, and the old one is closed.
            write_config(configs, [("main", other.base_url), ("new", other.base_url)])
            assert await daemon.reload()
            assert daemon._polls.sources["main"].client is not main_client
            await async_eventually(
                lambda: _true(main_client._http.is_closed), what="old client closed"
            )
            await daemon.poll("main")
            got = await series(daemon)
            assert get(got, "pixverse_monitor_polls_total", source="main", outcome="success") == 2
            text = (await scrape(daemon)).text
            assert 'source="main",account="carol@example.com"' in text
            assert "alice@example.com" not in text


async def _true(value: bool) -> bool:
    return value


@pytest.mark.anyio
async def test_a_client_in_use_is_closed_only_after_its_poll(
    fake: FakeUpstream, configs: ConfigWriter, logs: LogCapture
) -> None:
    path = write_config(configs, [("main", fake.base_url)])

    with FakeUpstream(token=API_TOKEN) as other:
        daemon = Daemon(load(path), environ={})
        async with running(daemon):
            await async_eventually(lambda: _polled(daemon, "main"))
            old_client = daemon._polls.sources["main"].client
            fake.fail_next(ACCOUNTS, Fault(200, delay_seconds=0.5, body=b"{}"))
            poll = asyncio.create_task(daemon.poll("main"))
            await async_eventually(
                lambda: _true(sum(r.path == ACCOUNTS for r in fake.requests) == 2)
            )
            write_config(configs, [("main", other.base_url)])
            assert await daemon.reload()
            assert not old_client._http.is_closed
            result = await poll
            assert result is not None and result.outcome.value == "success"
            await async_eventually(lambda: _true(old_client._http.is_closed))


@pytest.mark.anyio
async def test_interval_change_reschedules_polls(fake: FakeUpstream, configs: ConfigWriter) -> None:
    path = write_config(configs, [("main", fake.base_url)])

    daemon = Daemon(load(path), environ={})
    async with running(daemon):
        await async_eventually(lambda: _polled(daemon, "main"))
        timers = daemon._time.timers
        assert timers.interval("poll:main") == timedelta(hours=1)
        next_run = timers.next_run("poll:main")
        assert next_run is not None
        write_config(configs, [("main", fake.base_url)], thresholds='warning = "48h"')
        assert await daemon.reload()
        assert timers.next_run("poll:main") == next_run
        write_config(configs, [("main", fake.base_url)], poll='interval = "2m"\njitter = 0')
        assert await daemon.reload()
        assert timers.interval("poll:main") == timedelta(minutes=2)
        later = timers.next_run("poll:main")
        assert later is not None and later < next_run


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.anyio
async def test_a_new_listen_address_is_bound_and_the_old_released(
    fake: FakeUpstream, configs: ConfigWriter
) -> None:
    path = write_config(configs, [("main", fake.base_url)])

    daemon = Daemon(load(path), environ={})
    async with running(daemon):
        old_port = daemon.metrics_port
        port = _free_port()
        write_config(configs, [("main", fake.base_url)], listen=f"127.0.0.1:{port}")
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
    path = write_config(configs, [("main", fake.base_url)])
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        daemon = Daemon(load(path), environ={})
        async with running(daemon):
            old_port = daemon.metrics_port
            write_config(
                configs,
                [("main", fake.base_url)],
                listen=f"127.0.0.1:{port}",
                thresholds='warning = "48h"',
            )
            assert not await daemon.reload()
            assert daemon.metrics_port == old_port
            assert daemon._config.thresholds.warning == timedelta(hours=72)
            assert (await scrape(daemon, "/healthz")).status_code == 200
    (failed,) = logs.events("config.reload_failed")
    assert failed["key"] == "metrics.listen"
    assert "cannot listen on" in failed["problem"]


@pytest.mark.anyio
async def test_reload_without_a_config_file_is_skipped(
    fake: FakeUpstream, configs: ConfigWriter
) -> None:
    config = load(write_config(configs, [("main", fake.base_url)]))

    async with running(Daemon(replace(config, path=None), environ={})) as daemon:
        assert not await daemon.reload()


def _firing(daemon: Daemon) -> set[tuple[str, str]]:
    return {(f.alert.name.value, f.alert.source) for f in daemon._alerting.firing()}


@pytest.mark.anyio
async def test_shortening_the_interval_raises_no_alert_by_itself(
    fake: FakeUpstream, configs: ConfigWriter, now: float
) -> None:
    """The bug: a healthy source polled 50 min ago, stale_after 3h; a SIGHUP sets interval
    10m, so stale_after 30m, and PixverseSourceDown fired at once "(success)"."""
    fake.set_accounts([FakeAccount("a@x.io", now + 30 * DAY)])
    path = write_config(configs, [("main", fake.base_url)])
    clock = FakeClock(time.time())
    async with running(Daemon(load(path), clock=clock, environ={})) as daemon:
        await async_eventually(lambda: _polled(daemon, "main"))
        clock.advance(50 * 60)
        daemon._evaluate()
        assert _firing(daemon) == set()
        write_config(configs, [("main", fake.base_url)], poll='interval = "10m"\njitter = 0')
        assert await daemon.reload()
        assert _firing(daemon) == set()
        # Staleness counts from the reload: 30 min of no success from then is an outage.
        fake.fail_always(ACCOUNTS, Fault(500))
        clock.advance(29 * 60)
        daemon._evaluate()
        assert _firing(daemon) == set()
        clock.advance(61)
        daemon._evaluate()
        assert _firing(daemon) == {("PixverseSourceDown", "main")}


@pytest.mark.anyio
async def test_a_reload_does_not_resolve_a_source_already_down(
    fake: FakeUpstream, configs: ConfigWriter
) -> None:
    path = write_config(configs, [("main", fake.base_url)])
    clock = FakeClock(time.time())
    async with running(Daemon(load(path), clock=clock, environ={})) as daemon:
        await async_eventually(lambda: _polled(daemon, "main"))
        clock.advance(3 * 3600 + 1)  # stale_after is 3 x 1h
        daemon._evaluate()
        assert ("PixverseSourceDown", "main") in _firing(daemon)
        # Down under the old schedule and the new one: the reload changes nothing about it.
        write_config(configs, [("main", fake.base_url)], poll='interval = "30m"\njitter = 0')
        assert await daemon.reload()
        assert ("PixverseSourceDown", "main") in _firing(daemon)


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
    path = write_config(configs, [("main", fake.base_url)])
    path.write_text(path.read_text() + rules)
    emails = sorted(a.email for a in fake.accounts())
    async with running(Daemon(load(path), environ={})) as daemon:
        await async_eventually(lambda: _polled(daemon, "main"))
        await daemon.poll("main")  # a second poll, evaluated again: nothing asked again
        assert sorted(asked) == emails
        path.write_text(path.read_text().replace('"36h"', '"30h"'))
        assert await daemon.reload()
        await daemon.poll("main")
        assert sorted(asked) == sorted(emails * 2)  # once more for the new config, only
