"""The log lines of a poll: one `poll.completed` or `poll.failed`, then what deserves a
warning (invalid values, expiry mismatches, the latter once per account and value)."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog

from monitor.evaluate import Evaluation
from monitor.poll import PollResult

log = structlog.get_logger("monitor.daemon")

MismatchKey = tuple[str, tuple[float, ...]]


def log_poll(
    name: str,
    result: PollResult,
    evaluation: Evaluation | None,
    last_success_unix: float | None,
    mismatches_logged: set[MismatchKey],
) -> set[MismatchKey]:
    """Log one poll; returns the expiry mismatches now known (to pass to the next call)."""
    if result.accounts is None or evaluation is None:
        log.warning(
            "poll.failed",
            source=name,
            outcome=result.outcome.value,
            error=result.error,
            duration_seconds=round(result.duration_seconds, 3),
            last_success_unix=last_success_unix,
        )
        return mismatches_logged
    states = {s.value: n for s, n in evaluation.totals.accounts_by_state.items()}
    log.info(
        "poll.completed",
        source=name,
        outcome=result.outcome.value,
        accounts=len(evaluation.accounts),
        states=states,
        usable_capacity=evaluation.totals.usable_capacity,
        duration_seconds=round(result.duration_seconds, 3),
        capacity_error=result.error,
    )
    invalid = dict(result.accounts.invalid)
    if result.capacity is not None and result.capacity.invalid:
        invalid["capacity_row"] = result.capacity.invalid
    if invalid:
        log.warning("poll.invalid_values", source=name, counts=invalid)
    return _log_mismatches(name, evaluation, mismatches_logged)


def _log_mismatches(
    name: str, evaluation: Evaluation, logged: set[MismatchKey]
) -> set[MismatchKey]:
    seen: set[MismatchKey] = set()
    for status in evaluation.accounts:
        account = status.account
        if not account.mismatch:
            continue
        key = (account.email, tuple(unix for _, unix in account.mismatch))
        seen.add(key)
        if key in logged:
            continue
        log.warning(
            "expiry_mismatch",
            source=name,
            account=status.label,
            used=account.expiry_source.value,
            values={
                origin.value: datetime.fromtimestamp(unix, UTC).isoformat()
                for origin, unix in account.mismatch
            },
        )
    # Accounts gone or fixed are forgotten, so the set stays as small as the list.
    return seen
