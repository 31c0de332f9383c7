"""The `check` command's I/O: one poll of every source, concurrently."""

from __future__ import annotations

import asyncio

import httpx

from monitor.clock import Clock
from monitor.config import Config
from monitor.poll import PollResult, poll_source
from monitor.upstream import UpstreamClient


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
