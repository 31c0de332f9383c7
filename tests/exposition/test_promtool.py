"""A live /metrics body through `promtool check metrics`, Prometheus's own linter: no warnings."""

from __future__ import annotations

import subprocess

import httpx
import pytest

from monitor.exposition import HELP
from monitor.service.daemon import Daemon
from monitor.testing.fakeapi import FakeAccount, FakeUpstream
from tests.helpers import DAY, HOUR, ConfigWriter, async_eventually, require_binary
from tests.helpers.daemons import running


@pytest.mark.anyio
async def test_promtool_check_metrics_finds_nothing_on_a_live_body(
    fake: FakeUpstream, configs: ConfigWriter, now: float
) -> None:
    promtool = require_binary("promtool")
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
    # Every family the daemon exports is in the body, so the linter sees all of them.
    for name in HELP:
        assert f"# TYPE {name} " in body, name
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=body,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
