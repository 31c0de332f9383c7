"""An accounts list that flaps: a 404 every other poll, an account left out of every other
list, an account gone for longer than the absence grace and back. The daemon (its time on a
FakeSchedule, five minutes a poll) keeps the request budget and pages nobody again; an account
gone for the grace is resolved once, as removed."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qs

import pytest

from monitor.config.load import load_config
from monitor.service.daemon import Daemon
from monitor.testing.fakeapi import ACCOUNTS, FEATURES, FakeAccount, FakeUpstream, Fault
from monitor.testing.fakefeatures import FakePlan
from monitor.testing.fakeschedule import FakeSchedule
from monitor.testing.receiver import WebhookReceiver
from tests.helpers import API_TOKEN, DAY, ConfigWriter, async_eventually
from tests.helpers.inprocess import driven, get, series

INTERVAL = 300.0  # poll.interval, as the daemon has it
FEATURES_HOURLY = 'features_interval = "1h"'
HOUR = 3600.0
LAPSED, WARN, OK = "lapsed@x.io", "warn@x.io", "ok@x.io"
SOON = "PixverseTokenExpiringSoon"
PLAN = "PixversePlanExpiringSoon"


def accounts(now: float) -> list[FakeAccount]:
    return [
        FakeAccount(LAPSED, now + 10 * DAY, plan=FakePlan(expired_member=1)),
        FakeAccount(WARN, now + 2 * DAY),
        FakeAccount(OK, now + 10 * DAY),
    ]


class World:
    """The daemon, its time moved on five minutes, a poll, at a time."""

    def __init__(self, daemon: Daemon, schedule: FakeSchedule, fake: FakeUpstream) -> None:
        self.daemon = daemon
        self.schedule = schedule
        self.fake = fake
        self.started = schedule.clock.time()

    async def poll(self, fault: Fault | None = None) -> None:
        """Five minutes on: the next poll (answered with `fault`), and whatever else falls
        due meanwhile (plan reads, evaluations)."""
        if fault is not None:
            self.fake.fail_next(ACCOUNTS, fault)
        await self.schedule.advance(INTERVAL)

    def elapsed(self) -> float:
        return self.schedule.clock.time() - self.started

    async def features(self) -> int:
        """/features requests answered and counted by the daemon so far."""
        got = await series(self.daemon)
        return int(
            sum(
                value
                for (name, labels), value in got.items()
                if name == "pixverse_monitor_requests_total" and ("endpoint", "features") in labels
            )
        )


@asynccontextmanager
async def world(configs: ConfigWriter, receiver: WebhookReceiver) -> AsyncIterator[World]:
    now = time.time()
    with FakeUpstream(API_TOKEN, accounts(now)) as fake:
        fake.clock_offset_seconds = None  # the fake clock races ahead of upstream's
        sink = f'[[sinks]]\nname = "ops"\ntype = "webhook"\nurl = "{receiver.url}/hook"\n'
        path = configs.for_upstream(fake.base_url, sink, interval="5m", poll=FEATURES_HOURLY)
        config = load_config(path, env={})
        async with driven(config, start=now) as (daemon, schedule):
            here = World(daemon, schedule, fake)
            await here.poll()  # the first round of plan reads: within one poll interval
            assert await here.features() == 3
            yield here


def asked(query: str) -> str:
    return parse_qs(query)["email"][0]


def notified(receiver: WebhookReceiver) -> list[tuple[str, str, str, str]]:
    return [
        (a["status"], a["labels"]["alertname"], a["labels"]["severity"], a["labels"]["account"])
        for a in receiver.alerts()
    ]


FIRST = [("firing", SOON, "warning", WARN), ("firing", PLAN, "critical", LAPSED)]


def reads_due(elapsed: float) -> int:
    """/features requests the budget allows by `elapsed` seconds after the start: each
    account once in the first round (within the first poll interval), then once an hour,
    its turns spread evenly over the hour after the first round."""
    turns = 0
    for k in range(3):
        first = HOUR + k * HOUR / 3
        turns += 1 + (0 if elapsed < first else int((elapsed - first) // HOUR) + 1)
    return turns


async def delivered(receiver: WebhookReceiver, count: int) -> None:
    async def done() -> bool:
        return len(receiver.alerts()) >= count

    await async_eventually(done, what=f"{count} alerts notified")


@pytest.mark.anyio
async def test_a_404_every_other_poll_changes_nothing(
    configs: ConfigWriter, receiver: WebhookReceiver
) -> None:
    async with world(configs, receiver) as w:
        await delivered(receiver, 2)
        for i in range(24):  # two hours
            # A 404 every other poll; the accounts' turns (on the hour) fall on the others (a
            # turn that falls on a 404 is made at the next list instead).
            await w.poll(Fault(404) if i % 2 == 1 else None)
            assert await w.features() == reads_due(w.elapsed())
            if i % 2 == 1:  # right after a 404, the accounts are still all there
                got = await series(w.daemon)
                assert get(got, "pixverse_monitor_up", source="main") == 1
                assert get(got, "pixverse_accounts", source="main", state="warning") == 1
                assert (
                    get(got, "pixverse_monitor_polls_total", source="main", outcome="no_accounts")
                    == (i + 1) // 2
                )
        assert w.fake.count(FEATURES) == reads_due(w.elapsed()) == 7
    assert sorted(notified(receiver)) == sorted(FIRST)


@pytest.mark.anyio
async def test_an_account_left_out_of_every_other_list_keeps_its_plan_and_alerts(
    configs: ConfigWriter, receiver: WebhookReceiver
) -> None:
    async with world(configs, receiver) as w:
        await delivered(receiver, 2)
        lapsed = next(a for a in w.fake.accounts() if a.email == LAPSED)
        for i in range(24):
            # Missing from every other list; its turns (on the hour) fall on those with it.
            if i % 2 == 1:
                w.fake.remove(LAPSED)
            else:
                w.fake.put(lapsed)
            await w.poll()
            assert await w.features() == reads_due(w.elapsed())
            if i % 2 == 1:  # its series follow the list; its alerts do not
                got = await series(w.daemon)
                assert get(got, "pixverse_account_max_jobs", source="main", account=LAPSED) is None
                assert get(got, "pixverse_monitor_alerts_firing", severity="critical") == 1, i
        assert w.fake.count(FEATURES) == reads_due(w.elapsed()) == 7
    assert sorted(notified(receiver)) == sorted(FIRST)


@pytest.mark.anyio
async def test_an_account_gone_for_the_grace_is_removed_once_and_buys_no_early_read(
    configs: ConfigWriter, receiver: WebhookReceiver
) -> None:
    async with world(configs, receiver) as w:
        await delivered(receiver, 2)
        lapsed = next(a for a in w.fake.accounts() if a.email == LAPSED)
        w.fake.remove(LAPSED)
        await w.poll()  # missing once: kept
        assert len(receiver.alerts()) == 2
        await w.poll()  # missing twice: removed
        removed = ("resolved", PLAN, "critical", LAPSED)
        await delivered(receiver, 3)
        assert notified(receiver)[2] == removed
        summary = receiver.alerts()[2]["annotations"]["summary"]
        assert "no longer watched" in summary or "removed" in summary
        await w.poll()
        w.fake.put(lapsed)  # back, 20 minutes after its first read
        for _ in range(16):  # until well past its next turn
            await w.poll()
            assert await w.features() == reads_due(w.elapsed())
        reads = [r for r in w.fake.requests if r.path == FEATURES and asked(r.query) == LAPSED]
        assert len(reads) == 2  # the first round, and its turn an hour on: nothing between
        assert w.fake.count(FEATURES) <= reads_due(w.elapsed())
        await delivered(receiver, 4)
    # Back with its plan read again at its turn: the plan alert starts again, once.
    assert notified(receiver) == [*FIRST, removed, ("firing", PLAN, "critical", LAPSED)]
