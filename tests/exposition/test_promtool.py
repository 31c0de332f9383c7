"""A live /metrics body with every family on it: through `promtool check metrics`, Prometheus's
own linter (no warnings), and checked against the label names [[accounts]] may not take."""

from __future__ import annotations

import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.alerts.alert import Alert, AlertName
from monitor.config.model import Severity
from monitor.config.policy import RESERVED_LABELS
from monitor.exposition import HELP
from monitor.testing.fakeapi import FakeUpstream
from tests.helpers import ConfigWriter, require_binary
from tests.helpers.inprocess import every_family_body


@pytest.mark.anyio
async def test_promtool_check_metrics_finds_nothing_on_a_live_body(
    fake: FakeUpstream, configs: ConfigWriter, now: float
) -> None:
    promtool = require_binary("promtool")
    body = await every_family_body(fake, configs, now)
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
    body = await every_family_body(fake, configs, now)
    exported = {
        label
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        for label in sample.labels
    }
    alert = Alert(AlertName.EXPIRED, Severity.CRITICAL, "main", "a@x.io", "s", "d")
    assert "endpoint" in exported and "kind" in exported  # the body is the full one
    assert (exported | set(alert.labels)) - RESERVED_LABELS == set()
