"""`notify-test`: one test notification to each sink, one attempt each, no outbox."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from monitor.alerts import Sender, SendResult, new_notification, notify_test_event
from monitor.clock import Clock, SystemClock
from monitor.commands.exits import EXIT_CONFIG, config_error, load
from monitor.config import SinkConfig
from monitor.errors import ConfigError


async def send_test_notifications(
    sinks: Sequence[SinkConfig], clock: Clock, external_url: str
) -> list[tuple[SinkConfig, SendResult]]:
    """`notify-test`: one attempt per sink, concurrently, no outbox."""
    sender = Sender(clock, external_url)
    try:
        now = clock.time()
        event = notify_test_event(now)
        results = await asyncio.gather(
            *(
                sender.send_once(sink, new_notification(sink.name, (event,), now, held=False))
                for sink in sinks
            )
        )
    finally:
        await sender.aclose()
    return list(zip(sinks, results, strict=True))


def notify_test_command(config_path: Path | None, sink_name: str | None) -> int:
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
    external = f"http://{socket.getfqdn()}:{config.metrics.port}"
    results = asyncio.run(send_test_notifications(sinks, SystemClock(), external))
    for sink, result in results:
        where = f"{sink.name} ({sink.type.value} {sink.url_display})"
        if result.ok:
            print(f"{where}: delivered (HTTP {result.status})")
        else:
            print(f"{where}: FAILED: {result.error}")
    return 0 if all(result.ok for _, result in results) else 1
