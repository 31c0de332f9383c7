"""What `check` prints: the Nagios status, a table or JSON. Pure: takes results and `now`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import orjson

from monitor.config import Config
from monitor.evaluate import AccountState, AccountStatus, Evaluation, evaluate
from monitor.timefmt import format_ttl, iso_utc
from monitor.upstream import PollResult


class Status(IntEnum):
    """Nagios plugin exit codes."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


# Worst first: a critical hides a warning, a warning hides an unknown.
_PRECEDENCE = (Status.CRITICAL, Status.WARNING, Status.UNKNOWN, Status.OK)
_STATE_STATUS = {
    AccountState.OK: Status.OK,
    AccountState.WARNING: Status.WARNING,
    AccountState.CRITICAL: Status.CRITICAL,
    AccountState.EXPIRED: Status.CRITICAL,
    AccountState.UNKNOWN: Status.UNKNOWN,
}


@dataclass(frozen=True, slots=True)
class SourceReport:
    result: PollResult
    evaluation: Evaluation | None  # None when the poll failed
    capacity_low: bool


@dataclass(frozen=True, slots=True)
class CheckReport:
    sources: tuple[SourceReport, ...]
    status: Status


def build_report(results: list[PollResult], config: Config, now_unix: float) -> CheckReport:
    reports = []
    statuses = {Status.OK}
    minimum = config.thresholds.min_usable_capacity
    for result in results:
        if result.accounts is None:
            reports.append(SourceReport(result, None, capacity_low=False))
            statuses.add(Status.CRITICAL)
            continue
        capacity = result.capacity.by_email if result.capacity is not None else None
        evaluation = evaluate(
            result.accounts.accounts,
            capacity,
            config.thresholds,
            config.metrics.account_label,
            now_unix,
        )
        low = evaluation.totals.usable_capacity < minimum
        if low:
            statuses.add(Status.WARNING)
        statuses.update(_STATE_STATUS[s.state] for s in evaluation.accounts)
        reports.append(SourceReport(result, evaluation, capacity_low=low))
    status = next(s for s in _PRECEDENCE if s in statuses)
    return CheckReport(tuple(reports), status)


def _sorted(evaluation: Evaluation) -> list[AccountStatus]:
    far = float("inf")
    return sorted(
        evaluation.accounts,
        key=lambda s: s.account.expiry_unix if s.account.expiry_unix is not None else far,
    )


def render_json(report: CheckReport) -> str:
    sources: list[dict[str, Any]] = []
    for source in report.sources:
        accounts = []
        if source.evaluation is not None:
            at = source.evaluation.at_unix
            for s in _sorted(source.evaluation):
                expiry = s.account.expiry_unix
                accounts.append(
                    {
                        "account": s.label,
                        "state": s.state.value,
                        "expires_at": iso_utc(expiry) if expiry is not None else None,
                        "ttl_seconds": round(expiry - at, 3) if expiry is not None else None,
                        "max_jobs": s.account.max_jobs,
                        "executing": s.executing,
                        "available": s.available,
                    }
                )
        sources.append(
            {
                "name": source.result.source,
                "outcome": source.result.outcome.value,
                "error": source.result.error,
                "accounts": accounts,
            }
        )
    document = {
        "status": report.status.name.lower(),
        "exit_code": int(report.status),
        "sources": sources,
    }
    return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()


def render_table(report: CheckReport) -> str:
    lines = [_summary(report)]
    for source in report.sources:
        result = source.result
        lines.append("")
        if source.evaluation is None:
            lines.append(f"source {result.source}: {result.outcome.value}: {result.error}")
            continue
        totals = source.evaluation.totals
        head = (
            f"source {result.source}: {result.outcome.value}, "
            f"{len(source.evaluation.accounts)} accounts, "
            f"usable capacity {totals.usable_capacity} jobs"
        )
        if totals.free_capacity is not None:
            head += f", {totals.free_capacity} free"
        if source.capacity_low:
            head += " (below thresholds.min_usable_capacity)"
        if result.error:
            head += f" [{result.error}]"
        lines.append(head)
        rows = [("ACCOUNT", "STATE", "EXPIRES AT (UTC)", "TTL", "MAX JOBS", "EXEC/AVAIL")]
        at = source.evaluation.at_unix
        for s in _sorted(source.evaluation):
            expiry = s.account.expiry_unix
            rows.append(
                (
                    s.label,
                    s.state.value,
                    iso_utc(expiry).replace("T", " ").removesuffix("Z") if expiry else "-",
                    format_ttl(expiry - at) if expiry is not None else "-",
                    str(s.account.max_jobs),
                    f"{s.executing}/{s.available}" if s.executing is not None else "-",
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines.extend(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in rows
        )
    return "\n".join(lines)


def _summary(report: CheckReport) -> str:
    counts = dict.fromkeys(AccountState, 0)
    failed = 0
    for source in report.sources:
        if source.evaluation is None:
            failed += 1
            continue
        for state, n in source.evaluation.totals.accounts_by_state.items():
            counts[state] += n
    total = sum(counts.values())
    parts = [f"{counts[s]} {s.value}" for s in AccountState if s is not AccountState.OK]
    text = f"PIXVERSE {report.status.name} - {total} accounts: {counts[AccountState.OK]} ok, "
    text += ", ".join(parts)
    if failed:
        text += f"; {failed} source(s) could not be read"
    return text
