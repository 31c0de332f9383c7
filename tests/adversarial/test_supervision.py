"""Every long-lived task of the daemon survives an unexpected error: it is logged once with its
kind, counted in pixverse_monitor_task_errors_total, and the task goes on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from monitor.service.daemon import Daemon
from monitor.testing.fakeapi import FakeAccount, FakeUpstream
from tests.helpers import DAY, ConfigWriter, LogCapture, async_eventually
from tests.helpers.inprocess import driven, get, running, series


def fail_once(original: Callable[..., Any], error: Exception) -> Callable[..., Any]:
    """`original`, except that its first call raises `error`."""
    calls = {"n": 0}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise error
        return original(*args, **kwargs)

    return wrapper


async def task_errors(daemon: Daemon, task: str) -> float | None:
    return get(await series(daemon), "pixverse_monitor_task_errors_total", task=task)


async def polled(daemon: Daemon, count: int = 1) -> bool:
    return all(sum(s.polls_total.values()) >= count for s in daemon.snapshot.sources)


@pytest.mark.anyio
async def test_every_task_kind_is_exported_from_the_start(
    fake: FakeUpstream, configs: ConfigWriter
) -> None:
    async with running(Daemon(configs.load(fake.base_url))) as daemon:
        got = await series(daemon)
    tasks = {
        dict(labels)["task"]: value
        for (name, labels), value in got.items()
        if name == "pixverse_monitor_task_errors_total"
    }
    assert set(tasks) >= {"poll", "evaluate", "delivery", "resend", "state_save", "watchdog"}
    assert set(tasks.values()) == {0}


@pytest.mark.anyio
async def test_a_poll_that_raises_is_counted_and_polling_goes_on(
    fake: FakeUpstream,
    configs: ConfigWriter,
    logs: LogCapture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from monitor.service import poll_watch

    monkeypatch.setattr(
        poll_watch, "poll_source", fail_once(poll_watch.poll_source, KeyError("surprise"))
    )
    async with running(Daemon(configs.load(fake.base_url))) as daemon:

        async def counted() -> bool:
            return await task_errors(daemon, "poll") == 1

        await async_eventually(counted, what="the failed poll to be counted")
        result = await daemon.poll("main")
        assert result is not None and result.outcome.value == "success"
    (failed,) = logs.events("task.failed")
    assert failed["task"] == "poll"
    assert failed["error_kind"] == "KeyError"
    assert failed["source"] == "main"
    assert failed["level"] == "error"


@pytest.mark.anyio
async def test_an_evaluation_that_raises_is_retried(
    fake: FakeUpstream,
    configs: ConfigWriter,
    logs: LogCapture,
    monkeypatch: pytest.MonkeyPatch,
    now: float,
) -> None:
    from monitor.alerts.alerting import Alerting

    fake.put(FakeAccount("gone@x.io", now - DAY))
    original = Alerting.evaluate
    failed: list[int] = []

    def evaluate(self: Alerting, snapshot: Any, crossing: float | None) -> float | None:
        # The first evaluation that has the poll's data raises, once.
        if not failed and any(s.evaluation is not None for s in snapshot.sources):
            failed.append(1)
            raise ArithmeticError("1/0")
        return original(self, snapshot, crossing)

    monkeypatch.setattr(Alerting, "evaluate", evaluate)
    async with running(Daemon(configs.load(fake.base_url))) as daemon:

        async def firing() -> bool:
            got = await series(daemon)
            # An account first seen expired fires Expired and ExpiringSoon (critical) alike.
            return get(got, "pixverse_monitor_alerts_firing", severity="critical") == 2

        # The evaluation after the poll raised; a retry follows by itself, no poll needed.
        await async_eventually(firing, timeout=8, what="the alert after a retried evaluation")
        assert failed
        assert await task_errors(daemon, "evaluate") == 1
        assert sum(daemon.snapshot.sources[0].polls_total.values()) == 1
    assert [e["task"] for e in logs.events("task.failed")] == ["evaluate"]


@pytest.mark.anyio
async def test_a_save_that_raises_is_counted_and_the_next_one_saves(
    fake: FakeUpstream,
    configs: ConfigWriter,
    logs: LogCapture,
    monkeypatch: pytest.MonkeyPatch,
    now: float,
) -> None:
    from monitor.alerts.statefile import StateFile

    monkeypatch.setattr(StateFile, "encode", fail_once(StateFile.encode, TypeError("odd value")))
    config = configs.load(fake.base_url)
    state = config.alerts.state_dir / "state.json"
    async with running(Daemon(config)) as daemon:
        await async_eventually(lambda: polled(daemon), what="the first poll")

        async def counted() -> bool:
            return await task_errors(daemon, "state_save") == 1

        await async_eventually(counted, what="the failed save")
        fake.put(FakeAccount("gone@x.io", now - DAY))
        await daemon.poll("main")

        async def saved() -> bool:
            return state.exists() and b"gone@x.io" in state.read_bytes()

        await async_eventually(saved, what="the next save")
    assert [e["task"] for e in logs.events("task.failed")] == ["state_save"]


@pytest.mark.anyio
async def test_a_reload_that_raises_keeps_the_running_config(
    fake: FakeUpstream,
    configs: ConfigWriter,
    logs: LogCapture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from monitor.alerts.alerting import Alerting

    # The first step of applying a configuration, before anything has changed.
    monkeypatch.setattr(Alerting, "check", fail_once(Alerting.check, RuntimeError("mid-reload")))
    config = configs.load(fake.base_url)
    # Driven: no scheduled poll is running when the test polls (which would make its poll a
    # no-op, None).
    async with driven(config) as (daemon, _):
        assert await daemon.reload() is False
        got = await series(daemon)
        assert get(got, "pixverse_monitor_config_last_reload_successful") == 0
        assert get(got, "pixverse_monitor_task_errors_total", task="reload") == 1
        assert await daemon.reload() is True
        result = await daemon.poll("main")
        assert result is not None
    (failed,) = logs.events("task.failed")
    assert failed["task"] == "reload" and failed["error_kind"] == "RuntimeError"


@pytest.mark.anyio
async def test_the_watchdog_survives_a_failing_ping(
    fake: FakeUpstream,
    configs: ConfigWriter,
    logs: LogCapture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from monitor.service.systemd import Notifier

    pings: list[int] = []

    def ping(self: Notifier) -> None:
        pings.append(1)
        if len(pings) == 1:
            raise ValueError("socket in a bad mood")

    monkeypatch.setattr(Notifier, "watchdog", ping)
    # WATCHDOG_USEC of 0.2 s: pings every 0.1 s.
    environ = {"WATCHDOG_USEC": "200000"}
    daemon = Daemon(configs.load(fake.base_url), environ=environ)
    async with running(daemon):

        async def pinged_on() -> bool:
            return len(pings) >= 3

        await async_eventually(pinged_on, timeout=8, what="pings after the failure")
        assert await task_errors(daemon, "watchdog") == 1
    assert [e["task"] for e in logs.events("task.failed")] == ["watchdog"]
