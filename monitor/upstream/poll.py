"""One poll of one source: fetch both endpoints, parse, and say how it went (and what upstream's
clock said)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

from monitor.clock import ClockCheck
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
    """What one poll read. `accounts` is None when the poll failed, and empty when upstream
    answered that it has no account (`no_accounts`)."""

    source: str
    outcome: Outcome
    accounts: ParsedAccounts | None
    capacity: ParsedCapacity | None  # None when off, failed or invalid
    error: str | None  # why the poll failed or was degraded; never a secret
    finished_unix: float
    duration_seconds: float
    # How the /scheduler/available request ended; None when it was not made or was cut short.
    capacity_outcome: Outcome | None = None
    # Upstream's clock, from the `Date` of its /accounts answer; None without one.
    clock: ClockCheck | None = None


async def poll_source(
    name: str,
    client: UpstreamClient,
    *,
    capacity_endpoint: bool,
    started_unix: float,
    deadline: float,
    memo: AccountMemo | None = None,
) -> PollResult:
    """Read accounts and (concurrently) live capacity; never raises UpstreamError.
    `deadline` is on the client clock's monotonic clock; `memo` is the source's AccountMemo,
    carried from poll to poll."""
    began = time.perf_counter()

    def result(
        outcome: Outcome,
        accounts: ParsedAccounts | None,
        capacity: ParsedCapacity | None,
        error: str | None,
        *,
        capacity_outcome: Outcome | None = None,
        clock: ClockCheck | None = None,
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
            clock,
        )

    capacity_task = asyncio.create_task(client.capacity(deadline)) if capacity_endpoint else None
    try:
        answer = await client.accounts(deadline)
    except UpstreamError as exc:
        await _discard(capacity_task)
        return result(exc.reason, None, None, exc.detail)
    except BaseException:
        await _discard(capacity_task)
        raise
    clock = answer.clock
    if answer.none_configured:
        await _discard(capacity_task)
        none = ParsedAccounts((), {})
        return result(
            Outcome.NO_ACCOUNTS,
            none,
            None,
            "accounts: HTTP 404, no account configured for the token",
            clock=clock,
        )
    accounts = parse_accounts(answer.payload, memo)
    if accounts.error is not None:
        await _discard(capacity_task)
        error = f"accounts: {accounts.error}"
        return result(Outcome.INVALID_PAYLOAD, None, None, error, clock=clock)
    if capacity_task is None:
        return result(Outcome.SUCCESS, accounts, None, None, clock=clock)
    try:
        capacity = parse_capacity(await capacity_task)
    except UpstreamError as exc:
        unavailable = Outcome.CAPACITY_UNAVAILABLE
        return result(
            unavailable, accounts, None, exc.detail, capacity_outcome=exc.reason, clock=clock
        )
    if capacity.error is not None:
        error = f"capacity: {capacity.error}"
        invalid = Outcome.INVALID_PAYLOAD
        return result(
            Outcome.CAPACITY_UNAVAILABLE,
            accounts,
            None,
            error,
            capacity_outcome=invalid,
            clock=clock,
        )
    success = Outcome.SUCCESS
    return result(success, accounts, capacity, None, capacity_outcome=success, clock=clock)


async def _discard(task: asyncio.Task[object] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, UpstreamError):
        await task
