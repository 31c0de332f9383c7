"""`check`'s one round of plan reads, through the daemon's plan schedule, against the fake
upstream on loopback: the same bound on requests in flight (a read told to wait lets go of
its slot), the same plan view, the deadline, and what is not asked."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import orjson
import pytest

from monitor.clock import SystemClock
from monitor.config import Config, load_config
from monitor.errors import Outcome
from monitor.service import PlanRound, read_plan_rounds
from monitor.testing.fakeapi import ACCOUNT, FEATURES, FakeAccount, FakeUpstream, Fault
from monitor.testing.fakefeatures import FakePlan
from monitor.upstream import PollResult, Sleep, UpstreamClient, poll_source
from tests.helpers import DAY, ConfigWriter, async_eventually


async def polled(config: Config, clock: SystemClock) -> list[PollResult]:
    results = []
    for source in config.sources:
        client = UpstreamClient.of(source, config.poll, clock, one_shot=True)
        try:
            results.append(
                await poll_source(
                    source.name,
                    client,
                    capacity_endpoint=source.capacity_endpoint,
                    started_unix=clock.time(),
                    deadline=clock.monotonic() + 10,
                )
            )
        finally:
            await client.aclose()
    return results


async def one_round(
    config: Config, budget: float = 10.0, sleep: Sleep = asyncio.sleep
) -> tuple[PlanRound, float]:
    """The round of the one source, and how long it took."""
    clock = SystemClock()
    results = await polled(config, clock)
    started = clock.monotonic()
    (got,) = await read_plan_rounds(config, results, clock, started + budget, sleep=sleep)
    return got, clock.monotonic() - started


def accounts(count: int) -> list[FakeAccount]:
    return [FakeAccount(f"u{i}@x.io", time.time() + 10 * DAY) for i in range(count)]


@pytest.mark.anyio
async def test_at_most_two_requests_in_flight_as_the_daemon(
    fake: FakeUpstream, configs: ConfigWriter
) -> None:
    fake.set_accounts(accounts(6))
    # Each answer takes 0.3 s; with 2 in flight, a third request can only start once one of
    # the first two has been answered.
    fake.fail_always(
        FEATURES, Fault(200, body=orjson.dumps(FakePlan().payload()), delay_seconds=0.3)
    )
    fake.fail_always(ACCOUNT, Fault(200, body=b"{}", delay_seconds=0.3))
    before = len(fake.requests)
    got, _ = await one_round(configs.load(fake.base_url))
    arrivals = sorted(r.at_unix for r in fake.requests[before:] if r.path in (ACCOUNT, FEATURES))
    assert len(arrivals) == 7
    for first, third in zip(arrivals, arrivals[2:], strict=False):
        assert third - first >= 0.25, arrivals
    assert len(got.view.plans) == 6
    assert all(r.outcome is Outcome.SUCCESS for r in got.plans.values())


@pytest.mark.anyio
async def test_a_read_waiting_out_a_retry_after_frees_its_slot(
    fake: FakeUpstream, configs: ConfigWriter
) -> None:
    """`check` held its slot through a Retry-After, where the daemon lets go of it: two reads
    told to wait kept every other read of the source waiting with them."""
    fake.set_accounts(accounts(4))
    wait = {"Retry-After": "1"}
    fake.fail_next(FEATURES, Fault(429, headers=wait), Fault(429, headers=wait))
    fake.fail_always(ACCOUNT, Fault(429, headers=wait))
    waits: list[float] = []
    go_on = asyncio.Event()

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await go_on.wait()

    reads = asyncio.ensure_future(one_round(configs.load(fake.base_url), sleep=sleep))

    async def the_others_answered() -> bool:
        return sum(1 for r in fake.requests if r.path == FEATURES) == 4

    # Three requests wait, and the two others are made meanwhile.
    await async_eventually(the_others_answered, what="the reads not told to wait")
    assert waits == [1.0] * 3
    fake.fail_always(ACCOUNT, None)
    go_on.set()
    got, _ = await asyncio.wait_for(reads, 10)
    assert len(got.view.plans) == 4
    assert got.subscription is not None and got.subscription.outcome is Outcome.SUCCESS


@pytest.mark.anyio
async def test_the_view_is_the_daemons_and_every_answer_is_kept(
    fake: FakeUpstream, configs: ConfigWriter, now: float
) -> None:
    fake.set_accounts(
        [
            FakeAccount("a@x.io", now + 10 * DAY, plan=FakePlan(name="Pro")),
            FakeAccount("b@x.io", now + 10 * DAY, plan=None),  # /features: 400
            FakeAccount("c@x.io", now + 10 * DAY),
        ]
    )
    fake.fail_always(FEATURES, None)
    got, _ = await one_round(configs.load(fake.base_url))
    assert set(got.view.plans) == {"a@x.io", "c@x.io"}
    assert got.view.plans["a@x.io"].name == "Pro"
    assert got.view.unknown_plans == {"b@x.io"}
    assert got.view.subscription is not None
    assert got.view.subscription_judged and got.view.plan_judged("b@x.io")
    assert got.plans["b@x.io"].unknown_account
    assert got.subscription is not None and got.subscription.subscription is not None


@pytest.mark.anyio
async def test_what_has_not_answered_by_the_deadline_is_a_timeout(
    fake: FakeUpstream, configs: ConfigWriter
) -> None:
    fake.set_accounts(accounts(2))
    fake.fail_always(FEATURES, Fault(200, body=b"{}", delay_seconds=30))
    config = load_config(configs.for_upstream(fake.base_url, timeout="15s"), env={})
    got, took = await one_round(config, budget=1.0)
    assert took < 3
    assert {r.outcome for r in got.plans.values()} == {Outcome.TIMEOUT}
    assert {r.error for r in got.plans.values()} == {"no answer within --timeout"}
    assert got.view.plans == {}
    assert got.subscription is not None and got.subscription.outcome is Outcome.SUCCESS


@pytest.mark.anyio
async def test_ignored_accounts_and_endpoints_turned_off_are_not_asked(
    fake: FakeUpstream, configs: ConfigWriter
) -> None:
    fake.set_accounts(accounts(3))
    rule = '[[accounts]]\nmatch = "u0@*"\nignore = true'
    got, _ = await one_round(configs.load(fake.base_url, rule))
    assert set(got.plans) == {"u1@x.io", "u2@x.io"}
    asked = [r.query for r in fake.requests if r.path == FEATURES]
    assert asked and not any("u0" in q for q in asked)
    before = len(fake.requests)
    config = configs.load(fake.base_url)
    off = replace(config.sources[0], account_endpoint=False, features_endpoint=False)
    got, _ = await one_round(replace(config, sources=(off,)))
    assert (got.subscription, dict(got.plans)) == (None, {})
    assert not [r for r in fake.requests[before:] if r.path in (ACCOUNT, FEATURES)]
    assert got.view.subscription_judged and got.view.plan_judged("u1@x.io")


@pytest.mark.anyio
async def test_a_source_whose_accounts_were_not_read_is_not_asked(configs: ConfigWriter) -> None:
    config = configs.load("http://127.0.0.1:1")
    failed = PollResult("main", Outcome.CONNECTION_ERROR, None, None, "refused", 0.0, 0.0)
    clock = SystemClock()
    (got,) = await read_plan_rounds(config, [failed], clock, clock.monotonic() + 1)
    assert got == PlanRound()
