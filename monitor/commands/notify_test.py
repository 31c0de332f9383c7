"""`notify-test`: a test alert to each sink, one attempt each, no outbox; or, with
`--dry-run`, the requests each sink would get, secrets masked, and nothing sent."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from monitor.alerts import (
    AlertEvent,
    Notification,
    Sender,
    SendResult,
    new_notification,
    notify_test_event,
)
from monitor.clock import Clock, SystemClock
from monitor.commands.exits import EXIT_CONFIG, config_error, load
from monitor.config import Severity, SinkConfig
from monitor.errors import ConfigError


async def send_test_notifications(
    sinks: Sequence[SinkConfig],
    clock: Clock,
    external_url: str,
    severity: Severity = Severity.WARNING,
) -> list[tuple[SinkConfig, SendResult]]:
    """One attempt per sink, concurrently, no outbox. The test alert goes to every sink
    asked for, whatever its `min_severity` and `matchers`: it is a test of the sink."""
    sender = Sender(clock, external_url)
    try:
        event = notify_test_event(clock.time(), severity)
        results = await asyncio.gather(
            *(sender.send_once(sink, _notification(sink, event)) for sink in sinks)
        )
    finally:
        await sender.aclose()
    return list(zip(sinks, results, strict=True))


async def describe_test_notifications(
    sinks: Sequence[SinkConfig],
    clock: Clock,
    external_url: str,
    severity: Severity = Severity.WARNING,
) -> list[tuple[SinkConfig, list[str]]]:
    """What `send_test_notifications` would send to each sink: each request as text, every
    secret masked (a URL's credential, a token, a password)."""
    sender = Sender(clock, external_url)
    try:
        event = notify_test_event(clock.time(), severity)
        described = []
        for sink in sinks:
            requests = sender.requests(sink, _notification(sink, event))
            described.append((sink, [sender.describe(sink, r) for r in requests]))
    finally:
        await sender.aclose()
    return described


def _notification(sink: SinkConfig, event: AlertEvent) -> Notification:
    return new_notification(sink.name, (event,), event.at_unix, held=False)


def notify_test_command(
    config_path: Path | None,
    sink_name: str | None,
    *,
    severity: str = "warning",
    dry_run: bool = False,
) -> int:
    try:
        # Sinks only: the useapi.net token is neither needed nor read.
        config = load(config_path, read_tokens=False)
    except ConfigError as exc:
        return config_error(exc)
    sinks = [s for s in config.sinks if sink_name in (None, s.name)]
    if sink_name and not sinks:
        known = ", ".join(s.name for s in config.sinks) or "none"
        print(
            f"pixverse-monitor: no sink named {sink_name!r} (configured: {known})", file=sys.stderr
        )
        return EXIT_CONFIG
    if not sinks:
        print("pixverse-monitor: no [[sinks]] configured: nothing to test", file=sys.stderr)
        return 1
    # Where the links in the messages point: [metrics] external_url, else this host.
    external = config.metrics.external_url or f"http://{socket.getfqdn()}:{config.metrics.port}"
    level = Severity(severity)
    if dry_run:
        described = asyncio.run(describe_test_notifications(sinks, SystemClock(), external, level))
        for sink, requests in described:
            print(f"== {_where(sink)}: would send {len(requests)} request(s), sends nothing")
            for text in requests:
                print(text)
                print()
        return 0
    results = asyncio.run(send_test_notifications(sinks, SystemClock(), external, level))
    for sink, result in results:
        if result.ok:
            status = "" if result.status is None else f" (HTTP {result.status})"
            print(f"{_where(sink)}: delivered{status}")
        else:
            print(f"{_where(sink)}: FAILED: {result.error}")
    return 0 if all(result.ok for _, result in results) else 1


def _where(sink: SinkConfig) -> str:
    return f"{sink.name} ({sink.type.value} {sink.url_display})"
