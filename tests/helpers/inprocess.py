"""A daemon run in the test's own event loop, with its time the test's to drive or not, and
reading it back: /metrics as series, the alerts firing from /api/v1/status."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.config.model import Config
from monitor.service.daemon import Daemon
from monitor.testing import FakeAccount, FakeClock, FakeSchedule, FakeUpstream
from tests.helpers.configs import ConfigWriter
from tests.helpers.waiting import async_eventually

DAY = 86400.0
HOUR = 3600.0

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


@contextlib.asynccontextmanager
async def running(daemon: Daemon) -> AsyncIterator[Daemon]:
    """Run `daemon` in this event loop; stop it and wait for it on the way out."""
    task = asyncio.create_task(daemon.run(handle_signals=False))
    started = asyncio.create_task(daemon.started.wait())
    await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        started.cancel()
        task.result()
        pytest.fail("daemon exited during start-up")
    try:
        yield daemon
    finally:
        daemon.stop()
        assert await asyncio.wait_for(task, 30) == 0


@contextlib.asynccontextmanager
async def driven(
    config: Config, *, start: float | None = None, **options: Any
) -> AsyncIterator[tuple[Daemon, FakeSchedule]]:
    """A daemon on a FakeClock (at `start`, by default now) whose time passes only when the
    test says so (`schedule.advance`, `schedule.run_due`; the clock is `schedule.clock`), run
    in this event loop, its first polls and plan reads made. `options` go to Daemon."""
    clock = FakeClock(time.time() if start is None else start)
    schedule = FakeSchedule(clock)
    daemon = Daemon(config, clock=clock, schedule=schedule, **options)
    async with running(daemon):
        await schedule.run_due()
        yield daemon, schedule


async def first_poll(daemon: Daemon) -> None:
    """The poll the daemon makes at start-up, over: later ones are the test's."""

    async def done() -> bool:
        return all(sum(s.polls_total.values()) >= 1 for s in daemon.snapshot.sources)

    await async_eventually(done, what="the first poll")


async def scrape(daemon: Daemon, path: str = "/metrics") -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.get(f"http://127.0.0.1:{daemon.metrics_port}{path}")


async def series(daemon: Daemon) -> Series:
    response = await scrape(daemon)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    out: Series = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def get(got: Series, name: str, **labels: str) -> float | None:
    return got.get((name, frozenset(labels.items())))


async def firing(daemon: Daemon) -> list[dict[str, Any]]:
    """The alerts firing, as /api/v1/status lists them: `labels`, `starts_at`, `summary`."""
    response = await scrape(daemon, "/api/v1/status")
    assert response.status_code == 200
    alerts: list[dict[str, Any]] = orjson.loads(response.content)["alerts"]
    return alerts


async def firing_names(daemon: Daemon) -> set[tuple[str, str]]:
    """(alertname, source) of every alert firing."""
    return {(a["labels"]["alertname"], a["labels"]["source"]) for a in await firing(daemon)}


async def every_family_body(fake: FakeUpstream, configs: ConfigWriter, now: float) -> str:
    """/metrics of a daemon whose accounts are in every state, once the polls, the plans and
    the subscription have all been read."""
    fake.set_accounts(
        [
            FakeAccount("ok@x.io", now + 10 * DAY, max_jobs=8, executing=3),
            FakeAccount("warn@x.io", now + 2 * DAY, max_jobs=3, executing=1),
            FakeAccount("crit@x.io", now + 5 * HOUR, max_jobs=2),
            FakeAccount("gone@x.io", now - HOUR, max_jobs=5),
            FakeAccount("what@x.io", None, max_jobs=4),
        ]
    )
    config = configs.load(fake.base_url)

    async with running(Daemon(config)) as daemon:
        url = f"http://127.0.0.1:{daemon.metrics_port}/metrics"
        async with httpx.AsyncClient() as client:

            async def polled() -> str | None:
                text = (await client.get(url)).text
                # The plan of the first account and the subscription are read at once.
                wanted = (
                    "pixverse_capacity_free_jobs{",
                    "pixverse_account_credits{",
                    "pixverse_useapi_subscription_active{",
                    'endpoint="features"} ',
                    'endpoint="account"} ',
                )
                return text if all(w in text for w in wanted) else None

            body: str = await async_eventually(polled, what="a polled /metrics")
    return body
