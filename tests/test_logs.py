"""Process-wide logging: asyncio's own logger cannot flood the log."""

from __future__ import annotations

import asyncio
import logging

import pytest

from monitor.logs import ASYNCIO_LINES_PER_MINUTE, RateLimit
from tests.helpers import LogCapture


def test_asyncio_lines_are_rate_limited(logs: LogCapture) -> None:
    asyncio_log = logging.getLogger("asyncio")
    for i in range(500):
        asyncio_log.error("Fatal error on transport %d", i)
    assert len([e for e in logs.events() if e.get("logger") == "asyncio"]) == (
        ASYNCIO_LINES_PER_MINUTE
    )


@pytest.mark.anyio
async def test_the_loops_exception_handler_goes_through_the_limit(logs: LogCapture) -> None:
    loop = asyncio.get_running_loop()
    for _ in range(100):
        loop.call_exception_handler({"message": "Unhandled exception in client_connected_cb"})
    assert len(logs.events()) <= ASYNCIO_LINES_PER_MINUTE


def test_what_was_held_back_is_counted_when_the_next_window_opens(logs: LogCapture) -> None:
    now = [1000.0]
    limit = RateLimit(per_minute=2, clock=lambda: now[0])
    logger = logging.getLogger("tests.ratelimited")
    logger.addFilter(limit)
    try:
        for _ in range(7):
            logger.warning("noisy")
        now[0] += 61
        logger.warning("noisy")
    finally:
        logger.removeFilter(limit)
    assert len(logs.events("noisy")) == 3
    (summary,) = logs.events("log.lines_suppressed")
    assert (summary["from_logger"], summary["count"]) == ("tests.ratelimited", 5)
