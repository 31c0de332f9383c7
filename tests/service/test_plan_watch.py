"""The /v2/account and /features schedules against the fake upstream on loopback, driven by a
FakeClock: the request budget, the spread, at most 2 in flight, each failure degrading only
its own series, unknown emails, token refreshes, the policy, and reloads."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from monitor.config.load import load_config
from monitor.config.model import Config
from monitor.errors import Outcome
from monitor.service.plan_schedule import requests_per_hour
from monitor.service.plan_watch import PlanWatch
from monitor.service.presence import Presence
from monitor.service.reload import diff_configs
from monitor.testing.fakeapi import (
    ACCOUNT,
    ACCOUNTS,
    AVAILABLE,
    FEATURES,
    FakeAccount,
    FakeUpstream,
    Fault,
)
from monitor.testing.fakeclock import FakeClock
from monitor.testing.fakefeatures import FakePlan
from monitor.testing.fakeschedule import FakeSchedule
from monitor.upstream import Endpoint, Sleep, UpstreamClient, poll_source
from tests.helpers import DAY, ConfigWriter, LogCapture, async_eventually

T0 = 1_900_000_000.0
HOUR = 3600.0
# Accounts seen for the first time are read within one poll interval (5m by default).
FIRST_ROUND = 300.0
# How far before its end a harness's run stops running what falls due.
JUST_BEFORE = 0.001


def config_for(
    configs: ConfigWriter, base_url: str, extra: str = "", poll: str = "", metrics: str = ""
) -> Config:
    path = configs.write(
        f"""
[[sources]]
name = "main"
base_url = "{base_url}"
token_file = "{configs.token_file}"

[poll]
timeout = "2s"
{poll}

[metrics]
listen = "127.0.0.1:0"
{metrics}

[alerts]
state_dir = "{configs.dir / "state"}"
{extra}
"""
    )
    return load_config(path, env={})


class Harness:
    """The daemon's two schedules for one source, on a FakeSchedule: the polls every
    poll.interval (a job, as the poll watch has it) and PlanWatch's turns. Time passes by
    `run_until`, which runs each at its moment, for real, against the fake upstream. Schedules
    are on the monotonic clock; times given and logged are wall times (the wall clock does not
    step here unless a test steps it)."""

    def __init__(self, config: Config, fake: FakeUpstream, start: float = T0) -> None:
        self.config = config
        self.fake = fake
        self.clock = FakeClock(start)
        self.schedule = FakeSchedule(self.clock)
        self.watch = self.plan_watch()
        source = config.sources[0]
        self.client = UpstreamClient.of(source, config.poll, self.clock)
        self.log: list[tuple[float, str, str]] = []  # (fake time, path, query) of requests
        self.presence = Presence()  # as the daemon's poll watch keeps it
        self.schedule.start()
        self.schedule.every("poll:main", self._poll_job, config.poll.interval, timedelta(0))

    def plan_watch(self, sleep: Sleep | None = None) -> PlanWatch:
        """A PlanWatch on this harness's schedule, started (`sleep`: how it waits out a
        `Retry-After`)."""
        extra = {} if sleep is None else {"sleep": sleep}
        watch = PlanWatch(self.config, self.clock, self.note_requests, self.schedule, **extra)
        watch.start()
        watch.run()
        return watch

    def mono(self, unix: float) -> float:
        """A wall time on the monotonic clock, as the clocks stand now."""
        return unix - self.clock.time() + self.clock.monotonic()

    async def run_until(self, end: float) -> None:
        """Let time pass until the wall clock reads `end`, running what falls due before it
        (what is due at `end` runs at the start of the next call)."""
        left = self.mono(end) - self.clock.monotonic()
        if left > JUST_BEFORE:
            await self.schedule.advance(left - JUST_BEFORE)
        self.note_requests()
        self.clock.advance(max(0.0, self.mono(end) - self.clock.monotonic()))

    def note_requests(self) -> None:
        """Log the requests the fake upstream got since the last note, at the fake time: it
        does not move while a poll or a turn runs."""
        new = self.fake.requests[len(self.log) :]
        self.log.extend((self.clock.time(), r.path, r.query) for r in new)

    async def _poll_job(self) -> None:
        await self.poll()

    async def poll(self) -> None:
        self.note_requests()
        result = await poll_source(
            "main",
            self.client,
            capacity_endpoint=self.config.sources[0].capacity_endpoint,
            started_unix=self.clock.time(),
            deadline=self.clock.monotonic() + self.config.poll.interval.total_seconds(),
        )
        self.note_requests()
        if result.accounts is not None:
            self.presence.read(result.accounts.accounts)
        self.watch.polled("main", result, self.presence.missing.keys())

    def requests(self, path: str, since: float = float("-inf")) -> list[float]:
        return [t for t, p, _ in self.log if p == path and t >= since]

    async def close(self) -> None:
        await self.client.aclose()
        await self.watch.stop()
        self.schedule.shutdown()


@contextlib.asynccontextmanager
async def watching(
    configs: ConfigWriter, accounts: list[FakeAccount], start: float = T0, **config: str
) -> AsyncIterator[tuple[FakeUpstream, Harness]]:
    """The fake upstream serving `accounts`, and a Harness of the config `config_for` writes
    for it (`config` are its keyword arguments)."""
    with FakeUpstream(token=configs.token_file.read_text().strip(), accounts=accounts) as fake:
        harness = Harness(config_for(configs, fake.base_url, **config), fake, start=start)
        try:
            yield fake, harness
        finally:
            await harness.close()


def asked(query: str) -> str:
    """The email a /features request asked about."""
    return parse_qs(query)["email"][0]


def three(now: float) -> list[FakeAccount]:
    return [FakeAccount(f"{n}@x.io", now + 10 * DAY) for n in ("a", "b", "c")]


@pytest.mark.anyio
async def test_the_request_budget_of_the_default_config(configs: ConfigWriter) -> None:
    """docs/configuration.md, "Request budget": 5m polls with /scheduler/available,
    /v2/account hourly and /features hourly for 3 accounts make 12 + 12 + 1 + 3 = 28
    requests an hour."""
    async with watching(configs, three(T0)) as (fake, harness):
        config = harness.config
        await harness.run_until(T0 + HOUR)
        counts = {path: len(harness.requests(path)) for path in (ACCOUNTS, AVAILABLE)}
        counts |= {path: len(harness.requests(path)) for path in (ACCOUNT, FEATURES)}
        assert counts == {ACCOUNTS: 12, AVAILABLE: 12, ACCOUNT: 1, FEATURES: 3}
        assert len(fake.requests) == 28
        assert requests_per_hour(config.poll, config.sources[0], 3) == 28
        # Counted per endpoint and outcome.
        assert harness.watch.snapshot("main").requests_total == {
            (Endpoint.ACCOUNTS, Outcome.SUCCESS): 12,
            (Endpoint.CAPACITY, Outcome.SUCCESS): 12,
            (Endpoint.ACCOUNT, Outcome.SUCCESS): 1,
            (Endpoint.FEATURES, Outcome.SUCCESS): 3,
        }
        # Every later hour holds as many, /features spread evenly over it.
        for hour in (1, 2, 3):
            start = T0 + hour * HOUR
            await harness.run_until(start + HOUR)
            window = [t for t, _, _ in harness.log if start <= t < start + HOUR]
            assert len(window) == 28
            features = harness.requests(FEATURES, since=start)
            assert features == [start + k * HOUR / 3 for k in range(3)]
            assert harness.requests(ACCOUNT, since=start) == [start]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("poll", "accounts", "expected"),
    [
        ('account_interval = "30m"\nfeatures_interval = "3h"', 12, 24 + 2 + 4),
        ('interval = "5m"\nfeatures_interval = "20m"', 2, 24 + 1 + 6),
    ],
)
async def test_the_budget_formula_holds_for_other_settings(
    configs: ConfigWriter, poll: str, accounts: int, expected: int
) -> None:
    emails = [FakeAccount(f"u{i}@x.io", T0 + 10 * DAY) for i in range(accounts)]
    async with watching(configs, emails, poll=poll) as (_fake, harness):
        config = harness.config
        assert requests_per_hour(config.poll, config.sources[0], accounts) == expected
        every = config.poll.features_interval.total_seconds()
        end = T0 + 2 * every + HOUR  # every account read at least twice
        await harness.run_until(end)
        # A steady hour holds what the formula says.
        steady = [t for t, _, _ in harness.log if end - HOUR <= t < end]
        assert len(steady) == pytest.approx(expected, abs=1)
        # After the first round, no hour ever holds more.
        times = sorted(t for t, _, _ in harness.log if t >= T0 + every)
        for i, t in enumerate(times):
            assert sum(1 for u in times[i:] if u < t + HOUR) <= expected + 1
        # Each account is read at most once per features_interval, from the start.
        for email in (a.email for a in emails):
            reads = [t for t, p, q in harness.log if p == FEATURES and asked(q) == email]
            assert len(reads) >= 2
            assert all(b - a >= every for a, b in itertools.pairwise(reads))


@pytest.mark.anyio
async def test_at_most_two_requests_in_flight(configs: ConfigWriter) -> None:
    plan_body = orjson.dumps(FakePlan().payload())
    accounts = [FakeAccount(f"u{i}@x.io", time.time() + 10 * DAY) for i in range(6)]
    async with watching(configs, accounts, start=time.time()) as (fake, harness):
        await harness.poll()
        harness.clock.advance(FIRST_ROUND)  # every account's first read is due
        # Each answer takes 0.3 s; with 2 in flight, a third request can only start once
        # one of the first two has been answered.
        slow = Fault(200, body=plan_body, delay_seconds=0.3)
        fake.fail_always(FEATURES, slow)
        fake.fail_always(ACCOUNT, Fault(200, body=b"{}", delay_seconds=0.3))
        before = len(fake.requests)
        assert await harness.watch.run_due("main") == 7
        arrivals = sorted(r.at_unix for r in fake.requests[before:])
        assert len(arrivals) == 7
        for first, third in zip(arrivals, arrivals[2:], strict=False):
            assert third - first >= 0.25, arrivals


@pytest.mark.anyio
async def test_a_read_waiting_out_a_retry_after_frees_its_slot(configs: ConfigWriter) -> None:
    """Two /features reads told to wait (Retry-After) held both of the source's request
    slots for as long as they waited (up to an hour): no other read could start."""
    accounts = [FakeAccount(f"u{i}@x.io", T0 + 10 * DAY) for i in range(4)]
    async with watching(configs, accounts, poll='account_interval = "1h"') as (fake, harness):
        waits: list[float] = []
        go_on = asyncio.Event()

        async def sleep(seconds: float) -> None:
            waits.append(seconds)
            await go_on.wait()

        await harness.watch.stop()
        harness.watch = harness.plan_watch(sleep)
        await harness.poll()
        harness.clock.advance(FIRST_ROUND)  # every account's first read is due
        wait = {"Retry-After": "3000"}
        fake.fail_next(FEATURES, Fault(429, headers=wait), Fault(429, headers=wait))
        fake.fail_always(ACCOUNT, Fault(429, headers=wait))
        reads = asyncio.ensure_future(harness.watch.run_due("main"))

        async def the_others_read() -> bool:
            return len(harness.watch.snapshot("main").plans) == 2

        # Three requests wait (capped at the poll interval), and the two others are made.
        await async_eventually(the_others_read, what="the reads not told to wait")
        assert waits == [300.0] * 3
        fake.fail_always(ACCOUNT, None)
        go_on.set()
        assert await asyncio.wait_for(reads, 10) == 5
        assert len(harness.watch.snapshot("main").plans) == 4
        assert (
            harness.watch.snapshot("main").requests_total[(Endpoint.FEATURES, Outcome.SUCCESS)] == 4
        )


@pytest.mark.anyio
async def test_each_failure_degrades_only_its_own_series(
    configs: ConfigWriter, logs: LogCapture
) -> None:
    async with watching(configs, three(T0)) as (fake, harness):
        await harness.run_until(T0 + FIRST_ROUND)
        good = harness.watch.snapshot("main")
        assert set(good.plans) == {"a@x.io", "b@x.io", "c@x.io"}
        assert good.subscription is not None and good.subscription.active is True
        first_success = dict(good.last_success_unix)
        # Next round: a@x.io's /features and /v2/account answer garbage, b@x.io's plan
        # changes. Only the failed series keep their last good value.
        fake.fail_next(FEATURES, Fault(200, body=b"[1, 2]"))
        fake.serve_raw(ACCOUNT, b"<html>maintenance</html>")
        fake.set_plan("b@x.io", credit_monthly=7)
        fake.set_subscription(active=False)
        await harness.run_until(T0 + 2 * HOUR)
        view = harness.watch.snapshot("main")
        assert view.plans["a@x.io"] == good.plans["a@x.io"]
        assert view.plans["b@x.io"].credits_left == 7
        assert view.subscription == good.subscription  # last good, still active
        assert view.last_success_unix[Endpoint.ACCOUNT] == first_success[Endpoint.ACCOUNT]
        assert view.last_success_unix[Endpoint.FEATURES] > first_success[Endpoint.FEATURES]
        assert view.requests_total[(Endpoint.FEATURES, Outcome.INVALID_PAYLOAD)] == 1
        assert view.requests_total[(Endpoint.ACCOUNT, Outcome.INVALID_PAYLOAD)] == 1
        assert view.requests_total[(Endpoint.ACCOUNTS, Outcome.SUCCESS)] == 24
        (failed,) = logs.events("plan.failed")
        assert (failed["account"], failed["outcome"]) == ("a@x.io", "invalid_payload")
        (failed,) = logs.events("subscription.failed")
        assert failed["outcome"] == "invalid_payload"
        # Back to normal: the subscription's news arrives.
        fake.serve_raw(ACCOUNT, None)
        await harness.run_until(T0 + 3 * HOUR)
        view = harness.watch.snapshot("main")
        assert view.subscription is not None and view.subscription.active is False


@pytest.mark.anyio
async def test_an_unknown_email_makes_only_that_plan_unknown(
    configs: ConfigWriter, logs: LogCapture
) -> None:
    async with watching(configs, three(T0)) as (fake, harness):
        await harness.run_until(T0 + FIRST_ROUND)
        fake.update("b@x.io", plan=None)  # /features now answers 400 for it
        await harness.run_until(T0 + 3 * HOUR)
        view = harness.watch.snapshot("main")
        assert set(view.plans) == {"a@x.io", "c@x.io"}
        assert view.unknown_plans == {"b@x.io"}
        assert view.plan_judged("b@x.io")
        assert view.requests_total[(Endpoint.FEATURES, Outcome.HTTP_ERROR)] == 2
        # Said once, not at every request.
        (unknown,) = logs.events("plan.unknown_account")
        assert unknown["account"] == "b@x.io"
        assert logs.events("plan.failed") == []
        fake.update("b@x.io", plan=FakePlan())
        await harness.run_until(T0 + 4 * HOUR)
        view = harness.watch.snapshot("main")
        assert "b@x.io" in view.plans and view.unknown_plans == frozenset()


@pytest.mark.anyio
async def test_upstream_error_texts_never_put_an_email_in_the_logs(
    configs: ConfigWriter, logs: LogCapture
) -> None:
    accounts = [FakeAccount("secretive@hidden.example", T0 + 10 * DAY)]
    async with watching(configs, accounts, metrics='account_label = "hash"') as (fake, harness):
        body = b'{"error": "secretive@hidden.example is locked", "code": 422}'
        fake.fail_next(FEATURES, Fault(422, body=body))
        await harness.run_until(T0 + 1)
        (failed,) = logs.events("plan.failed")
        assert "is locked" in failed["error"]
        assert "hidden.example" not in logs.text


@pytest.mark.anyio
async def test_token_refreshes_are_counted_per_account(configs: ConfigWriter) -> None:
    async with watching(configs, three(T0)) as (fake, harness):

        async def poll() -> dict[str, int]:
            await harness.poll()
            return dict(harness.watch.snapshot("main").refreshes)

        assert await poll() == {"a@x.io": 0, "b@x.io": 0, "c@x.io": 0}
        fake.update("a@x.io", expires_at=T0 + 20 * DAY)  # refreshed
        fake.update("b@x.io", expires_at=T0 + 10 * DAY + 30)  # jitter, not a refresh
        fake.update("c@x.io", expires_at=T0 + 5 * DAY)  # earlier: not a refresh
        assert await poll() == {"a@x.io": 1, "b@x.io": 0, "c@x.io": 0}
        assert await poll() == {"a@x.io": 1, "b@x.io": 0, "c@x.io": 0}  # unchanged
        # Unknown for a while: compared with the last known expiry when it is back.
        fake.update("a@x.io", expires_at=None)
        assert (await poll())["a@x.io"] == 1
        fake.update("a@x.io", expires_at=T0 + 40 * DAY)
        assert (await poll())["a@x.io"] == 2
        # A failed poll changes nothing; an account missing from one list keeps its count;
        # one removed (missing from two in a row) starts again when it is back.
        fake.fail_next(ACCOUNTS, Fault(401))
        assert (await poll())["a@x.io"] == 2
        fake.remove("a@x.io")
        assert (await poll())["a@x.io"] == 2
        fake.put(FakeAccount("a@x.io", T0 + 60 * DAY))
        assert (await poll())["a@x.io"] == 3
        fake.remove("a@x.io")
        assert (await poll())["a@x.io"] == 3
        assert "a@x.io" not in await poll()
        fake.put(FakeAccount("a@x.io", T0 + 70 * DAY))
        assert (await poll())["a@x.io"] == 0


@pytest.mark.anyio
async def test_ignored_accounts_are_not_fetched_and_unmatched_rules_are_logged(
    configs: ConfigWriter, logs: LogCapture
) -> None:
    rules = (
        '[[accounts]]\nmatch = "B@X.IO"\nignore = true\n[[accounts]]\nmatch = "*@typo.example"\n'
    )
    async with watching(configs, three(T0), extra=rules) as (_fake, harness):
        await harness.run_until(T0 + 2 * HOUR)
        emails = {asked(q) for _, p, q in harness.log if p == FEATURES}
        assert emails == {"a@x.io", "c@x.io"}
        view = harness.watch.snapshot("main")
        assert set(view.plans) == {"a@x.io", "c@x.io"}
        assert "b@x.io" not in view.refreshes
        (unmatched,) = logs.events("policy.unmatched")
        assert unmatched["rule"] == "accounts[1]"
        assert unmatched["match"] == "*@typo.example"


@pytest.mark.anyio
async def test_a_reload_keeps_counters_and_turns_endpoints_off(
    configs: ConfigWriter, tmp_path: Path
) -> None:
    async with watching(configs, three(T0)) as (_fake, harness):
        config = harness.config
        await harness.run_until(T0 + 1)
        counted = dict(harness.watch.snapshot("main").requests_total)
        text = configs.dir.joinpath("config.toml").read_text()
        off = text.replace(
            f'token_file = "{configs.token_file}"',
            f'token_file = "{configs.token_file}"\nfeatures_endpoint = false',
        ).replace('timeout = "2s"', 'timeout = "2s"\naccount_interval = "10m"')
        new = load_config(configs.write(off, "off.toml"), env={})
        harness.watch.apply(new, diff_configs(config, new))
        harness.config = new
        view = harness.watch.snapshot("main")
        assert view.requests_total == counted
        assert view.plans == {} and not view.features_endpoint
        assert view.plan_judged("a@x.io")  # nothing to wait for: its alerts resolve
        # The shorter account_interval applies at once, not after the hour.
        assert harness.watch.next_due("main") == pytest.approx(harness.mono(T0 + 600), abs=1)
        await harness.run_until(T0 + HOUR)
        assert harness.requests(FEATURES, since=T0 + 2) == []
        # At the start, then every 10 minutes from the reload on.
        assert len(harness.requests(ACCOUNT)) == 1 + 5


@pytest.mark.anyio
@pytest.mark.parametrize("step", [-DAY, 30 * DAY])
async def test_plan_reads_keep_their_pace_when_the_wall_clock_steps(
    configs: ConfigWriter, step: float
) -> None:
    """The schedules are on the monotonic clock: a day back stops nothing, thirty days ahead
    makes nothing due early."""
    async with watching(configs, three(T0)) as (_fake, harness):
        await harness.run_until(T0 + HOUR + 1)
        harness.clock.step(step)
        before = len(harness.log)
        await harness.run_until(harness.clock.time() + HOUR)
        after = harness.log[before:]
        reads = [t for t, path, _ in after if path == FEATURES]
        assert len(reads) == 3
        assert [path for _, path, _ in after].count(ACCOUNT) == 1
        assert all(b - a == pytest.approx(HOUR / 3) for a, b in itertools.pairwise(reads))


# What each poll of a flapping source reads: None for a 404, else which of four accounts the
# list has.
Presences = list[frozenset[int] | None]
FLAP_INTERVAL = 300.0
FLAP_FEATURES = 1200.0
EVERY_OTHER_404: Presences = [frozenset(range(4)), None] * 12
ONE_OUT_EVERY_OTHER: Presences = [frozenset(range(4)), frozenset({1, 2, 3})] * 12
GONE_PAST_THE_GRACE: Presences = (
    [frozenset(range(4))] * 2 + [frozenset({1, 2, 3})] * 5 + [frozenset(range(4))] * 10
)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.none() | st.frozensets(st.integers(0, 3)), min_size=1, max_size=30),
)
@example(EVERY_OTHER_404)
@example(ONE_OUT_EVERY_OTHER)
@example(GONE_PAST_THE_GRACE)
def test_no_presence_pattern_buys_a_read_beyond_the_budget(presences: Presences) -> None:
    """Whatever lists (and 404s) the polls read, each account's /features is read at most
    once per features_interval, besides its first read."""
    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(_flap(ConfigWriter(Path(directory)), presences))


async def _flap(configs: ConfigWriter, presences: Presences) -> None:
    accounts = [FakeAccount(f"u{i}@x.io", T0 + 10 * DAY) for i in range(4)]
    poll = 'interval = "5m"\nfeatures_interval = "20m"'
    async with watching(configs, accounts, poll=poll) as (fake, harness):
        for listed in presences:
            if listed is None:
                fake.fail_next(ACCOUNTS, Fault(404))
            else:
                fake.set_accounts([accounts[i] for i in sorted(listed)])
            await harness.run_until(harness.clock.time() + FLAP_INTERVAL)
        for account in accounts:
            reads = [t for t, p, q in harness.log if p == FEATURES and asked(q) == account.email]
            assert all(b - a >= FLAP_FEATURES for a, b in itertools.pairwise(reads)), reads
