"""The daemon's own `alertmanager` sink against a real Alertmanager: alerts arrive with the
documented labels, two replicas are deduplicated, a renewal resolves, Alertmanager delivers
each to its webhook receiver, `notify-test`'s alert ends by itself within seconds, and an
alert moved to another team by a reload is held under the new team only."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.testing.fakeapi import FakeAccount, FakeUpstream
from tests.e2e.alertmanager import Alertmanager
from tests.e2e.conftest import StartDaemon
from tests.helpers import API_TOKEN, DAY, HOUR, eventually
from tests.helpers.commands import cli
from tests.helpers.configs import config_text
from tests.helpers.daemonprocess import DaemonProcess

pytestmark = pytest.mark.e2e

DOMAIN = "am-sink.test"
GONE = f"gone@{DOMAIN}"
WARN = f"warn@{DOMAIN}"


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    now = time.time()
    accounts = [FakeAccount(GONE, now - HOUR), FakeAccount(WARN, now + 2 * DAY)]
    with FakeUpstream(token=API_TOKEN, accounts=accounts) as fake:
        yield fake


@pytest.fixture(scope="module")
def replicas(
    upstream: FakeUpstream, daemon_process: StartDaemon, e2e_dir: Path, alertmanager: Alertmanager
) -> list[DaemonProcess]:
    """Two monitors with the same config, as an HA pair would run, both posting to the same
    Alertmanager."""
    token = e2e_dir / "useapi-token"
    token.write_text(API_TOKEN + "\n")
    started = []
    for name in ("replica-a", "replica-b"):
        config = config_text(
            [("main", upstream.base_url, token)],
            state_dir=e2e_dir / name,
            # No Prometheus rules feed this Alertmanager: no grace needed for them.
            sinks=[
                {
                    "name": "am",
                    "type": "alertmanager",
                    "url": alertmanager.url,
                    "resolve_grace": "1s",
                }
            ],
        )
        started.append(daemon_process(config, name=name))
    return started


def _labels(alert: dict[str, Any]) -> tuple[str, str, str, str | None]:
    labels = alert["labels"]
    assert set(labels) <= {"alertname", "severity", "source", "account"}, labels
    return labels["alertname"], labels["severity"], labels["source"], labels.get("account")


EXPECTED = {
    ("PixverseTokenExpired", "critical", "main", GONE),
    ("PixverseTokenExpiringSoon", "critical", "main", GONE),
    ("PixverseTokenExpiringSoon", "warning", "main", WARN),
}


def test_alerts_reach_alertmanager_and_its_receiver_once(
    replicas: list[DaemonProcess], alertmanager: Alertmanager
) -> None:
    def active_when_complete() -> list[dict[str, Any]] | None:
        alerts = alertmanager.alerts()
        return alerts if {_labels(a) for a in alerts} == EXPECTED else None

    active = eventually(active_when_complete, timeout=30, what="both alerts in Alertmanager")
    for alert in active:
        assert alert["status"]["state"] == "active"
        assert alert["generatorURL"].endswith("/metrics")
        assert alert["annotations"]["summary"]
    gone = next(a for a in active if a["labels"].get("account") == GONE)
    assert gone["annotations"]["max_jobs"] == "5"
    eventually(
        lambda: (
            {_labels(a) for a in alertmanager.delivered() if a["status"] == "firing"} == EXPECTED
        ),
        timeout=30,
        what="Alertmanager to notify its receiver",
    )
    # Two replicas posted every alert; Alertmanager notified once per alert.
    firing = [_labels(a) for a in alertmanager.delivered() if a["status"] == "firing"]
    assert sorted(firing) == sorted(EXPECTED)
    for replica in replicas:
        # The three alerts of the first poll, in one POST (the minutely re-send may have
        # brought them to Alertmanager first, while a first attempt was retried).
        posted = eventually(
            lambda r=replica: [e for e in r.events("notification.delivered") if e["sink"] == "am"],
            timeout=30,
            what="the notification delivered",
        )
        assert posted[0]["alerts"] == 3


def test_a_renewal_resolves_in_alertmanager(
    replicas: list[DaemonProcess], upstream: FakeUpstream, alertmanager: Alertmanager
) -> None:
    eventually(lambda: len(alertmanager.alerts()) == 3, timeout=30, what="alerts to be active")
    upstream.update(GONE, expires_at=time.time() + 30 * DAY)
    eventually(
        lambda: (
            ("PixverseTokenExpired", "critical", "main", GONE)
            in {_labels(a) for a in alertmanager.delivered() if a["status"] == "resolved"}
        ),
        timeout=30,
        what="the resolution to reach the receiver through Alertmanager",
    )
    assert {_labels(a) for a in alertmanager.alerts() if a["status"]["state"] == "active"} == {
        ("PixverseTokenExpiringSoon", "warning", "main", WARN)
    }


def test_notify_test_through_alertmanager_is_resolved_within_seconds(
    alertmanager: Alertmanager, e2e_dir: Path
) -> None:
    """notify-test always sent a critical alert, which Alertmanager kept active for about 4
    minutes and could page someone with. Now it is a warning that ends by itself."""
    config = e2e_dir / "notify-test.toml"
    config.write_text(
        f'[alerts]\nstate_dir = "{e2e_dir / "notify-test"}"\n\n'
        f'[[sinks]]\nname = "am"\ntype = "alertmanager"\nurl = "{alertmanager.url}"\n'
    )
    sent = time.time()
    done = cli("notify-test", "--config", str(config))
    assert done.returncode == 0, done.stdout + done.stderr

    def tests(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [a for a in alerts if a["labels"]["alertname"] == "PixverseMonitorTest"]

    (posted,) = eventually(lambda: tests(alertmanager.alerts()), timeout=10, what="the test alert")
    assert posted["labels"]["severity"] == "warning"
    eventually(
        lambda: not tests(alertmanager.alerts()),
        timeout=30,
        what="Alertmanager to hold the test alert no more",
    )
    resolved = eventually(
        lambda: [a for a in tests(alertmanager.delivered()) if a["status"] == "resolved"],
        timeout=30,
        what="Alertmanager to tell its receiver the test alert resolved",
    )
    assert resolved
    assert time.time() - sent < 40  # seconds, not the 4 minutes of a firing alert


def test_a_reload_that_moves_an_alert_to_another_team_leaves_one_in_alertmanager(
    daemon_process: StartDaemon, e2e_dir: Path, alertmanager: Alertmanager
) -> None:
    """Alertmanager tells alerts apart by every label: moved to another team by a reload,
    an alert stayed in it under the old team too until that lapsed, minutes later."""
    account = "moved@relabel.test"
    token = e2e_dir / "relabel-token"
    token.write_text(API_TOKEN + "\n")

    def team(alerts: list[dict[str, Any]]) -> set[str | None]:
        return {a["labels"].get("team") for a in alerts if a["labels"].get("account") == account}

    with FakeUpstream(API_TOKEN, [FakeAccount(account, time.time() + 2 * DAY)]) as fake:
        base = config_text(
            [("main", fake.base_url, token)],
            state_dir=e2e_dir / "relabel",
            # The default resolve_grace (2m) holds back what rules may raise; this end is not.
            sinks=[{"name": "am", "type": "alertmanager", "url": alertmanager.url}],
        )
        rule = '\n[[accounts]]\nmatch = "*@relabel.test"\nlabels = {{ team = "{}" }}\n'
        daemon = daemon_process(base + rule.format("studio"), name="relabel")
        eventually(lambda: team(alertmanager.alerts()) == {"studio"}, timeout=30, what="studio")
        (e2e_dir / "relabel.toml").write_text(base + rule.format("ops"))
        moved = time.time()
        os.kill(daemon.process.pid, signal.SIGHUP)
        eventually(
            lambda: team(alertmanager.alerts()) == {"ops"},
            timeout=20,
            what="the alert under the new team only",
        )
        assert time.time() - moved < 20  # not the minutes until the old one lapsed
        daemon.stop()
