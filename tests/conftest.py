"""Shared fixtures: the fake upstream on loopback, config files, captured logs, a daemon runner."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from monitor.config.model import Config
from monitor.config.load import load_config
from monitor.service.daemon import Daemon
from monitor.testing.fakeapi import FakeAccount, FakeUpstream
from monitor.logs import configure_logging

API_TOKEN = "useapi-SECRET-token-5f2b9c"
HOUR = 3600.0
DAY = 86400.0


def require_binary(name: str, package: str = "prometheus prometheus-alertmanager") -> str:
    """The path of `name`; skip when missing locally, fail under CI (CI=true)."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian: apt-get install -y {package})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}; CI must install it")
        pytest.skip(message)
    return path


def eventually(predicate: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def http_status(port: int, path: str) -> int | None:
    """The status of GET http://127.0.0.1:port/path; None while nothing answers."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2).status_code
    except httpx.HTTPError:
        return None


async def async_eventually(
    predicate: Callable[[], Awaitable[Any]], timeout: float = 5.0, what: str = "condition"
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


@pytest.fixture
def now() -> float:
    return time.time()


@pytest.fixture
def fake(now: float) -> Iterator[FakeUpstream]:
    """A running fake upstream with a healthy and a warning account."""
    accounts = [
        FakeAccount("alice@example.com", now + 10 * DAY, max_jobs=8, executing=2),
        FakeAccount("bob@example.com", now + 2 * DAY, max_jobs=3, executing=1),
    ]
    with FakeUpstream(token=API_TOKEN, accounts=accounts) as upstream:
        yield upstream


class ConfigWriter:
    """Writes config files under tmp_path, with the token in a file as in production."""

    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path
        self.token_file = tmp_path / "useapi-token"
        self.token_file.write_text(API_TOKEN + "\n")

    def write(self, text: str, name: str = "config.toml") -> Path:
        path = self.dir / name
        path.write_text(text)
        return path

    def for_upstream(
        self,
        base_url: str,
        extra: str = "",
        *,
        poll: str = "",
        timeout: str = "2s",
        metrics: str = "",
        interval: str = "1h",
    ) -> Path:
        return self.write(
            f"""
[[sources]]
name = "main"
base_url = "{base_url}"
token_file = "{self.token_file}"

[poll]
interval = "{interval}"
timeout = "{timeout}"
jitter = 0
{poll}

[metrics]
listen = "127.0.0.1:0"
{metrics}

[alerts]
state_dir = "{self.dir / "state"}"
{extra}
"""
        )

    def load(self, base_url: str, extra: str = "", *, poll: str = "", metrics: str = "") -> Config:
        return load_config(self.for_upstream(base_url, extra, poll=poll, metrics=metrics), env={})


@pytest.fixture
def configs(tmp_path: Path) -> ConfigWriter:
    return ConfigWriter(tmp_path)


class LogCapture:
    """Every log line the process writes, as JSON objects and as raw text."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        lines = [orjson.loads(line) for line in self.text.splitlines() if line.strip()]
        return [e for e in lines if name is None or e.get("event") == name]


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    capture = LogCapture()
    configure_logging("debug", "json", stream=capture.stream)
    yield capture
    configure_logging("warning", "json", stream=io.StringIO())


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
