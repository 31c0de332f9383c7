"""Shared fixtures: the fake upstream and a webhook receiver on loopback, config files, captured
logs. Helpers that are not fixtures live in tests/helpers/."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.logs import configure_logging
from monitor.testing.fakeapi import FakeAccount, FakeUpstream
from monitor.testing.receiver import WebhookReceiver
from tests.helpers import API_TOKEN, DAY, ConfigWriter, LogCapture


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio, the loop the daemon runs on."""
    return "asyncio"


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


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    """A webhook receiver on loopback, recording every POST (the e2e tests share one a
    module)."""
    with WebhookReceiver() as r:
        yield r


@pytest.fixture
def configs(tmp_path: Path) -> ConfigWriter:
    return ConfigWriter(tmp_path)


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    capture = LogCapture()
    configure_logging("debug", "json", stream=capture.stream)
    yield capture
    configure_logging("warning", "json", stream=io.StringIO())
