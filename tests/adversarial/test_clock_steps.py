"""Steps of the wall clock (NTP, an operator, a VM resumed), the daemon's clock a FakeClock
that the test steps and its time a FakeSchedule, against the fake upstream whose `Date` tells
the true time: polls and the evaluation timer go on, staleness stays honest, and no account
is paged (or resolved) by a clock known to be wrong; one PixverseMonitorClockSkew warning says
what is going on."""

from __future__ import annotations

import time

import pytest

from monitor.config.model import Config
from monitor.testing.fakeapi import ACCOUNTS, FakeAccount, FakeUpstream, Fault
from monitor.testing.receiver import WebhookReceiver
from tests.helpers import DAY, HOUR, ConfigWriter, async_eventually
from tests.helpers.inprocess import driven, get, scrape, series

SKEW = "PixverseMonitorClockSkew"


def config(configs: ConfigWriter, fake: FakeUpstream, receiver: WebhookReceiver) -> Config:
    sink = f'[[sinks]]\nname = "ops"\ntype = "webhook"\nurl = "{receiver.url}/hook"\n'
    return configs.load(fake.base_url, sink, poll='stale_after = "2h"')


def notified(receiver: WebhookReceiver) -> list[tuple[str, str, str, str]]:
    """(status, alertname, severity, account) of every alert notified, in order."""
    return [
        (
            a["status"],
            a["labels"]["alertname"],
            a["labels"]["severity"],
            a["labels"].get("account", ""),
        )
        for a in receiver.alerts()
    ]


async def has(receiver: WebhookReceiver, *alerts: tuple[str, str, str, str]) -> bool:
    seen = notified(receiver)
    return all(alert in seen for alert in alerts)


@pytest.mark.anyio
async def test_a_step_back_a_day_polls_at_once_and_keeps_staleness_honest(
    fake: FakeUpstream, configs: ConfigWriter, receiver: WebhookReceiver
) -> None:
    async with driven(config(configs, fake, receiver)) as (daemon, schedule):
        assert fake.count(ACCOUNTS) == 1
        schedule.clock.step(-DAY)
        # Noticed within a second, and polled at once although the next poll is an hour off.
        await schedule.advance(1)
        assert fake.count(ACCOUNTS) == 2
        assert (await scrape(daemon, "/readyz")).status_code == 200
        # Upstream fails from now on: staleness is measured on the monotonic clock, which the
        # step did not move. Not stale a second before stale_after (the polls of each hour
        # failing meanwhile), stale from it, by the evaluation timer.
        fake.fail_always(ACCOUNTS, Fault(400))
        await schedule.advance(2 * HOUR - 1)
        assert fake.count(ACCOUNTS) == 3
        assert (await scrape(daemon, "/readyz")).status_code == 200
        assert get(await series(daemon), "pixverse_monitor_alerts_firing", severity="critical") == 0
        await schedule.advance(2)
        assert (await scrape(daemon, "/readyz")).status_code == 503
        assert get(await series(daemon), "pixverse_monitor_alerts_firing", severity="critical") == 1
        assert fake.count(ACCOUNTS) == 4
        source_down = ("firing", "PixverseSourceDown", "critical", "")
        await async_eventually(lambda: has(receiver, source_down), what="SourceDown notified")


@pytest.mark.anyio
async def test_the_evaluation_timer_goes_on_after_a_step_back(
    fake: FakeUpstream, configs: ConfigWriter, receiver: WebhookReceiver
) -> None:
    """A token crosses its critical threshold 3 s after the start; the wall clock steps back a
    day before that. The crossing is still notified when it happens."""
    now = time.time()
    fake.set_accounts([FakeAccount("edge@x.io", now + 24 * HOUR + 3)])
    async with driven(config(configs, fake, receiver), start=now) as (_, schedule):
        warning = ("firing", "PixverseTokenExpiringSoon", "warning", "edge@x.io")
        await async_eventually(lambda: has(receiver, warning), what="the warning")
        schedule.clock.step(-DAY)
        await schedule.advance(4)
        critical = ("firing", "PixverseTokenExpiringSoon", "critical", "edge@x.io")
        await async_eventually(lambda: has(receiver, critical), timeout=10, what="the crossing")
    # Upstream's Date tells the clock is a day behind: a warning, not a page.
    assert sorted(notified(receiver)) == sorted(
        [warning, ("firing", SKEW, "warning", ""), critical]
    )


@pytest.mark.anyio
async def test_a_30_day_excursion_pages_no_account_and_warns_once(
    fake: FakeUpstream, configs: ConfigWriter, receiver: WebhookReceiver
) -> None:
    """Forward 30 days, put right 8 seconds later: every token would look expired."""
    async with driven(config(configs, fake, receiver)) as (daemon, schedule):
        clock = schedule.clock
        warning = ("firing", "PixverseTokenExpiringSoon", "warning", "bob@example.com")
        await async_eventually(lambda: has(receiver, warning), what="bob's warning")
        clock.step(30 * DAY)
        await schedule.advance(1)  # the tick notices the step; a poll checks the clock
        skewed = ("firing", SKEW, "warning", "")
        await async_eventually(lambda: has(receiver, skewed), what="the clock skew warning")
        skew = get(await series(daemon), "pixverse_monitor_clock_skew_seconds", source="main")
        assert skew is not None and abs(skew - 30 * DAY) < 5
        assert (
            get(
                await series(daemon),
                "pixverse_account_state",
                source="main",
                account="alice@example.com",
                state="ok",
            )
            == 1
        )
        await schedule.advance(8)
        clock.step(-30 * DAY)
        await schedule.advance(1)
        agreed = ("resolved", SKEW, "warning", "")
        await async_eventually(lambda: has(receiver, agreed), what="the clocks agreeing again")
        skew = get(await series(daemon), "pixverse_monitor_clock_skew_seconds", source="main")
        assert skew is not None and abs(skew) < 60  # the fake clock does not follow real time
    assert notified(receiver) == [warning, skewed, agreed]


@pytest.mark.anyio
async def test_a_clock_wrong_from_the_start_pages_no_account(
    fake: FakeUpstream, configs: ConfigWriter, receiver: WebhookReceiver
) -> None:
    """Started 30 days ahead: expiries are judged by upstream's clock until NTP fixes ours."""
    async with driven(config(configs, fake, receiver), start=time.time() + 30 * DAY) as (
        _,
        schedule,
    ):
        warning = ("firing", "PixverseTokenExpiringSoon", "warning", "bob@example.com")
        skewed = ("firing", SKEW, "warning", "")
        await async_eventually(lambda: has(receiver, warning, skewed), what="the first alerts")
        schedule.clock.step(-30 * DAY)
        await schedule.advance(1)
        agreed = ("resolved", SKEW, "warning", "")
        await async_eventually(lambda: has(receiver, agreed), what="the clocks agreeing")
    assert sorted(notified(receiver)) == sorted([warning, skewed, agreed])


@pytest.mark.anyio
async def test_without_a_date_to_check_by_a_correction_resolves_at_once(
    fake: FakeUpstream, configs: ConfigWriter, receiver: WebhookReceiver
) -> None:
    """An upstream whose answers carry no Date cannot tell a wrong clock: the pages it makes
    resolve within one evaluation of the step that puts it right, not at the next poll."""
    fake.clock_offset_seconds = None
    async with driven(config(configs, fake, receiver), start=time.time() + 30 * DAY) as (
        _,
        schedule,
    ):
        expired = ("firing", "PixverseTokenExpired", "critical", "alice@example.com")
        await async_eventually(lambda: has(receiver, expired), what="the false pages")
        schedule.clock.step(-30 * DAY)
        await schedule.advance(1)
        ended = ("resolved", "PixverseTokenExpired", "critical", "alice@example.com")
        await async_eventually(lambda: has(receiver, ended), what="the false pages resolved")
    # Every false page resolved; what still fires is what is true: bob's token in warning.
    last: dict[tuple[str, str], tuple[str, str]] = {}
    for status, name, severity, account in notified(receiver):
        last[(name, account)] = (status, severity)
    firing = {key: severity for key, (status, severity) in last.items() if status == "firing"}
    assert firing == {("PixverseTokenExpiringSoon", "bob@example.com"): "warning"}
