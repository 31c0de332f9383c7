"""The daemon on the fake upstream, scraped every second by a real Prometheus running the
shipped rules, alerting through a real Alertmanager to a webhook receiver on loopback; the
daemon's own alerts, which the rules must match; and every query of the shipped dashboard run
on that Prometheus."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.testing.fakeapi import FakeAccount, FakeUpstream
from monitor.testing.fakefeatures import FakePlan, FakeSubscription
from monitor.testing.receiver import WebhookReceiver
from tests.e2e.alertmanager import RECEIVER_NAME, Alertmanager
from tests.e2e.conftest import StartDaemon
from tests.e2e.prometheus import JOB, RULES, Prometheus, PromQLError
from tests.helpers import API_TOKEN, DAY, HOUR, eventually
from tests.helpers import grafana as dash
from tests.helpers.configs import config_text
from tests.helpers.daemonprocess import DaemonProcess

pytestmark = pytest.mark.e2e

DOMAIN = "e2e.test"
RENEWING = f"renew@{DOMAIN}"
# The daemon's thresholds.min_usable_capacity: "drained" has 2 usable slots, below it; "main"
# (13) and "renewal" (4) are not. A rule with a minimum of its own, such as 1, would disagree.
MIN_USABLE_CAPACITY = 3
# The daemon's thresholds.min_credits: thin@ has 60 credits left, the others 12450.
MIN_CREDITS = 100
# (alertname, severity, source, account) of every alert the scenario must raise; None for
# source-level alerts, which carry no account label. Source "renewal" belongs to the
# renewal test and is left out here.
EXPECTED_FIRING = {
    ("PixverseTokenExpiringSoon", "warning", "main", f"warn@{DOMAIN}"),
    ("PixverseTokenExpiringSoon", "critical", "main", f"crit@{DOMAIN}"),
    # An expired token is also still expiring soon, until renewed.
    ("PixverseTokenExpired", "critical", "main", f"gone@{DOMAIN}"),
    ("PixverseTokenExpiringSoon", "critical", "main", f"gone@{DOMAIN}"),
    ("PixverseTokenExpiryUnknown", "warning", "main", f"what@{DOMAIN}"),
    ("PixverseTokenExpired", "critical", "drained", f"lapsed@{DOMAIN}"),
    ("PixverseTokenExpiringSoon", "critical", "drained", f"lapsed@{DOMAIN}"),
    ("PixverseCapacityLow", "warning", "drained", None),
    ("PixverseSourceDown", "critical", "rejected", None),
    # Beyond token expiry: the subscription and the plans.
    ("PixversePlanExpiringSoon", "warning", "main", f"warn@{DOMAIN}"),
    ("PixversePlanExpiringSoon", "critical", "main", f"gone@{DOMAIN}"),
    ("PixverseMaxJobsAbovePlan", "warning", "main", f"crit@{DOMAIN}"),
    ("PixverseCreditsLow", "warning", "drained", f"thin@{DOMAIN}"),
    ("PixverseUseapiSubscriptionInactive", "critical", "drained", None),
    ("PixverseUseapiAccountsInError", "warning", "drained", None),
}
ALERT_TIMEOUT = 30.0

Identity = tuple[str, str, str, str | None]


def identity(labels: Mapping[str, str]) -> Identity:
    """The alert's identity; fails when it carries labels beyond those docs/alerts.md names."""
    allowed = {"alertname", "severity", "source", "account"}
    assert set(labels) <= allowed, f"unexpected labels {set(labels) - allowed} in {labels}"
    return (labels["alertname"], labels["severity"], labels["source"], labels.get("account"))


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeUpstream]]:
    now = time.time()
    upstreams = {
        "main": FakeUpstream(
            token=API_TOKEN,
            accounts=[
                FakeAccount(f"fine@{DOMAIN}", now + 30 * DAY, max_jobs=8, executing=3),
                # Its plan ends within plan_warning (7 days) too.
                FakeAccount(
                    f"warn@{DOMAIN}",
                    now + 2 * DAY,
                    max_jobs=3,
                    executing=1,
                    plan=FakePlan(expires_at=now + 3 * DAY),
                ),
                # maxJobs above what its plan runs at once.
                FakeAccount(
                    f"crit@{DOMAIN}",
                    now + 5 * HOUR,
                    max_jobs=2,
                    plan=FakePlan(gen_simultaneously=1),
                ),
                # PixVerse says its plan has lapsed.
                FakeAccount(
                    f"gone@{DOMAIN}", now - HOUR, max_jobs=5, plan=FakePlan(expired_member=1)
                ),
                # useapi.net cannot tell its plan (400 at /features): no plan alert either way.
                FakeAccount(f"what@{DOMAIN}", None, max_jobs=4, plan=None),
            ],
        ),
        # Its big account's token has expired: 2 usable slots are left. Its useapi.net
        # subscription has lapsed, with 2 accounts in error, and thin@ is short of credits.
        "drained": FakeUpstream(
            token=API_TOKEN,
            accounts=[
                FakeAccount(f"lapsed@{DOMAIN}", now - DAY, max_jobs=6),
                FakeAccount(
                    f"thin@{DOMAIN}",
                    now + 30 * DAY,
                    max_jobs=2,
                    plan=FakePlan(credit_daily=10, credit_monthly=50, credit_package=0),
                ),
            ],
            subscription=FakeSubscription(active=False, error=2),
        ),
        "renewal": FakeUpstream(
            token=API_TOKEN, accounts=[FakeAccount(RENEWING, now + 3 * HOUR, max_jobs=4)]
        ),
    }
    started: list[FakeUpstream] = []
    try:
        for upstream in upstreams.values():
            started.append(upstream.start())
        yield upstreams
    finally:
        for upstream in started:
            upstream.stop()


@pytest.fixture(scope="module")
def daemon(
    fakes: dict[str, FakeUpstream],
    daemon_process: StartDaemon,
    e2e_dir: Path,
    receiver: WebhookReceiver,
) -> DaemonProcess:
    token = e2e_dir / "useapi-token"
    token.write_text(API_TOKEN + "\n")
    revoked = e2e_dir / "revoked-token"
    revoked.write_text("a-token-useapi-no-longer-accepts\n")
    config = config_text(
        [
            ("main", fakes["main"].base_url, token),
            ("drained", fakes["drained"].base_url, token),
            ("rejected", fakes["main"].base_url, revoked),
            ("renewal", fakes["renewal"].base_url, token),
        ],
        state_dir=e2e_dir / "state",
        # Exported as pixverse_capacity_min_usable_jobs, which the shipped rules compare with.
        min_usable_capacity=MIN_USABLE_CAPACITY,
        # Exported per account as pixverse_account_min_credits, for PixverseCreditsLow.
        min_credits=MIN_CREDITS,
        # The daemon's own notifications go to the receiver too, on a path of their own: they
        # are compared with the rules' alerts, and feed the notification panels of the
        # dashboard.
        sinks=[{"name": "e2e", "type": "webhook", "url": receiver.url + "/daemon"}],
    )
    return daemon_process(config)


def _firing_in_prometheus(prometheus: Prometheus) -> dict[Identity, dict[str, Any]]:
    return {identity(a["labels"]): a for a in prometheus.firing_alerts()}


def _delivered(alertmanager: Alertmanager, status: str) -> dict[Identity, dict[str, Any]]:
    """The last alert of each identity that Alertmanager delivered with this status."""
    return {identity(a["labels"]): a for a in alertmanager.delivered() if a["status"] == status}


def _notified_by_daemon(receiver: WebhookReceiver) -> dict[Identity, dict[str, Any]]:
    """The alerts the daemon's own webhook sink last notified as firing."""
    last = {identity(a["labels"]): a for a in receiver.alerts("/daemon")}
    return {key: alert for key, alert in last.items() if alert["status"] == "firing"}


def _without_renewal(alerts: Iterable[Identity]) -> set[Identity]:
    return {key for key in alerts if key[2] != "renewal"}


def _settle(
    fetch: Callable[[], dict[Identity, dict[str, Any]]], what: str
) -> dict[Identity, dict[str, Any]]:
    """Poll until the alerts (renewal source aside) are exactly EXPECTED_FIRING; on timeout,
    say which are missing and which are unexpected."""
    deadline = time.monotonic() + ALERT_TIMEOUT
    while (got := _without_renewal(alerts := fetch())) != EXPECTED_FIRING:
        if time.monotonic() > deadline:
            missing = sorted(EXPECTED_FIRING - got, key=str)
            unexpected = sorted(got - EXPECTED_FIRING, key=str)
            pytest.fail(f"{what}: missing {missing}, unexpected {unexpected}")
        time.sleep(0.2)
    return alerts


def test_prometheus_scrapes_the_daemon_and_evaluates_every_rule(
    prometheus: Prometheus, daemon: DaemonProcess
) -> None:
    def target_up() -> dict[str, Any] | None:
        targets = [t for t in prometheus.targets() if t["labels"]["job"] == JOB]
        assert len(targets) <= 1, targets
        return targets[0] if targets and targets[0]["health"] == "up" else None

    target = eventually(target_up, timeout=ALERT_TIMEOUT, what="the daemon's target up")
    assert target["scrapeUrl"] == daemon.metrics_url
    (up,) = prometheus.query(f'up{{job="{JOB}"}}')
    assert up["value"][1] == "1"

    def every_rule_evaluated() -> list[dict[str, Any]] | None:
        rules = prometheus.rules()
        return rules if all(r["health"] == "ok" for r in rules) else None

    rules = eventually(every_rule_evaluated, timeout=ALERT_TIMEOUT, what="every rule evaluated")
    assert all(not r.get("lastError") for r in rules)
    shipped = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    names = sorted(r.get("alert") or r["record"] for r in shipped)
    assert sorted(r["name"] for r in rules) == names


def test_the_shipped_rules_fire_for_the_expected_accounts(
    prometheus: Prometheus, fakes: dict[str, FakeUpstream]
) -> None:
    firing = _settle(lambda: _firing_in_prometheus(prometheus), "alerts firing in Prometheus")
    warn = next(a for a in fakes["main"].accounts() if a.email == f"warn@{DOMAIN}")
    assert warn.expires_at is not None
    annotations = firing[("PixverseTokenExpiringSoon", "warning", "main", warn.email)][
        "annotations"
    ]
    assert annotations["expires_at"] == _iso(warn.expires_at)
    assert abs(float(annotations["ttl_seconds"]) - (warn.expires_at - time.time())) < 60
    assert annotations["max_jobs"] == "3"
    assert warn.email in annotations["summary"]
    low = firing[("PixverseCapacityLow", "warning", "drained", None)]
    assert float(low["value"]) == 2
    assert f"minimum of {MIN_USABLE_CAPACITY} " in low["annotations"]["description"]
    down = firing[("PixverseSourceDown", "critical", "rejected", None)]
    assert "Last poll: unauthorized." in down["annotations"]["description"]
    assert warn.plan is not None and warn.plan.expires_at is not None
    ending = firing[("PixversePlanExpiringSoon", "warning", "main", warn.email)]
    assert ending["annotations"]["plan_expires_at"] == _iso(warn.plan.expires_at)
    poor = firing[("PixverseCreditsLow", "warning", "drained", f"thin@{DOMAIN}")]
    assert float(poor["value"]) == 60
    assert f"minimum of {MIN_CREDITS}." in poor["annotations"]["description"]


def test_the_daemon_itself_raises_the_same_alerts(
    daemon: DaemonProcess, receiver: WebhookReceiver
) -> None:
    """The rules are the daemon's alerts in PromQL: the two must agree."""
    notified = _settle(lambda: _notified_by_daemon(receiver), "alerts the daemon notified")
    low = notified[("PixverseCapacityLow", "warning", "drained", None)]
    assert low["annotations"]["usable_capacity"] == "2"
    assert low["annotations"]["min_usable_capacity"] == str(MIN_USABLE_CAPACITY)
    poor = notified[("PixverseCreditsLow", "warning", "drained", f"thin@{DOMAIN}")]
    assert (poor["annotations"]["credits"], poor["annotations"]["min_credits"]) == ("60", "100")


def test_alertmanager_delivers_them_to_the_webhook_receiver(
    prometheus: Prometheus, alertmanager: Alertmanager, fakes: dict[str, FakeUpstream]
) -> None:
    delivered = _settle(
        lambda: _delivered(alertmanager, "firing"), "alerts Alertmanager delivered to the webhook"
    )
    payloads = alertmanager.receiver.accepted("/alertmanager")
    assert {p.json()["version"] for p in payloads} == {"4"}
    assert {p.json()["receiver"] for p in payloads} == {RECEIVER_NAME}
    gone = next(a for a in fakes["main"].accounts() if a.email == f"gone@{DOMAIN}")
    assert gone.expires_at is not None
    expired = delivered[("PixverseTokenExpired", "critical", "main", gone.email)]
    assert expired["annotations"]["expires_at"] == _iso(gone.expires_at)
    assert expired["generatorURL"].startswith(prometheus.url)
    # Alertmanager holds the same alerts, not yet resolved.
    active = [a for a in alertmanager.alerts() if a["status"]["state"] == "active"]
    assert _without_renewal(identity(a["labels"]) for a in active) == EXPECTED_FIRING


def test_every_dashboard_query_returns_data(prometheus: Prometheus, daemon: DaemonProcess) -> None:
    dashboard = dash.load()
    queries = dash.queries(dashboard)
    # Two selections: "All" as Grafana sends it (a custom all value where there is one), and
    # every value ticked one by one, which puts the regex-escaped names in the queries.
    all_selected: dict[str, str | list[str]] = dict(dash.default_values(dashboard))
    each_ticked: dict[str, str | list[str]] = dict(all_selected)
    definitions = dash.variables(dashboard)
    for variable in dash.label_values_variables(dashboard):
        selector = dash.substitute(variable.selector, all_selected)
        found = sorted(
            eventually(
                lambda v=variable, s=selector: prometheus.label_values(v.label, s),
                timeout=ALERT_TIMEOUT,
                what=f"values of the {variable.name} variable",
            )
        )
        all_selected[variable.name] = dash.all_selected(definitions[variable.name], found)
        each_ticked[variable.name] = found
    assert each_ticked["source"] == ["drained", "main", "rejected", "renewal"]
    assert f"warn@{DOMAIN}" in each_ticked["account"]

    def problems() -> list[str]:
        return check(all_selected, "All") + check(each_ticked, "each value")

    def check(values: Mapping[str, str | list[str]], selection: str) -> list[str]:
        found = []
        for query in queries:
            expr = dash.substitute(query.expr, values)
            try:
                if query.instant:
                    result = prometheus.query(expr)
                else:
                    result = prometheus.query_range(expr, seconds=60)
            except PromQLError as error:
                found.append(f"{query.key} ({selection}): {error}")
                continue
            if not result:
                found.append(f"{query.key} ({selection}) returned no data: {expr}")
        return found

    deadline = time.monotonic() + ALERT_TIMEOUT
    while remaining := problems():
        if time.monotonic() > deadline:
            pytest.fail("dashboard queries:\n" + "\n".join(remaining))
        time.sleep(0.5)


def test_a_renewed_token_resolves_in_prometheus_and_alertmanager(
    prometheus: Prometheus, alertmanager: Alertmanager, fakes: dict[str, FakeUpstream]
) -> None:
    key = ("PixverseTokenExpiringSoon", "critical", "renewal", RENEWING)
    eventually(
        lambda: key in _delivered(alertmanager, "firing"),
        timeout=ALERT_TIMEOUT,
        what="the renewal account's alert delivered",
    )
    fakes["renewal"].update(RENEWING, expires_at=time.time() + 30 * DAY)
    eventually(
        lambda: key not in _firing_in_prometheus(prometheus),
        timeout=ALERT_TIMEOUT,
        what="the alert to resolve in Prometheus",
    )
    resolved = eventually(
        lambda: _delivered(alertmanager, "resolved").get(key),
        timeout=ALERT_TIMEOUT,
        what="Alertmanager to deliver the resolution",
    )
    assert not resolved["endsAt"].startswith("0001-")  # Go's zero time: never ended


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(int(unix), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
