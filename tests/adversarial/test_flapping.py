"""An accounts list that flaps: a 404 every other poll, an account left out of every other
list, an account gone for longer than the absence grace and back. The daemon (its clock a
FakeClock moved five minutes a poll) keeps the request budget and pages nobody again; an
account gone for the grace is resolved once, as removed."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qs

import pytest

from monitor.config.load import load_config
from monitor.service.daemon import Daemon
from monitor.testing.fakeapi import ACCOUNT, ACCOUNTS, FEATURES, FakeAccount, FakeUpstream, Fault
from monitor.testing.fakeclock import FakeClock
from monitor.testing.fakefeatures import FakePlan
from monitor.testing.receiver import WebhookReceiver
from tests.helpers import API_TOKEN, DAY, ConfigWriter, async_eventually
from tests.helpers.daemons import get, running, series

INTERVAL = 300.0  # poll.interval, as the daemon has it
FEATURES_HOURLY = 'features_interval = "1h"'
HOUR = 3600.0
LAPSED, WARN, OK = "lapsed@x.io", "warn@x.io", "ok@x.io"
SOON = "PixverseTokenExpiringSoon"
PLAN = "PixversePlanExpiringSoon"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


def accounts(now: float) -> list[FakeAccount]:
    return [
        FakeAccount(LAPSED, now + 10 * DAY, plan=FakePlan(expired_member=1)),
        FakeAccount(WARN, now + 2 * DAY),
        FakeAccount(OK, now + 10 * DAY),
    ]


class World:
    """The daemon, polled by the test every five minutes of its FakeClock."""

    def __init__(self, daemon: Daemon, clock: FakeClock, fake: FakeUpstream) -> None:
        self.daemon = daemon
        self.clock = clock
        self.fake = fake
        self.started = clock.time()

    async def poll(self, fault: Fault | None = None) -> None:
        self.clock.advance(INTERVAL)
        if fault is not None:
            self.fake.fail_next(ACCOUNTS, fault)
        await self.daemon.poll("main")

    def elapsed(self) -> float:
        return self.clock.time() - self.started

    async def features(self, count: int) -> None:
        """Wait for `count` /features requests, answered and counted by the daemon."""

        async def made() -> bool:
            got = await series(self.daemon)
            counted = sum(
                value
                for (name, labels), value in got.items()
                if name == "pixverse_monitor_requests_total" and ("endpoint", "features") in labels
            )
            return counted >= count

        await async_eventually(made, what=f"{count} /features requests")


@asynccontextmanager
async def world(configs: ConfigWriter, receiver: WebhookReceiver) -> AsyncIterator[World]:
    now = time.time()
    with FakeUpstream(API_TOKEN, accounts(now)) as fake:
        fake.clock_offset_seconds = None  # the fake clock races ahead of upstream's
        sink = f'[[sinks]]\nname = "ops"\ntype = "webhook"\nurl = "{receiver.url}/hook"\n'
        # Polled by the test, as the schedule would: the first poll is the schedule's, the
        # next not due for five minutes of real time, longer than the test.
        path = configs.for_upstream(fake.base_url, sink, interval="5m", poll=FEATURES_HOURLY)
        config = load_config(path, env={})
        clock = FakeClock(now)
        async with running(Daemon(config, clock=clock)) as daemon:
            # Its first poll over, not merely asked for: a poll the test makes while it
            # runs is skipped ("previous poll still running"), and its plan reads with it.
            await async_eventually(lambda: _polled(daemon, fake), what="the first poll")
            here = World(daemon, clock, fake)
            await here.poll()  # the first round of plan reads: within one poll interval
            await here.features(3)
            yield here


def asked(query: str) -> str:
    return parse_qs(query)["email"][0]


async def _polled(daemon: Daemon, fake: FakeUpstream) -> bool:
    if fake.count(ACCOUNT) < 1:
        return False
    got = await series(daemon)
    return (get(got, "pixverse_monitor_polls_total", source="main", outcome="success") or 0) >= 1


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
            await w.features(reads_due(w.elapsed()))
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
            await w.features(reads_due(w.elapsed()))
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
            await w.features(reads_due(w.elapsed()))
        reads = [r for r in w.fake.requests if r.path == FEATURES and asked(r.query) == LAPSED]
        assert len(reads) == 2  # the first round, and its turn an hour on: nothing between
        assert w.fake.count(FEATURES) <= reads_due(w.elapsed())
        await delivered(receiver, 4)
    # Back with its plan read again at its turn: the plan alert starts again, once.
    assert notified(receiver) == [*FIRST, removed, ("firing", PLAN, "critical", LAPSED)]
