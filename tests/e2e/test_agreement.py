"""The daemon (through its alertmanager sink) and Prometheus (through the shipped rules) feed
one real Alertmanager while a token goes warning -> critical -> expired -> renewed.

At every step the daemon, Prometheus and Alertmanager show the same alerts; each alert
starts and ends in the daemon and in Prometheus within one evaluation of each other; and
Alertmanager never shows an alert resolved and then firing again, although Prometheus
re-sends firing alerts every second (the harshest resend delay) until it sees a change a
scrape and an evaluation after the daemon.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from monitor.testing.fakeapi import FakeAccount, FakeUpstream
from monitor.testing.receiver import WebhookReceiver
from tests.e2e.alertmanager import Alertmanager
from tests.e2e.conftest import StartDaemon
from tests.e2e.prometheus import Prometheus
from tests.helpers import API_TOKEN, DAY, HOUR, eventually
from tests.helpers.configs import config_text
from tests.helpers.daemonprocess import DaemonProcess

pytestmark = pytest.mark.e2e

ACCOUNT = "token@agreement.test"
# Covers Prometheus here: a 1 s scrape and a 1 s evaluation after the daemon.
RESOLVE_GRACE = 5.0
SETTLE_TIMEOUT = 30.0
# Each step is held past the grace, so that a held-back end lands while we watch.
HOLD_SECONDS = RESOLVE_GRACE + 3.0
# "Within one evaluation": Prometheus evaluates every second, on what it scraped a second
# before; the watcher polls every 0.1 s.
MAX_SKEW_SECONDS = 3.0

Identity = tuple[str, str]  # (alertname, severity): one source, one account here
SOON_WARNING = ("PixverseTokenExpiringSoon", "warning")
SOON_CRITICAL = ("PixverseTokenExpiringSoon", "critical")
EXPIRED = ("PixverseTokenExpired", "critical")
STEPS: list[tuple[str, float | None, set[Identity]]] = [
    # (name, TTL given to the token, the alerts that must then fire)
    ("warning", 48 * HOUR, {SOON_WARNING}),
    ("critical", 12 * HOUR, {SOON_CRITICAL}),
    ("expired", -60.0, {SOON_CRITICAL, EXPIRED}),
    ("renewed", 30 * DAY, set()),
]


def _identity(labels: dict[str, str]) -> Identity:
    assert labels.get("source") == "main" and labels.get("account") == ACCOUNT, labels
    assert set(labels) == {"alertname", "severity", "source", "account"}, labels
    return labels["alertname"], labels["severity"]


@dataclass
class Seen:
    """When a view started and stopped showing each alert, as a list of (on, off) spells."""

    spells: dict[Identity, list[list[float | None]]] = field(default_factory=dict)

    def observe(self, showing: set[Identity], at: float) -> None:
        for key in showing:
            spells = self.spells.setdefault(key, [])
            if not spells or spells[-1][1] is not None:
                spells.append([at, None])
        for key, spells in self.spells.items():
            if key not in showing and spells[-1][1] is None:
                spells[-1][1] = at


class Watcher(threading.Thread):
    """Polls Alertmanager's and Prometheus's alerts every 0.1 s for the whole story."""

    def __init__(self, alertmanager: Alertmanager, prometheus: Prometheus) -> None:
        super().__init__(daemon=True)
        self._alertmanager = alertmanager
        self._prometheus = prometheus
        self._halt = threading.Event()
        self.alertmanager = Seen()
        self.prometheus = Seen()
        self.prometheus_active_at: dict[Identity, list[str]] = {}
        self.errors: list[str] = []

    def run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self._halt.is_set():
                try:
                    self._poll(client)
                except Exception as exc:
                    self.errors.append(repr(exc))
                self._halt.wait(0.1)

    def _poll(self, client: httpx.Client) -> None:
        now = time.time()
        held = client.get(f"{self._alertmanager.url}/api/v2/alerts").json()
        # The API lists what Alertmanager holds as not yet ended (endsAt in the future).
        self.alertmanager.observe({_identity(a["labels"]) for a in held}, now)
        rules = client.get(f"{self._prometheus.url}/api/v1/alerts").json()["data"]["alerts"]
        firing = [a for a in rules if a["state"] == "firing"]
        self.prometheus.observe({_identity(a["labels"]) for a in firing}, now)
        for alert in firing:
            starts = self.prometheus_active_at.setdefault(_identity(alert["labels"]), [])
            if alert["activeAt"] not in starts:
                starts.append(alert["activeAt"])

    def stop(self) -> None:
        self._halt.set()
        self.join(10)


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream(token=API_TOKEN, accounts=[]) as fake:
        yield fake


@pytest.fixture(scope="module")
def daemon(
    upstream: FakeUpstream,
    daemon_process: StartDaemon,
    e2e_dir: Path,
    alertmanager: Alertmanager,
    receiver: WebhookReceiver,
) -> DaemonProcess:
    token = e2e_dir / "useapi-token"
    token.write_text(API_TOKEN + "\n")
    config = config_text(
        [("main", upstream.base_url, token)],
        state_dir=e2e_dir / "state",
        sinks=[
            {
                "name": "am",
                "type": "alertmanager",
                "url": alertmanager.url,
                "resolve_grace": f"{RESOLVE_GRACE:g}s",
            },
            # The same notifications as a webhook: when the daemon decided each one.
            {"name": "record", "type": "webhook", "url": receiver.url + "/daemon"},
        ],
    )
    return daemon_process(config)


def _daemon_edges(receiver: WebhookReceiver) -> dict[Identity, list[tuple[str, float]]]:
    """When the daemon started and ended each alert, from its webhook notifications. Its
    identity leaves out the severity: a severity change is one notification, which ends the
    alert under its old severity (as its alertmanager sink does) and starts the new one."""
    edges: dict[Identity, list[tuple[str, float]]] = {}
    current: dict[str, Identity] = {}  # alertname -> what it fires as now
    for got in receiver.accepted("/daemon"):
        for alert in got.json()["alerts"]:
            key = _identity(alert["labels"])
            before = current.pop(key[0], None)
            if before is not None and (before != key or alert["status"] == "resolved"):
                edges[before].append(("resolved", got.at_unix))
            if alert["status"] == "firing":
                if before != key:
                    edges.setdefault(key, []).append(("firing", got.at_unix))
                current[key[0]] = key
    return edges


def _daemon_firing(receiver: WebhookReceiver) -> set[Identity]:
    return {k for k, history in _daemon_edges(receiver).items() if history[-1][0] == "firing"}


def test_daemon_and_rules_agree_in_one_alertmanager_through_expiry_and_renewal(
    upstream: FakeUpstream,
    daemon: DaemonProcess,
    prometheus: Prometheus,
    alertmanager: Alertmanager,
    receiver: WebhookReceiver,
) -> None:
    # Prometheus scrapes the daemon and has evaluated the rules before the story begins, so
    # that its start-up is not counted as lag.
    eventually(
        lambda: (
            [r for r in prometheus.query('up{job="pixverse-monitor"} == 1')]
            and all(
                r["health"] == "ok" and r.get("lastEvaluation", "").startswith("2")
                for r in prometheus.rules()
            )
        ),
        timeout=SETTLE_TIMEOUT,
        what="Prometheus scraping the daemon and evaluating the rules",
    )
    watcher = Watcher(alertmanager, prometheus)
    watcher.start()
    log: list[str] = []
    try:
        for name, ttl, expected in STEPS:
            changed = time.time()
            if name == "warning":
                upstream.put(FakeAccount(ACCOUNT, changed + ttl, max_jobs=4))
            else:
                upstream.update(ACCOUNT, expires_at=changed + ttl)
            views = _settle(watcher, receiver, expected, name)
            log.append(f"{name}: {sorted(expected)} in {views:.1f}s")
            _hold(watcher, receiver, expected, name)
    finally:
        watcher.stop()
    assert not watcher.errors, watcher.errors[:3]
    _assert_never_refired(watcher.alertmanager, "Alertmanager's API")
    _assert_never_refired(watcher.prometheus, "Prometheus")
    _assert_notifications_never_refired(alertmanager)
    skews = _assert_same_moments(watcher, receiver)
    print(
        "\nagreement: " + "; ".join(log) + "\n  skews (Prometheus minus daemon): " + skews,
        file=sys.__stderr__,
        flush=True,
    )


def _views(watcher: Watcher, receiver: WebhookReceiver) -> dict[str, set[Identity]]:
    def showing(seen: Seen) -> set[Identity]:
        return {k for k, spells in seen.spells.items() if spells[-1][1] is None}

    return {
        "daemon": _daemon_firing(receiver),
        "Prometheus": showing(watcher.prometheus),
        "Alertmanager": showing(watcher.alertmanager),
    }


def _settle(
    watcher: Watcher, receiver: WebhookReceiver, expected: set[Identity], step: str
) -> float:
    started = time.monotonic()
    while True:
        views = _views(watcher, receiver)
        if all(view == expected for view in views.values()):
            return time.monotonic() - started
        if time.monotonic() - started > SETTLE_TIMEOUT:
            pytest.fail(f"step {step}: expected {sorted(expected)} everywhere, got {views}")
        time.sleep(0.1)


def _hold(watcher: Watcher, receiver: WebhookReceiver, expected: set[Identity], step: str) -> None:
    """Past the grace, every view still shows exactly the step's alerts."""
    until = time.monotonic() + HOLD_SECONDS
    while time.monotonic() < until:
        views = _views(watcher, receiver)
        assert all(view == expected for view in views.values()), (step, views)
        time.sleep(0.2)


def _assert_never_refired(seen: Seen, where: str) -> None:
    for key, spells in seen.spells.items():
        assert len(spells) == 1, f"{where} showed {key} resolved and firing again: {spells}"


def _assert_notifications_never_refired(alertmanager: Alertmanager) -> None:
    """What Alertmanager sent its receiver: per alert, firing ... then resolved, once."""
    statuses: dict[Identity, list[str]] = {}
    for alert in alertmanager.delivered():
        history = statuses.setdefault(_identity(alert["labels"]), [])
        if not history or history[-1] != alert["status"]:
            history.append(alert["status"])
    assert set(statuses) == {SOON_WARNING, SOON_CRITICAL, EXPIRED}, statuses
    for key, history in statuses.items():
        assert history == ["firing", "resolved"], f"Alertmanager notified {key}: {history}"


def _assert_same_moments(watcher: Watcher, receiver: WebhookReceiver) -> str:
    """Each alert starts and ends in Prometheus within one evaluation of the daemon."""
    report = []
    daemon = _daemon_edges(receiver)
    assert set(daemon) == {SOON_WARNING, SOON_CRITICAL, EXPIRED}, daemon
    for key, history in sorted(daemon.items()):
        assert [status for status, _ in history] == ["firing", "resolved"], (key, history)
        ((on, off),) = watcher.prometheus.spells[key]
        assert off is not None
        start_skew = _unix(watcher.prometheus_active_at[key][0]) - history[0][1]
        end_skew = off - history[1][1]
        for skew in (start_skew, end_skew):
            assert abs(skew) <= MAX_SKEW_SECONDS, (key, start_skew, end_skew, on)
        report.append(f"{key[0]}/{key[1]} start {start_skew:+.1f}s end {end_skew:+.1f}s")
    return ", ".join(report)


def _unix(rfc3339: str) -> float:
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()
