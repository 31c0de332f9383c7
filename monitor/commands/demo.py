"""`pixverse-monitor demo`: the daemon against the built-in fake upstream, no token, no network."""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from monitor.alerts import SIGNATURE_HEADER, verify_signature
from monitor.commands.exits import EXIT_CONFIG
from monitor.config import (
    DEFAULT_MAX_RESPONSE_BYTES,
    AccountLabel,
    AccountRule,
    AlertsConfig,
    Config,
    MetricsConfig,
    PollConfig,
    Severity,
    SinkConfig,
    SinkType,
    SourceConfig,
    Thresholds,
    parse_listen,
    redact_url,
)
from monitor.errors import ConfigError
from monitor.exposition import ACCOUNT_STATE
from monitor.secret import Secret
from monitor.service import Daemon
from monitor.testing import FakeAccount, FakePlan, FakeUpstream, Received, WebhookReceiver

DEMO_TOKEN = "demo-token-not-a-secret"  # noqa: S105 - the fake upstream's, by design
DOMAIN = "demo.pixverse.test"
HOUR = 3600.0
DAY = 86400.0
RENEW_AFTER_SECONDS = 180.0
PLAN_ENDS_AFTER_SECONDS = 240.0
_OWN_LABELS = frozenset({"alertname", "severity", "source", "account"})
DEMO_SECRET = "demo-signing-key"  # noqa: S105 - the built-in receiver's, by design


def demo_accounts(now: float) -> list[FakeAccount]:
    """One account per situation worth seeing, several of them changing within minutes."""
    return [
        FakeAccount(f"healthy@{DOMAIN}", now + 30 * DAY, max_jobs=8, executing=3),
        # Its PixVerse plan ends in 4 minutes: within plan_warning now, lapsed then.
        FakeAccount(
            f"soon@{DOMAIN}",
            now + 60 * HOUR,
            max_jobs=5,
            executing=1,
            plan=FakePlan(name="Standard - Monthly", expires_at=now + PLAN_ENDS_AFTER_SECONDS),
        ),
        # Short of credits: 40 left, below the demo's min_credits of 100.
        FakeAccount(
            f"urgent@{DOMAIN}",
            now + 6 * HOUR,
            max_jobs=3,
            executing=2,
            plan=FakePlan(credit_daily=10, credit_monthly=30, credit_package=0),
        ),
        # Crosses from warning into critical about 90 s after the demo starts.
        FakeAccount(f"crossing@{DOMAIN}", now + 24 * HOUR + 90, max_jobs=4),
        FakeAccount(f"lapsed@{DOMAIN}", now - 3 * HOUR, max_jobs=5),
        FakeAccount(f"mystery@{DOMAIN}", None, max_jobs=2, plan=None),  # no plan known either
        # Expires 2 minutes in, then gets renewed for 30 days at 3 minutes. maxJobs 6 is
        # above what its plan runs at once (4).
        FakeAccount(
            f"renewing@{DOMAIN}",
            now + 120,
            max_jobs=6,
            executing=1,
            plan=FakePlan(gen_simultaneously=4),
        ),
    ]


def demo_config(base_url: str, host: str, port: int, state_dir: Path, receiver_url: str) -> Config:
    return Config(
        sources=(
            SourceConfig(
                name="demo",
                base_url=base_url,
                token=Secret(DEMO_TOKEN),
                token_origin="the built-in demo",  # noqa: S106
                token_file=None,
                token_env=None,
                capacity_endpoint=True,
            ),
        ),
        poll=PollConfig(
            interval=timedelta(seconds=15),
            timeout=timedelta(seconds=5),
            jitter=timedelta(0),
            stale_after=timedelta(minutes=1),
            max_response_bytes=DEFAULT_MAX_RESPONSE_BYTES,
            # The fake has no rate limit: read the subscription and plans every minute.
            account_interval=timedelta(minutes=1),
            features_interval=timedelta(minutes=1),
        ),
        thresholds=Thresholds(
            timedelta(hours=72),
            timedelta(hours=24),
            min_usable_capacity=22,
            plan_warning=timedelta(days=7),
            min_credits=100,
        ),
        metrics=MetricsConfig(host, port, AccountLabel.EMAIL, None),
        alerts=AlertsConfig(timedelta(hours=4), state_dir),
        sinks=(
            SinkConfig(
                name="demo-receiver",
                type=SinkType.WEBHOOK,
                url=Secret(receiver_url),
                url_display=redact_url(receiver_url),
                url_file=None,
                secret=Secret(DEMO_SECRET),
                secret_file=None,
                min_severity=Severity.WARNING,
                send_resolved=True,
                timeout=timedelta(seconds=5),
            ),
        ),
        # Policy: the studio's accounts carry a team label on their alerts and metrics.
        accounts=(AccountRule(f"urgent@{DOMAIN}", labels=(("team", "studio"),)),),
    )


def print_notification(received: Received) -> None:
    """The built-in receiver's output: one line per notification, signature checked."""
    body = received.json()
    signed = verify_signature(
        DEMO_SECRET,
        received.headers.get(SIGNATURE_HEADER.lower(), ""),
        received.body,
        time.time(),
    )
    for alert in body.get("alerts", []):
        labels = alert["labels"]
        where = labels["source"] + (f"/{labels['account']}" if "account" in labels else "")
        policy = [f"{k}={v}" for k, v in labels.items() if k not in _OWN_LABELS]
        if policy:
            where += " {" + ",".join(policy) + "}"
        print(
            f"receiver <- {alert['status'].upper():8} [{labels['severity']}] "
            f"{labels['alertname']} {where}: {alert['annotations']['summary']} "
            f"(id {received.headers.get('idempotency-key', '?')[:8]}, "
            f"signature {'ok' if signed else 'BAD'})",
            file=sys.stderr,
            flush=True,
        )


async def _liven(fake: FakeUpstream, started: float) -> None:
    """Jobs come and go; the `renewing` account gets a fresh token a few minutes in."""
    rng = random.Random(7)  # noqa: S311 - demo liveliness, not crypto
    renewed = False
    while True:
        await asyncio.sleep(5)
        for account in fake.accounts():
            limit = account.max_jobs if isinstance(account.max_jobs, int) else 0
            step = rng.choice((-1, 0, 1))
            fake.update(account.email, executing=min(limit, max(0, account.executing + step)))
        if not renewed and time.time() - started >= RENEW_AFTER_SECONDS:
            fake.update(f"renewing@{DOMAIN}", expires_at=time.time() + 30 * DAY)
            renewed = True


async def run_demo(host: str, port: int) -> int:
    started = time.time()
    with (
        FakeUpstream(token=DEMO_TOKEN, accounts=demo_accounts(started)) as fake,
        WebhookReceiver(on_receive=print_notification) as receiver,
        tempfile.TemporaryDirectory(prefix="pixverse-monitor-demo-") as state_dir,
    ):
        config = demo_config(fake.base_url, host, port, Path(state_dir), receiver.url + "/hook")
        daemon = Daemon(config)
        runner = asyncio.create_task(daemon.run())
        started_wait = asyncio.create_task(daemon.started.wait())
        await asyncio.wait({runner, started_wait}, return_when=asyncio.FIRST_COMPLETED)
        if runner.done():
            started_wait.cancel()
            return runner.result()
        shown = host or "127.0.0.1"
        print(
            f"\npixverse-monitor demo\n"
            f"  fake useapi.net API : {fake.base_url}\n"
            f"  webhook receiver    : {receiver.url}/hook (prints what it gets below)\n"
            f"  status page         : http://{shown}:{daemon.metrics_port}/\n"
            f"  metrics             : http://{shown}:{daemon.metrics_port}/metrics\n"
            f"  health              : http://{shown}:{daemon.metrics_port}/readyz\n"
            f"  try                 : curl -s http://{shown}:{daemon.metrics_port}/metrics "
            f"| grep {ACCOUNT_STATE.name}\n"
            f"Accounts: healthy, soon (warning; its plan ends at ~4 min), urgent (critical; "
            f"low on credits; team=studio), crossing (turns critical in ~90 s), lapsed "
            f"(expired), mystery (no expiry, no plan), renewing (expires at ~2 min, renewed at "
            f"~3 min; maxJobs above its plan). The useapi.net subscription is active.\n"
            f"Ctrl-C to stop.\n",
            file=sys.stderr,
            flush=True,
        )
        liven = asyncio.create_task(_liven(fake, started))
        try:
            return await runner
        finally:
            liven.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await liven


def demo_command(listen: str) -> int:
    try:
        host, port = parse_listen("--listen", listen)
    except ConfigError as exc:
        print(f"pixverse-monitor: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return asyncio.run(run_demo(host, port))
