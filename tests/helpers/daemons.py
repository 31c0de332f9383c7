"""A daemon run in the test's own event loop, and reading its /metrics back as series."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.service.daemon import Daemon

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
