"""A live /metrics body with every family on it: through `promtool check metrics`, Prometheus's
own linter (no warnings), and checked against the label names [[accounts]] may not take."""

from __future__ import annotations

import subprocess

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.alerts.alert import Alert, AlertName
from monitor.config.model import Severity
from monitor.config.policy import RESERVED_LABELS
from monitor.exposition import HELP
from monitor.service.daemon import Daemon
from monitor.testing.fakeapi import FakeAccount, FakeUpstream
from tests.helpers import DAY, HOUR, ConfigWriter, async_eventually, require_binary
from tests.helpers.daemons import running


async def live_body(fake: FakeUpstream, configs: ConfigWriter, now: float) -> str:
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


@pytest.mark.anyio
async def test_promtool_check_metrics_finds_nothing_on_a_live_body(
    fake: FakeUpstream, configs: ConfigWriter, now: float
) -> None:
    promtool = require_binary("promtool")
    body = await live_body(fake, configs, now)
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


@pytest.mark.anyio
async def test_every_label_the_daemon_sets_is_reserved_from_account_policy(
    fake: FakeUpstream, configs: ConfigWriter, now: float
) -> None:
    """RESERVED_LABELS is written by hand in the config stage, which cannot import the
    exposition or the alerts: this keeps it complete as families and alerts gain labels."""
    body = await live_body(fake, configs, now)
    exported = {
        label
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        for label in sample.labels
    }
    alert = Alert(AlertName.EXPIRED, Severity.CRITICAL, "main", "a@x.io", "s", "d")
    assert "endpoint" in exported and "kind" in exported  # the body is the full one
    assert (exported | set(alert.labels)) - RESERVED_LABELS == set()
