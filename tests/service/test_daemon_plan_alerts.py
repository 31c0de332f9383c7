"""The subscription and plan alerts through the whole daemon: metrics scraped, notifications at
a real webhook receiver with policy labels, a plan's end notified on time, and a restart that
carries over what it has not judged again."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from monitor.config.load import load_config
from monitor.service.daemon import Daemon
from monitor.testing.fakeapi import ACCOUNT, FEATURES, FakeAccount, FakeUpstream, Fault
from monitor.testing.fakefeatures import FakePlan, FakeSubscription
from monitor.testing.receiver import WebhookReceiver
from tests.helpers import API_TOKEN, DAY, ConfigWriter, LogCapture, async_eventually
from tests.helpers.inprocess import get, running, series

Alert = tuple[str, str, str, str, str]  # status, alertname, severity, account, team label


def config_text(configs: ConfigWriter, base_url: str, receiver_url: str, extra: str = "") -> str:
    # features_interval bounds the first round too: every plan is read within 2 s.
    return f"""
[[sources]]
name = "main"
base_url = "{base_url}"
token_file = "{configs.token_file}"

[poll]
interval = "1h"
timeout = "2s"
jitter = 0
features_interval = "2s"

[thresholds]
min_credits = 100

[metrics]
listen = "127.0.0.1:0"

[alerts]
state_dir = "{configs.dir / "state"}"

[[sinks]]
name = "ops"
type = "webhook"
url = "{receiver_url}/hook"

[[accounts]]
match = "*@studio.io"
labels = {{ team = "studio" }}
{extra}
"""


def alerts_of(receiver: WebhookReceiver) -> list[Alert]:
    out = []
    for got in receiver.accepted():
        for alert in got.json()["alerts"]:
            labels = alert["labels"]
            out.append(
                (
                    alert["status"],
                    labels["alertname"],
                    labels["severity"],
                    labels.get("account", ""),
                    labels.get("team", ""),
                )
            )
    return sorted(out)


def scenario(now: float) -> list[FakeAccount]:
    return [
        FakeAccount("fine@x.io", now + 30 * DAY, max_jobs=4, plan=FakePlan(gen_simultaneously=4)),
        # Its plan ends in 3 days, within the default plan_warning of 7 days.
        FakeAccount("ending@studio.io", now + 30 * DAY, plan=FakePlan(expires_at=now + 3 * DAY)),
        FakeAccount(
            "poor@x.io",
            now + 30 * DAY,
            plan=FakePlan(credit_daily=20, credit_monthly=40, credit_package=0),
        ),
        FakeAccount(
            "greedy@studio.io", now + 30 * DAY, max_jobs=6, plan=FakePlan(gen_simultaneously=4)
        ),
        FakeAccount("stranger@x.io", now + 30 * DAY, plan=None),  # /features: 400
    ]


EXPECTED = [
    ("firing", "PixverseCreditsLow", "warning", "poor@x.io", ""),
    ("firing", "PixverseMaxJobsAbovePlan", "warning", "greedy@studio.io", "studio"),
    ("firing", "PixversePlanExpiringSoon", "warning", "ending@studio.io", "studio"),
    ("firing", "PixverseUseapiAccountsInError", "warning", "", ""),
]


async def _notified(receiver: WebhookReceiver, count: int) -> None:
    async def enough() -> bool:
        return len(alerts_of(receiver)) >= count

    await async_eventually(enough, timeout=10, what=f"{count} notifications")


@pytest.mark.anyio
async def test_subscription_and_plan_metrics_and_alerts_through_the_daemon(
    configs: ConfigWriter, receiver: WebhookReceiver, logs: LogCapture
) -> None:
    now = time.time()
    subscription = FakeSubscription(error=1)
    with FakeUpstream(API_TOKEN, scenario(now), subscription) as fake:
        path = configs.write(config_text(configs, fake.base_url, receiver.url))
        async with running(Daemon(load_config(path, env={}))) as daemon:
            await _notified(receiver, 4)

            async def every_plan_asked() -> bool:
                got = await series(daemon)
                unknown = {"endpoint": "features", "outcome": "http_error"}
                return bool(get(got, "pixverse_monitor_requests_total", source="main", **unknown))

            await async_eventually(every_plan_asked, what="the stranger's plan asked for")
            got = await series(daemon)
        assert alerts_of(receiver) == EXPECTED
        src = {"source": "main"}
        assert get(got, "pixverse_useapi_subscription_active", **src) == 1
        assert get(got, "pixverse_useapi_subscription_renewed_timestamp_seconds", **src) == (
            1743811200  # 2025-04-05
        )
        pixverse = {**src, "service": "PixVerse API"}
        assert get(got, "pixverse_useapi_accounts", **pixverse, state="total") == 5
        assert get(got, "pixverse_useapi_accounts", **pixverse, state="error") == 1
        ending = {**src, "account": "ending@studio.io"}
        expiry = get(got, "pixverse_account_plan_expiry_timestamp_seconds", **ending)
        assert expiry is not None and abs(expiry - (now + 3 * DAY)) < 1
        assert get(got, "pixverse_account_plan_info", **ending, plan="Premium - Monthly") == 1
        poor = {**src, "account": "poor@x.io"}
        for kind, left in (("daily", 20), ("monthly", 40), ("package", 0)):
            assert get(got, "pixverse_account_credits", **poor, kind=kind) == left
        assert get(got, "pixverse_account_min_credits", **poor) == 100
        greedy = {**src, "account": "greedy@studio.io"}
        assert get(got, "pixverse_account_plan_concurrency", **greedy) == 4
        assert get(got, "pixverse_account_max_jobs", **greedy) == 6
        assert get(got, "pixverse_account_plan_warning_seconds", **greedy) == 7 * DAY
        stranger = {**src, "account": "stranger@x.io"}
        assert get(got, "pixverse_account_plan_concurrency", **stranger) is None
        assert get(got, "pixverse_account_token_refreshes_total", **stranger) == 0
        info = [
            dict(labels)
            for (name, labels), _ in got.items()
            if name == "pixverse_account_info" and ("account", "greedy@studio.io") in labels
        ]
        assert [i.get("team") for i in info] == ["studio"]
        requests = {
            (dict(labels)["endpoint"], dict(labels)["outcome"]): value
            for (name, labels), value in got.items()
            if name == "pixverse_monitor_requests_total" and value
        }
        assert requests[("accounts", "success")] == 1
        assert requests[("account", "success")] == 1
        assert requests[("features", "success")] >= 4
        assert requests[("features", "http_error")] >= 1  # the stranger, 400
        (unknown,) = logs.events("plan.unknown_account")
        assert unknown["account"] == "stranger@x.io"


@pytest.mark.anyio
async def test_an_ignored_account_is_neither_fetched_nor_alerted(
    configs: ConfigWriter, receiver: WebhookReceiver
) -> None:
    now = time.time()
    ignore = '[[accounts]]\nmatch = "GREEDY@*"\nignore = true\n'
    with FakeUpstream(API_TOKEN, scenario(now), FakeSubscription(error=1)) as fake:
        # First match wins: the studio rule comes first, so move the ignore rule before it.
        text = config_text(configs, fake.base_url, receiver.url)
        studio = '[[accounts]]\nmatch = "*@studio.io"'
        text = text.replace(studio, ignore + studio)
        path = configs.write(text)
        async with running(Daemon(load_config(path, env={}))) as daemon:
            await _notified(receiver, 3)
            got = await series(daemon)
    assert (
        "firing",
        "PixverseMaxJobsAbovePlan",
        "warning",
        "greedy@studio.io",
        "studio",
    ) not in alerts_of(receiver)
    assert not [k for k in got if ("account", "greedy@studio.io") in k[1]]
    assert get(got, "pixverse_accounts", source="main", state="ok") == 4
    asked = [r.query for r in fake.requests if r.path == FEATURES]
    assert asked and not any("greedy" in q for q in asked)


@pytest.mark.anyio
@pytest.mark.e2e
async def test_a_plan_end_is_notified_within_a_second(
    configs: ConfigWriter, receiver: WebhookReceiver, logs: LogCapture
) -> None:
    crossing_at = float(int(time.time()) + 3)  # whole seconds, as upstream dates are
    accounts = [
        FakeAccount("edge@x.io", time.time() + 30 * DAY, plan=FakePlan(expires_at=crossing_at))
    ]
    with FakeUpstream(API_TOKEN, accounts) as fake:
        text = config_text(configs, fake.base_url, receiver.url).replace(
            'features_interval = "2s"', 'features_interval = "1h"'
        )
        path = configs.write(text)
        async with running(Daemon(load_config(path, env={}))):
            await _notified(receiver, 2)
    first, second = (got.json()["alerts"][0] for got in receiver.accepted())
    assert (first["labels"]["severity"], second["labels"]["severity"]) == ("warning", "critical")
    assert second["labels"]["alertname"] == "PixversePlanExpiringSoon"
    (judged,) = [e for e in logs.events("alert.firing") if e["severity"] == "critical"]
    lateness = datetime.fromisoformat(str(judged["timestamp"])).timestamp() - crossing_at
    assert 0 <= lateness < 1.0, f"judged {lateness:.3f}s after the plan ended"
    delivered = receiver.accepted()[1].at_unix - crossing_at
    assert delivered < 2.0, f"delivered {delivered:.3f}s after the plan ended"
    assert sum(r.path == FEATURES for r in fake.requests) == 1  # not found by a new request


@pytest.mark.anyio
async def test_a_restart_carries_plan_alerts_over_until_it_has_read_again(
    configs: ConfigWriter, receiver: WebhookReceiver
) -> None:
    now = time.time()
    subscription = FakeSubscription(active=False)
    with FakeUpstream(API_TOKEN, scenario(now)[3:4], subscription) as fake:
        path = configs.write(config_text(configs, fake.base_url, receiver.url))
        config = load_config(path, env={})
        async with running(Daemon(config)):
            await _notified(receiver, 2)
        assert alerts_of(receiver) == [
            ("firing", "PixverseMaxJobsAbovePlan", "warning", "greedy@studio.io", "studio"),
            ("firing", "PixverseUseapiSubscriptionInactive", "critical", "", ""),
        ]
        # Fixed while the daemon is down, but the new run cannot read plans or the
        # subscription yet: it must neither resolve nor repeat the alerts.
        fake.update("greedy@studio.io", max_jobs=4)
        fake.set_subscription(active=True)
        fake.fail_always(FEATURES, Fault(503))
        fake.fail_always(ACCOUNT, Fault(503))
        async with running(Daemon(config)) as daemon:

            async def tried() -> bool:
                got = await series(daemon)
                failed = {"source": "main", "outcome": "http_error"}
                return all(
                    (get(got, "pixverse_monitor_requests_total", **failed, endpoint=e) or 0) >= 1
                    for e in ("account", "features")
                )

            await async_eventually(tried, timeout=15, what="failed plan and account requests")
            got = await series(daemon)
            assert get(got, "pixverse_monitor_alerts_firing", severity="warning") == 1
            assert get(got, "pixverse_monitor_alerts_firing", severity="critical") == 1
            assert len(receiver.accepted()) == 2
            fake.fail_always(FEATURES, None)
            await _notified(receiver, 3)
            # The subscription could not be read again: still firing, not resolved.
            got = await series(daemon)
            assert get(got, "pixverse_monitor_alerts_firing", severity="critical") == 1
        assert alerts_of(receiver) == [
            ("firing", "PixverseMaxJobsAbovePlan", "warning", "greedy@studio.io", "studio"),
            ("firing", "PixverseUseapiSubscriptionInactive", "critical", "", ""),
            ("resolved", "PixverseMaxJobsAbovePlan", "warning", "greedy@studio.io", "studio"),
        ]


@pytest.mark.anyio
async def test_a_reload_applies_new_rules_to_the_data_held(
    configs: ConfigWriter, receiver: WebhookReceiver, logs: LogCapture
) -> None:
    now = time.time()
    with FakeUpstream(API_TOKEN, scenario(now), FakeSubscription(error=1)) as fake:
        path = configs.write(config_text(configs, fake.base_url, receiver.url))
        async with running(Daemon(load_config(path, env={}))) as daemon:
            await _notified(receiver, 4)
            # A rule now ignores greedy@, and poor@ gets a team and a lower minimum.
            rules = (
                '[[accounts]]\nmatch = "greedy@*"\nignore = true\n'
                '[[accounts]]\nmatch = "poor@x.io"\nmin_credits = 50\n'
                'labels = { team = "finance" }\n'
            )
            # Before the studio rule: the first match wins.
            studio = '[[accounts]]\nmatch = "*@studio.io"'
            path.write_text(path.read_text().replace(studio, rules + studio))
            assert await daemon.reload()
            await _notified(receiver, 6)
            got = await series(daemon)
        (reloaded,) = logs.events("config.reloaded")
        assert "accounts" in reloaded["changed"]
        resolved = {(a[1], a[3]): a for a in alerts_of(receiver) if a[0] == "resolved"}
        assert set(resolved) == {
            ("PixverseMaxJobsAbovePlan", "greedy@studio.io"),
            ("PixverseCreditsLow", "poor@x.io"),  # 60 is not below 50
        }
        summaries = {
            a["labels"]["alertname"]: a["annotations"]["summary"]
            for got_ in receiver.accepted()
            for a in got_.json()["alerts"]
            if a["status"] == "resolved"
        }
        assert summaries["PixverseMaxJobsAbovePlan"] == (
            "PixVerse account greedy@studio.io is no longer watched in source main"
        )
        assert (
            summaries["PixverseCreditsLow"]
            == "PixVerse account poor@x.io has 60 credits left again"
        )
        assert not [k for k in got if ("account", "greedy@studio.io") in k[1]]
        poor = {"source": "main", "account": "poor@x.io"}
        assert get(got, "pixverse_account_min_credits", **poor) == 50
        info = [
            dict(k[1])
            for k in got
            if k[0] == "pixverse_account_info" and ("account", "poor@x.io") in k[1]
        ]
        assert [i.get("team") for i in info] == ["finance"]
