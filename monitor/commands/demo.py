"""`pixverse-monitor demo`: the daemon against the built-in fake upstream, no token, no network."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import sys
import tempfile
import time
from pathlib import Path

from monitor.alerts import SIGNATURE_HEADER, verify_signature
from monitor.commands.exits import EXIT_CONFIG
from monitor.config import load_config, parse_listen, toml_string
from monitor.errors import ConfigError
from monitor.exposition import ACCOUNT_STATE
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


def write_demo_config(directory: Path, base_url: str, listen: str, receiver_url: str) -> Path:
    """Write the demo's config file in `directory` (its state directory too), with the fake's
    token and the receiver's signing key in files beside it, as a deployment keeps them; the
    demo loads it as the daemon loads any, and `config check` takes it."""
    token = directory / "useapi-token"
    token.write_text(DEMO_TOKEN + "\n")
    secret = directory / "webhook-secret"
    secret.write_text(DEMO_SECRET + "\n")
    path = directory / "config.toml"
    path.write_text(
        f"""# pixverse-monitor demo: the daemon against the built-in fake useapi.net.

[[sources]]
name = "demo"
base_url = {toml_string(base_url)}
token_file = {toml_string(str(token))}

[poll]
interval = "15s"
timeout = "5s"
jitter = "0s"
stale_after = "1m"
# The fake has no rate limit: read the subscription and plans every minute.
account_interval = "1m"
features_interval = "1m"

[thresholds]
warning = "72h"
critical = "24h"
min_usable_capacity = 22
plan_warning = "7d"
min_credits = 100

[metrics]
listen = {toml_string(listen)}

[alerts]
repeat_interval = "4h"
state_dir = {toml_string(str(directory))}

[[sinks]]
name = "demo-receiver"
type = "webhook"
url = {toml_string(receiver_url)}
secret_file = {toml_string(str(secret))}
min_severity = "warning"
send_resolved = true
timeout = "5s"

# Policy: the studio's accounts carry a team label on their alerts and metrics.
[[accounts]]
match = {toml_string(f"urgent@{DEMO_DOMAIN}")}
labels = {{ team = "studio" }}
""",
        encoding="utf-8",
    )
    return path


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


async def run_demo(listen: str) -> int:
    """`listen`: where the endpoints listen, as `[metrics] listen` takes it."""
    started = time.time()
    with (
        scenario_upstream("demo", DEMO_TOKEN, started) as fake,
        WebhookReceiver(on_receive=print_notification) as receiver,
        tempfile.TemporaryDirectory(prefix="pixverse-monitor-demo-") as state_dir,
    ):
        path = write_demo_config(Path(state_dir), fake.base_url, listen, receiver.url + "/hook")
        config = load_config(path)
        daemon = Daemon(config)
        runner = asyncio.create_task(daemon.run())
        started_wait = asyncio.create_task(daemon.started.wait())
        await asyncio.wait({runner, started_wait}, return_when=asyncio.FIRST_COMPLETED)
        if runner.done():
            started_wait.cancel()
            return runner.result()
        shown = config.metrics.host or "127.0.0.1"
        print(
            f"\npixverse-monitor demo\n"
            f"  config              : {path} (pixverse-monitor config check {path})\n"
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
        return asyncio.run(run_demo(listen))
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
