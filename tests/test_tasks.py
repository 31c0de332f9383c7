"""monitor.tasks: waiting for a wake-up in a task that may be stopped at any moment."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from monitor.tasks import wait_event

MONITOR = Path(__file__).resolve().parents[1] / "monitor"


@pytest.mark.anyio
async def test_a_stop_landing_with_the_wake_up_is_not_swallowed() -> None:
    """The loop shape of the sink workers, the state saver and the plan schedules. With
    asyncio.wait_for on Python 3.11 the cancel is lost when the event is set in the same loop
    pass: the task waits again and a stop hangs (seen in 3 of 3 runs before the fix)."""
    event = asyncio.Event()

    async def worker() -> None:
        while True:
            await wait_event(event, 60)
            event.clear()

    task = asyncio.create_task(worker())
    await asyncio.sleep(0)  # now waiting
    event.set()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(2):
            await task


@pytest.mark.anyio
async def test_wait_event_returns_on_the_event_or_the_limit() -> None:
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await wait_event(event, 0.05)
    assert not event.is_set() and loop.time() - started >= 0.05
    loop.call_soon(event.set)
    await wait_event(event, None)
    assert event.is_set()


def test_no_module_waits_with_asyncio_wait_for() -> None:
    """wait_event is the one way the daemon waits with a limit (see its docstring)."""
    users = [
        str(path.relative_to(MONITOR))
        for path in MONITOR.rglob("*.py")
        if re.search(r"\bwait_for\(", path.read_text())
    ]
    assert users == []
