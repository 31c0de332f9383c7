"""One poll of one source: fetch both endpoints, parse, and say how it went."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

from monitor.errors import Outcome, UpstreamError
from monitor.upstream.client import UpstreamClient
from monitor.upstream.parse import (
    AccountMemo,
    ParsedAccounts,
    ParsedCapacity,
    parse_accounts,
    parse_capacity,
)


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one poll read. `accounts` is None when the poll failed."""

    source: str
    outcome: Outcome
    accounts: ParsedAccounts | None
    capacity: ParsedCapacity | None  # None when off, failed or invalid
    error: str | None  # why the poll failed or was degraded; never a secret
    finished_unix: float
    duration_seconds: float
    # How the /scheduler/available request ended; None when it was not made or was cut short.
    capacity_outcome: Outcome | None = None


async def poll_source(
    name: str,
    client: UpstreamClient,
    *,
    capacity_endpoint: bool,
    started_unix: float,
    deadline_unix: float,
    memo: AccountMemo | None = None,
) -> PollResult:
    """Read accounts and (concurrently) live capacity; never raises UpstreamError.
    `memo` is the source's AccountMemo, carried from poll to poll."""
    began = time.perf_counter()

    def result(
        outcome: Outcome,
        accounts: ParsedAccounts | None,
        capacity: ParsedCapacity | None,
        error: str | None,
        capacity_outcome: Outcome | None = None,
    ) -> PollResult:
        duration = time.perf_counter() - began
        return PollResult(
            name,
            outcome,
            accounts,
            capacity,
            error,
            started_unix + duration,
            duration,
            capacity_outcome,
        )

    capacity_task = (
        asyncio.create_task(client.capacity(deadline_unix)) if capacity_endpoint else None
    )
    try:
        payload = await client.accounts(deadline_unix)
    except UpstreamError as exc:
        await _discard(capacity_task)
        return result(exc.reason, None, None, exc.detail)
    except BaseException:
        await _discard(capacity_task)
        raise
    accounts = parse_accounts(payload, memo)
    if accounts.error is not None:
        await _discard(capacity_task)
        return result(Outcome.INVALID_PAYLOAD, None, None, f"accounts: {accounts.error}")
    if capacity_task is None:
        return result(Outcome.SUCCESS, accounts, None, None)
    try:
        capacity = parse_capacity(await capacity_task)
    except UpstreamError as exc:
        return result(Outcome.CAPACITY_UNAVAILABLE, accounts, None, exc.detail, exc.reason)
    if capacity.error is not None:
        error = f"capacity: {capacity.error}"
        return result(Outcome.CAPACITY_UNAVAILABLE, accounts, None, error, Outcome.INVALID_PAYLOAD)
    return result(Outcome.SUCCESS, accounts, capacity, None, Outcome.SUCCESS)


async def _discard(task: asyncio.Task[object] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, UpstreamError):
        await task
