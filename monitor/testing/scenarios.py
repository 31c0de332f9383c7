"""Named scenarios of the fake useapi.net, one per thing worth rehearsing: what `demo` runs
against, and what `pixverse-monitor fake-upstream --scenario NAME` serves on its own."""

from __future__ import annotations

import asyncio
import random
import time
from typing import NamedTuple

from monitor.testing.fakeapi import ENDPOINTS, FakeAccount, FakeUpstream, Fault
from monitor.testing.fakefeatures import FakePlan

DEMO_TOKEN = "demo-token-not-a-secret"  # noqa: S105 - the fake upstream's, by design
DEMO_DOMAIN = "demo.pixverse.test"
HOUR = 3600.0
DAY = 86400.0
RENEW_AFTER_SECONDS = 180.0
PLAN_ENDS_AFTER_SECONDS = 240.0
# Longer than any poll.timeout or check --timeout worth having: a hang, as far as they can tell.
SLOW_ANSWER_SECONDS = 120.0


class Scenario(NamedTuple):
    name: str
    summary: str  # what it serves, and what `check` makes of it


SCENARIOS = (
    Scenario(
        "demo",
        "seven accounts, one per situation, some changing within minutes (check: CRITICAL)",
    ),
    Scenario("ok", "three accounts, all far from expiry, plans and credits fine (check: OK)"),
    Scenario("warning", "three accounts, one expiring in 2 days (check: WARNING)"),
    Scenario("critical", "three accounts, one expiring in 5 hours, one expired (check: CRITICAL)"),
    Scenario("401", "every request refused with 401, as for a wrong token (check: CRITICAL)"),
    Scenario("500", "every request answered 500 (check: CRITICAL, after one retry)"),
    Scenario(
        "slow",
        f"every answer {SLOW_ANSWER_SECONDS:g} s late (check: UNKNOWN once --timeout runs out)",
    ),
)
SCENARIO_NAMES = tuple(s.name for s in SCENARIOS)


def demo_accounts(now: float) -> list[FakeAccount]:
    """One account per situation worth seeing, several of them changing within minutes."""
    return [
        FakeAccount(f"healthy@{DEMO_DOMAIN}", now + 30 * DAY, max_jobs=8, executing=3),
        # Its PixVerse plan ends in 4 minutes: within plan_warning now, lapsed then.
        FakeAccount(
            f"soon@{DEMO_DOMAIN}",
            now + 60 * HOUR,
            max_jobs=5,
            executing=1,
            plan=FakePlan(name="Standard - Monthly", expires_at=now + PLAN_ENDS_AFTER_SECONDS),
        ),
        # Short of credits: 40 left, below the demo's min_credits of 100.
        FakeAccount(
            f"urgent@{DEMO_DOMAIN}",
            now + 6 * HOUR,
            max_jobs=3,
            executing=2,
            plan=FakePlan(credit_daily=10, credit_monthly=30, credit_package=0),
        ),
        # Crosses from warning into critical about 90 s after the demo starts.
        FakeAccount(f"crossing@{DEMO_DOMAIN}", now + 24 * HOUR + 90, max_jobs=4),
        FakeAccount(f"lapsed@{DEMO_DOMAIN}", now - 3 * HOUR, max_jobs=5),
        FakeAccount(f"mystery@{DEMO_DOMAIN}", None, max_jobs=2, plan=None),  # no plan known either
        # Expires 2 minutes in, then gets renewed for 30 days at 3 minutes. maxJobs 6 is
        # above what its plan runs at once (4).
        FakeAccount(
            f"renewing@{DEMO_DOMAIN}",
            now + 120,
            max_jobs=6,
            executing=1,
            plan=FakePlan(gen_simultaneously=4),
        ),
    ]


def _three(now: float, *expiries: float) -> list[FakeAccount]:
    names = ("alpha", "bravo", "charlie")
    return [
        FakeAccount(f"{name}@{DEMO_DOMAIN}", now + ttl, max_jobs=jobs, executing=1)
        for name, ttl, jobs in zip(names, expiries, (8, 5, 3), strict=True)
    ]


def scenario_upstream(name: str, token: str = DEMO_TOKEN, now: float | None = None) -> FakeUpstream:
    """A fake useapi.net serving scenario `name` (one of SCENARIO_NAMES), not yet started."""
    now = time.time() if now is None else now
    fault: Fault | None = None
    if name == "demo":
        accounts = demo_accounts(now)
    elif name == "warning":
        accounts = _three(now, 30 * DAY, 2 * DAY, 45 * DAY)
    elif name == "critical":
        accounts = _three(now, 30 * DAY, 5 * HOUR, -3 * HOUR)
    elif name in ("ok", "401", "500", "slow"):
        accounts = _three(now, 30 * DAY, 20 * DAY, 45 * DAY)
        if name == "401":
            fault = Fault(401, body=b'{"error":"Unauthorized","code":401}')
        elif name == "500":
            fault = Fault(500)
        elif name == "slow":
            # Late, then the usual answer: a slow upstream, not a broken one.
            fault = Fault(None, delay_seconds=SLOW_ANSWER_SECONDS)
    else:
        raise ValueError(f"no scenario {name!r}; one of {', '.join(SCENARIO_NAMES)}")
    fake = FakeUpstream(token=token, accounts=accounts)
    if fault is not None:
        for endpoint in ENDPOINTS:
            fake.fail_always(endpoint, fault)
    return fake


async def liven(fake: FakeUpstream, started: float) -> None:
    """The demo's life: jobs come and go; the `renewing` account gets a fresh token a few
    minutes in. Runs until cancelled."""
    rng = random.Random(7)  # noqa: S311 - demo liveliness, not crypto
    renewed = False
    while True:
        await asyncio.sleep(5)
        for account in fake.accounts():
            limit = account.max_jobs if isinstance(account.max_jobs, int) else 0
            step = rng.choice((-1, 0, 1))
            fake.update(account.email, executing=min(limit, max(0, account.executing + step)))
        if not renewed and time.time() - started >= RENEW_AFTER_SECONDS:
            renewed_email = f"renewing@{DEMO_DOMAIN}"
            if any(a.email == renewed_email for a in fake.accounts()):
                fake.update(renewed_email, expires_at=time.time() + 30 * DAY)
            renewed = True
