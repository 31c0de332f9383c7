"""`check`: one poll of every source, concurrently, printed as a table or JSON with Nagios exit
statuses."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx

from monitor.clock import Clock, SystemClock
from monitor.commands.check_output import build_report, render_json, render_table
from monitor.commands.exits import config_error, load
from monitor.config import Config
from monitor.errors import ConfigError
from monitor.upstream import PollResult, UpstreamClient, poll_source


async def poll_all(
    config: Config, clock: Clock, transport: httpx.AsyncBaseTransport | None = None
) -> list[PollResult]:
    async def one(index: int) -> PollResult:
        source = config.sources[index]
        client = UpstreamClient(
            source,
            timeout=config.poll.timeout,
            max_response_bytes=config.poll.max_response_bytes,
            clock=clock,
            transport=transport,
        )
        try:
            started = clock.time()
            return await poll_source(
                source.name,
                client,
                capacity_endpoint=source.capacity_endpoint,
                started_unix=started,
                # A one-shot check has no next poll; allow retries within a few timeouts.
                deadline_unix=started + 4 * config.poll.timeout.total_seconds(),
            )
        finally:
            await client.aclose()

    return list(await asyncio.gather(*(one(i) for i in range(len(config.sources)))))


def check_command(config_path: Path | None, *, as_json: bool) -> int:
    try:
        config = load(config_path)
    except ConfigError as exc:
        return config_error(exc)
    clock = SystemClock()
    results = asyncio.run(poll_all(config, clock))
    report = build_report(results, config, clock.time())
    sys.stdout.write((render_json(report) if as_json else render_table(report)) + "\n")
    return int(report.status)
