"""`pixverse-monitor demo`: the daemon against the built-in fake upstream, no token, no network."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
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
from monitor.testing import (
    DEMO_DOMAIN,
    DEMO_TOKEN,
    Received,
    WebhookReceiver,
    liven,
    scenario_upstream,
)

_OWN_LABELS = frozenset({"alertname", "severity", "source", "account"})
DEMO_SECRET = "demo-signing-key"  # noqa: S105 - the built-in receiver's, by design


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
        accounts=(AccountRule(f"urgent@{DEMO_DOMAIN}", labels=(("team", "studio"),)),),
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


async def run_demo(host: str, port: int) -> int:
    started = time.time()
    with (
        scenario_upstream("demo", DEMO_TOKEN, started) as fake,
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
            f"  fake useapi.net API : {fake.base_url} (token {fake.token}; on its own: "
            f"pixverse-monitor fake-upstream)\n"
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
        life = asyncio.create_task(liven(fake, started))
        try:
            return await runner
        finally:
            life.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await life


def demo_command(listen: str) -> int:
    """Exit 0 on Ctrl-C; 2, with one line, when it cannot start (a bad or busy --listen)."""
    try:
        host, port = parse_listen("--listen", listen)
        taken = _address_taken(host, port)
        if taken is not None:
            # Someone at a terminal, not a restart racing the old process: no use waiting.
            raise ConfigError("--listen", f"cannot listen on {listen}: {taken}")
        return asyncio.run(run_demo(host, port))
    except ConfigError as exc:
        print(f"pixverse-monitor: demo: {exc}", file=sys.stderr)
        return EXIT_CONFIG


def _address_taken(host: str, port: int) -> str | None:
    """Why nothing can listen on host:port now ("address already in use", ...), or None."""
    if port == 0:
        return None
    try:
        found = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        return exc.strerror or str(exc)
    for family, kind, proto, _, address in found:
        with socket.socket(family, kind, proto) as probe:
            # As the server binds: a port in TIME_WAIT is free, one with a listener is not.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return "address already in use"
                return exc.strerror or str(exc)
    return None
