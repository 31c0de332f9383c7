"""The daemon against the fake upstream on loopback: metrics, failures, logs, stop, secrets."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from datetime import datetime

import pytest

from monitor.clock import SystemClock
from monitor.config.load import load_config
from monitor.evaluate import email_hash
from monitor.service.daemon import Daemon
from monitor.testing.fakeapi import ACCOUNTS, AVAILABLE, FakeAccount, FakeUpstream, Fault
from monitor.testing.fakeclock import FakeClock
from tests.helpers import API_TOKEN, DAY, HOUR, ConfigWriter, LogCapture, async_eventually
from tests.helpers.inprocess import Series, driven, get, running, scrape, series


def five_states(now: float) -> list[FakeAccount]:
    return [
        FakeAccount(
            "ok@x.io", now + 10 * DAY, max_jobs=8, executing=3, username="oki", account_id=111
        ),
        FakeAccount("warn@x.io", now + 2 * DAY, max_jobs=3, executing=1),
        FakeAccount("crit@x.io", now + 5 * HOUR, max_jobs=2, executing=0),
        FakeAccount("gone@x.io", now - HOUR, max_jobs=5, executing=0),
        FakeAccount("what@x.io", None, max_jobs=4, executing=0),
    ]


@pytest.mark.anyio
async def test_every_metric_with_values(
    fake: FakeUpstream, configs: ConfigWriter, now: float
) -> None:
    fake.set_accounts(five_states(now))
    config = configs.load(fake.base_url)

    async with running(Daemon(config)) as daemon:
        await async_eventually(lambda: _polled(daemon), what="first poll")
        got = await series(daemon)
        src = {"source": "main"}
        ok = {**src, "account": "ok@x.io"}
        expiry = get(got, "pixverse_account_token_expiry_timestamp_seconds", **ok)
        assert expiry == int(now + 10 * DAY)
        ttl = get(got, "pixverse_account_token_ttl_seconds", **ok)
        assert ttl is not None and abs(ttl - (expiry - time.time())) < 5
        gone_ttl = get(got, "pixverse_account_token_ttl_seconds", **src, account="gone@x.io")
        assert gone_ttl is not None and gone_ttl < 0
        assert get(got, "pixverse_account_token_ttl_seconds", **src, account="what@x.io") is None
        expected_state = {
            "ok@x.io": "ok",
            "warn@x.io": "warning",
            "crit@x.io": "critical",
            "gone@x.io": "expired",
            "what@x.io": "unknown",
        }
        for account, state in expected_state.items():
            for other in expected_state.values():
                value = get(got, "pixverse_account_state", **src, account=account, state=other)
                assert value == (1 if other == state else 0), (account, other)
        assert get(got, "pixverse_account_max_jobs", **ok) == 8
        assert get(got, "pixverse_account_jobs_executing", **ok) == 3
        assert get(got, "pixverse_account_jobs_available", **ok) == 5
        assert (
            get(
                got,
                "pixverse_account_info",
                **ok,
                account_id="111",
                username="oki",
                expiry_source="expire_time",
            )
            == 1
        )
        for state in expected_state.values():
            assert get(got, "pixverse_accounts", **src, state=state) == 1
        assert get(got, "pixverse_capacity_jobs", **src, state="ok") == 8
        assert get(got, "pixverse_capacity_jobs", **src, state="expired") == 5
        assert get(got, "pixverse_capacity_usable_jobs", **src) == 8 + 3 + 2
        assert get(got, "pixverse_capacity_free_jobs", **src) == 5 + 2 + 2
        assert get(got, "pixverse_monitor_up", **src) == 1
        last = get(got, "pixverse_monitor_last_success_timestamp_seconds", **src)
        assert last is not None and abs(last - time.time()) < 10
        duration = get(got, "pixverse_monitor_poll_duration_seconds", **src)
        assert duration is not None and 0 < duration < 2
        assert get(got, "pixverse_monitor_polls_total", **src, outcome="success") == 1
        assert any(name == "pixverse_monitor_build_info" for name, _ in got)
        for path, status in (("/healthz", 200), ("/readyz", 200), ("/", 200), ("/nope", 404)):
            assert (await scrape(daemon, path)).status_code == status


async def _polled(daemon: Daemon, count: int = 1) -> bool:
    return any(sum(s.polls_total.values()) >= count for s in daemon.snapshot.sources)


@pytest.mark.anyio
async def test_removed_account_vanishes_and_renewal_shows(
    fake: FakeUpstream, configs: ConfigWriter, now: float
) -> None:
    config = configs.load(fake.base_url)

    async with running(Daemon(config)) as daemon:
        await async_eventually(lambda: _polled(daemon))
        assert 'account="bob@example.com"' in (await scrape(daemon)).text
        fake.remove("bob@example.com")
        fake.update("alice@example.com", expires_at=now + 30 * DAY)
        await daemon.poll("main")
        text = (await scrape(daemon)).text
        assert "bob@example.com" not in text
        got = await series(daemon)
        alice = {"source": "main", "account": "alice@example.com"}
        assert get(got, "pixverse_account_token_expiry_timestamp_seconds", **alice) == int(
            now + 30 * DAY
        )


@pytest.mark.anyio
async def test_failed_poll_keeps_last_data_and_sets_up_0(
    fake: FakeUpstream, configs: ConfigWriter, logs: LogCapture
) -> None:
    config = configs.load(fake.base_url)
    clock = FakeClock(time.time())

    async with running(Daemon(config, clock=clock)) as daemon:
        await async_eventually(lambda: _polled(daemon))
        before = await series(daemon)
        fake.serve_raw(ACCOUNTS, b"<html>maintenance</html>")
        await daemon.poll("main")
        after = await series(daemon)
        src = {"source": "main"}
        assert get(after, "pixverse_monitor_up", **src) == 0
        alice = {"source": "main", "account": "alice@example.com"}
        for name in (
            "pixverse_account_token_expiry_timestamp_seconds",
            "pixverse_account_max_jobs",
            "pixverse_capacity_usable_jobs",
        ):
            labels = alice if name.startswith("pixverse_account") else src
            assert get(after, name, **labels) == get(before, name, **labels) is not None
        assert get(after, "pixverse_monitor_last_success_timestamp_seconds", **src) == get(
            before, "pixverse_monitor_last_success_timestamp_seconds", **src
        )
        assert get(after, "pixverse_monitor_polls_total", **src, outcome="invalid_payload") == 1
        # Still ready while the last success is within stale_after ...
        assert (await scrape(daemon, "/readyz")).status_code == 200
        # ... and not once it is older.
        clock.advance(config.poll.stale_after.total_seconds() + 1)
        response = await scrape(daemon, "/readyz")
        assert response.status_code == 503
        assert "main" in response.text
        fake.serve_raw(ACCOUNTS, None)
        await daemon.poll("main")
        assert get(await series(daemon), "pixverse_monitor_up", **src) == 1
        assert (await scrape(daemon, "/readyz")).status_code == 200

    (failed,) = logs.events("poll.failed")
    assert failed["outcome"] == "invalid_payload"
    assert failed["source"] == "main"
    assert failed["level"] == "warning"
    assert "not JSON" in failed["error"]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("fault", "outcome", "event"),
    [
        (Fault(401), "unauthorized", "poll.failed"),
        (Fault(403), "unauthorized", "poll.failed"),
        ("no-accounts", "no_accounts", "poll.no_accounts"),
        (Fault(429, headers={"Retry-After": "0"}), "success", "poll.completed"),
        (Fault(500, headers={"Retry-After": "0"}), "http_error", "poll.failed"),
        (Fault(200, delay_seconds=1.5), "timeout", "poll.failed"),
        ("refused", "connection_error", "poll.failed"),
        (Fault(200, body=b"not json"), "invalid_payload", "poll.failed"),
        ("oversized", "too_large", "poll.failed"),
        ("wrong-types", "success", "poll.completed"),
        ("capacity-down", "capacity_unavailable", "poll.completed"),
    ],
)
async def test_each_upstream_outcome_is_counted_and_logged(
    fake: FakeUpstream,
    configs: ConfigWriter,
    logs: LogCapture,
    now: float,
    fault: Fault | str,
    outcome: str,
    event: str,
) -> None:
    base_url = fake.base_url
    timeout, extra = "2s", ""
    if fault == "refused":
        base_url = f"http://127.0.0.1:{_closed_port()}"
    elif fault == "no-accounts":
        fake.set_accounts([])
    elif fault == "oversized":
        fake.set_accounts([FakeAccount(f"u{i}@x.io", now + DAY) for i in range(40)])
        extra = "max_response_bytes = 2048"
    elif fault == "wrong-types":
        fake.put(FakeAccount("odd@x.io", now + DAY, max_jobs="lots"))
    elif fault == "capacity-down":
        fake.fail_always(AVAILABLE, Fault(400))
    elif isinstance(fault, Fault):
        timeout = "500ms" if fault.delay_seconds else timeout
        fake.fail_next(ACCOUNTS, *([fault] * (3 if fault.status == 500 else 1)))
    config = load_config(configs.for_upstream(base_url, poll=extra, timeout=timeout), env={})

    async with running(Daemon(config)) as daemon:
        await async_eventually(lambda: _polled(daemon), what="a poll")
        got = await series(daemon)

    src = {"source": "main"}
    assert get(got, "pixverse_monitor_polls_total", **src, outcome=outcome) == 1
    up = event in ("poll.completed", "poll.no_accounts")
    assert get(got, "pixverse_monitor_up", **src) == (1 if up else 0)
    (line,) = logs.events(event)
    assert line["outcome"] == outcome
    if fault == "wrong-types":
        (invalid,) = logs.events("poll.invalid_values")
        assert invalid["counts"] == {"max_jobs": 1}
    if fault == "capacity-down":
        assert get(got, "pixverse_capacity_free_jobs", **src) is None
        assert not any(name == "pixverse_account_jobs_executing" for name, _ in got)
        assert get(got, "pixverse_capacity_usable_jobs", **src) == 11


@pytest.mark.anyio
async def test_no_secret_reaches_logs_or_metrics(
    fake: FakeUpstream, configs: ConfigWriter, logs: LogCapture, now: float
) -> None:
    fake.set_accounts(five_states(now))
    config = configs.load(fake.base_url)

    bodies = []
    async with running(Daemon(config)) as daemon:
        await async_eventually(lambda: _polled(daemon))
        bodies.append((await scrape(daemon)).text)
        for fault in (
            Fault(401),
            Fault(500, headers={"Retry-After": "0"}),
            Fault(200, body=b"garbage"),
        ):
            fake.fail_next(ACCOUNTS, fault, fault, fault)
            await daemon.poll("main")
            bodies.append((await scrape(daemon)).text)
        bodies.append(repr(daemon.snapshot))
        bodies.append(repr(config))
    outputs = bodies

    secrets = fake.secrets_served()
    assert API_TOKEN in secrets and len(secrets) == 11
    everything = "\n".join([logs.text, *outputs])
    assert "poll.failed" in logs.text  # the logs did see the failures, at debug level
    for secret in secrets:
        assert secret not in everything


@pytest.mark.anyio
async def test_stop_waits_for_the_poll_in_flight(
    fake: FakeUpstream, configs: ConfigWriter, logs: LogCapture
) -> None:
    config = configs.load(fake.base_url)

    async with driven(config) as (_, schedule):
        fake.fail_next(ACCOUNTS, Fault(200, delay_seconds=0.8, body=b"{}"))
        an_hour = asyncio.create_task(schedule.advance(HOUR))  # the next scheduled poll
        await async_eventually(
            lambda: _true(fake.count(ACCOUNTS) == 2),
            what="second poll to reach the upstream",
        )
        # Leaving the block stops the daemon while the poll is still waiting for its answer.
    await an_hour

    names = [e["event"] for e in logs.events()]
    assert (
        names.index("daemon.stopping")
        < [i for i, n in enumerate(names) if n == "poll.completed"][-1]
    )
    assert names[-1] == "daemon.stopped"
    assert len(logs.events("poll.completed")) == 2


async def _true(value: bool) -> bool:
    return value


@pytest.mark.anyio
async def test_never_two_polls_of_one_source_at_once(
    fake: FakeUpstream, configs: ConfigWriter, logs: LogCapture
) -> None:
    config = configs.load(fake.base_url)

    async with running(Daemon(config)) as daemon:
        await async_eventually(lambda: _polled(daemon))
        fake.fail_next(ACCOUNTS, Fault(200, delay_seconds=0.5, body=b"{}"))
        first, second = await asyncio.gather(daemon.poll("main"), daemon.poll("main"))
        assert first is not None and second is None

    (skipped,) = logs.events("poll.skipped")
    assert skipped["source"] == "main"


@pytest.mark.anyio
async def test_state_changes_on_time_between_polls(
    fake: FakeUpstream, configs: ConfigWriter
) -> None:
    # Crosses into critical (24h) about 1.5 s after the first poll; the poll interval is 1h.
    fake.set_accounts([FakeAccount("edge@x.io", time.time() + 24 * HOUR + 1.5)])
    config = configs.load(fake.base_url)

    async with running(Daemon(config)) as daemon:
        await async_eventually(lambda: _polled(daemon))
        labels = {"source": "main", "account": "edge@x.io", "state": "critical"}
        assert get(await series(daemon), "pixverse_account_state", **labels) == 0
        expiry = daemon.snapshot.sources[0].evaluation.accounts[0].account.expiry_unix  # type: ignore[union-attr]

        async def critical() -> bool:
            return get(await series(daemon), "pixverse_account_state", **labels) == 1

        await async_eventually(critical, timeout=5, what="the state to turn critical")
        crossed = expiry - 24 * HOUR
        assert time.time() - crossed < 1.0, "state changed later than 1 s after the crossing"
        assert sum(daemon.snapshot.sources[0].polls_total.values()) == 1  # no extra poll


@pytest.mark.anyio
async def test_expiry_mismatch_is_logged_once_per_account_and_value(
    fake: FakeUpstream, configs: ConfigWriter, logs: LogCapture, now: float
) -> None:
    from monitor.testing.fakeapi import make_jwt

    fake.set_accounts(
        [FakeAccount("mix@x.io", now + 5 * DAY, token=make_jwt("mix@x.io", now + 3 * DAY))]
    )
    config = configs.load(fake.base_url)

    async with running(Daemon(config)) as daemon:
        await async_eventually(lambda: _polled(daemon))
        await daemon.poll("main")
        assert len(logs.events("expiry_mismatch")) == 1
        fake.update("mix@x.io", token=make_jwt("mix@x.io", now + 2 * DAY))
        await daemon.poll("main")
        await daemon.poll("main")

    first, second = logs.events("expiry_mismatch")
    assert first["account"] == "mix@x.io"
    assert first["used"] == "jwt_exp"
    assert set(first["values"]) == {"expire_time", "expire_time_utc", "jwt_exp"}
    assert second["values"]["jwt_exp"] != first["values"]["jwt_exp"]


@pytest.mark.anyio
async def test_hash_labels_keep_emails_out_of_metrics(
    fake: FakeUpstream, configs: ConfigWriter, logs: LogCapture
) -> None:
    config = configs.load(fake.base_url, metrics='account_label = "hash"')

    async with running(Daemon(config)) as daemon:
        await async_eventually(lambda: _polled(daemon))
        text = (await scrape(daemon)).text

    assert "example.com" not in text
    assert f'account="{email_hash("alice@example.com")}"' in text
    assert "example.com" not in logs.text


class ThreadsReading(SystemClock):
    """The host's clock, noting the thread of every reading."""

    def __init__(self) -> None:
        self.threads: set[str] = set()

    def now(self) -> datetime:
        self.threads.add(threading.current_thread().name)
        return super().now()

    def time(self) -> float:
        self.threads.add(threading.current_thread().name)
        return super().time()

    def monotonic(self) -> float:
        self.threads.add(threading.current_thread().name)
        return super().monotonic()


@pytest.mark.anyio
async def test_scheduled_work_runs_on_the_event_loop(
    fake: FakeUpstream, configs: ConfigWriter
) -> None:
    """APScheduler runs a job that is a plain function in a thread of its pool: the snapshot,
    the alert book and the outbox would then change under the event loop. Every reading of
    the daemon's clock (every evaluation, poll and plan read makes some) is on the loop."""
    # Crosses into critical 2 s after the start: the evaluation timer, not a poll, sees it.
    fake.set_accounts([FakeAccount("edge@x.io", int(time.time()) + 24 * HOUR + 2)])
    config = configs.load(fake.base_url)
    clock = ThreadsReading()

    async with running(Daemon(config, clock=clock)) as daemon:
        labels = {"source": "main", "account": "edge@x.io", "state": "critical"}

        async def critical() -> bool:
            return get(await series(daemon), "pixverse_account_state", **labels) == 1

        await async_eventually(critical, what="the scheduled evaluation")
        assert fake.count(ACCOUNTS) == 1
    loop_thread = threading.current_thread().name
    assert clock.threads == {loop_thread}


@pytest.mark.anyio
async def test_what_the_rules_judge_by_follows_the_config_and_the_polls(
    fake: FakeUpstream, configs: ConfigWriter
) -> None:
    config = configs.load(
        fake.base_url, "[thresholds]\nmin_usable_capacity = 20", poll='stale_after = "2h"'
    )
    clock = FakeClock(time.time())
    started = clock.time()

    def last_outcome(got: Series) -> list[str]:
        return [
            dict(labels)["outcome"]
            for (name, labels), value in got.items()
            if name == "pixverse_monitor_last_poll_outcome" and value == 1
        ]

    async with running(Daemon(config, clock=clock)) as daemon:
        await async_eventually(lambda: _polled(daemon))
        src = {"source": "main"}
        got = await series(daemon)
        assert get(got, "pixverse_capacity_min_usable_jobs", **src) == 20
        assert get(got, "pixverse_monitor_stale_after_seconds", **src) == 2 * HOUR
        assert get(got, "pixverse_monitor_watch_start_timestamp_seconds", **src) == started
        assert last_outcome(got) == ["success"]
        for outcome in ("unauthorized", "timeout", "capacity_unavailable"):
            assert get(got, "pixverse_monitor_last_poll_outcome", **src, outcome=outcome) == 0
        assert get(got, "pixverse_monitor_alerts_firing", severity="critical") == 0

        fake.fail_next(ACCOUNTS, Fault(401))
        await daemon.poll("main")
        got = await series(daemon)
        assert last_outcome(got) == ["unauthorized"]
        # The daemon's own PixverseSourceDown fires on the same fact.
        assert get(got, "pixverse_monitor_alerts_firing", severity="critical") == 1

        await daemon.poll("main")
        got = await series(daemon)
        assert last_outcome(got) == ["success"]
        assert get(got, "pixverse_monitor_alerts_firing", severity="critical") == 0
        assert get(got, "pixverse_monitor_watch_start_timestamp_seconds", **src) == started
