"""What `check` prints: the monitoring-plugin status line with perfdata, then a table, or
JSON. Pure: takes results and `now`.

The first line follows the Monitoring Plugins Development Guidelines:
`PIXVERSE <STATUS> - <what is worst> | 'label'=value[UOM];[warn];[crit];[min];[max] ...`.
Text from upstream and the config reaches every part of it: it is printed without control
characters and without `|`, so that it can neither add a line nor move the perfdata."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from monitor.alerts import Alert
from monitor.commands.check_perfdata import TtlRange, perfdata, ttl_ranges
from monitor.commands.check_plan_report import (
    account_cells,
    account_plan,
    plan_alerts,
    subscription_json,
    subscription_line,
    unmatched_rules,
)
from monitor.commands.printable import json_text, plain
from monitor.config import Config, Policy, Severity
from monitor.evaluate import AccountState, AccountStatus, Evaluation, evaluate
from monitor.exposition import account_fields
from monitor.service import PlanRound
from monitor.timefmt import format_ttl, readable_utc
from monitor.upstream import PollResult


class PluginStatus(IntEnum):
    """Nagios plugin exit codes."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


_SEVERITY_STATUS = {
    Severity.WARNING: PluginStatus.WARNING,
    Severity.CRITICAL: PluginStatus.CRITICAL,
}
# Worst first: a critical hides a warning, a warning hides an unknown.
_PRECEDENCE = (PluginStatus.CRITICAL, PluginStatus.WARNING, PluginStatus.UNKNOWN, PluginStatus.OK)
_STATE_STATUS = {
    AccountState.OK: PluginStatus.OK,
    AccountState.WARNING: PluginStatus.WARNING,
    AccountState.CRITICAL: PluginStatus.CRITICAL,
    AccountState.EXPIRED: PluginStatus.CRITICAL,
    AccountState.UNKNOWN: PluginStatus.UNKNOWN,
}


@dataclass(frozen=True, slots=True)
class SourceReport:
    result: PollResult
    evaluation: Evaluation | None  # None when the poll failed
    capacity_low: bool
    plan_round: PlanRound = field(default_factory=PlanRound)  # subscription and plans
    plan_alerts: tuple[Alert, ...] = ()  # what the daemon's subscription and plan alerts say now


@dataclass(frozen=True, slots=True)
class CheckReport:
    sources: tuple[SourceReport, ...]
    status: PluginStatus
    warning_seconds: float = 0.0  # thresholds.warning, for the TTL perfdata
    critical_seconds: float = 0.0
    min_usable_capacity: int = 0
    # [[accounts]] rules with thresholds of their own: a TTL perfdata item each.
    ttl_rules: tuple[TtlRange, ...] = ()
    # [[accounts]] globs that fit none of the accounts read: likely typos; not a status.
    warnings: tuple[str, ...] = ()


def build_report(
    results: list[PollResult],
    config: Config,
    now_unix: float,
    plan_rounds: list[PlanRound] | None = None,
) -> CheckReport:
    """The verdict on every source. With `plan_rounds` (the subscription and plans), the
    subscription and plan alerts count as the daemon's do: a warning or a critical each."""
    reports = []
    statuses = {PluginStatus.OK}
    minimum = config.thresholds.min_usable_capacity
    policy = Policy(config.accounts, config.thresholds)
    for index, result in enumerate(results):
        answers = plan_rounds[index] if plan_rounds is not None else PlanRound()
        if result.accounts is None:
            alerts = tuple(plan_alerts(result.source, None, answers, now_unix))
            reports.append(SourceReport(result, None, False, answers, alerts))
            statuses.add(PluginStatus.CRITICAL)
            continue
        capacity = result.capacity.by_email if result.capacity is not None else None
        evaluation = evaluate(
            result.accounts.accounts,
            capacity,
            config.thresholds,
            config.metrics.account_label,
            now_unix,
            policy=policy,
        )
        low = evaluation.totals.usable_capacity < minimum
        if low:
            statuses.add(PluginStatus.WARNING)
        statuses.update(_STATE_STATUS[s.state] for s in evaluation.accounts)
        alerts = tuple(plan_alerts(result.source, evaluation, answers, now_unix))
        statuses.update(_SEVERITY_STATUS[a.severity] for a in alerts)
        reports.append(SourceReport(result, evaluation, low, answers, alerts))
    status = next(s for s in _PRECEDENCE if s in statuses)
    return CheckReport(
        tuple(reports),
        status,
        warning_seconds=config.thresholds.warning.total_seconds(),
        critical_seconds=config.thresholds.critical.total_seconds(),
        min_usable_capacity=minimum,
        ttl_rules=ttl_ranges(policy),
        warnings=tuple(unmatched_rules(policy, results)),
    )


def _sorted(evaluation: Evaluation) -> list[AccountStatus]:
    far = float("inf")
    return sorted(
        evaluation.accounts,
        key=lambda s: s.account.expiry_unix if s.account.expiry_unix is not None else far,
    )


def render_json(report: CheckReport) -> str:
    sources: list[dict[str, Any]] = []
    for source in report.sources:
        accounts: list[dict[str, Any]] = []
        if source.evaluation is not None:
            at = source.evaluation.at_unix
            accounts = [
                account_fields(s, at, *account_plan(source.plan_round, s))
                for s in _sorted(source.evaluation)
            ]
        sources.append(
            {
                "name": source.result.source,
                "outcome": source.result.outcome.value,
                "error": source.result.error,
                "subscription": subscription_json(source.plan_round),
                "alerts": [
                    {
                        "alertname": a.name.value,
                        "severity": a.severity.value,
                        "account": a.account or None,
                        "summary": a.summary,
                    }
                    for a in source.plan_alerts
                ],
                "accounts": accounts,
            }
        )
    document = {
        "status": report.status.name.lower(),
        "exit_code": int(report.status),
        "sources": sources,
        "warnings": list(report.warnings),
    }
    return json_text(document)


def render_table(report: CheckReport) -> str:
    lines = [plugin_line(report)]
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
        subscription = subscription_line(source.plan_round)
        if subscription is not None:
            lines.append(subscription)
        rows = [
            (
                "ACCOUNT",
                "STATE",
                "EXPIRES AT (UTC)",
                "TTL",
                "MAX JOBS",
                "EXEC/AVAIL",
                "PLAN",
                "PLAN ENDS (UTC)",
                "CREDITS",
            )
        ]
        at = source.evaluation.at_unix
        for s in _sorted(source.evaluation):
            expiry = s.account.expiry_unix
            rows.append(
                (
                    s.label,
                    s.state.value,
                    readable_utc(expiry, seconds=True, zone=False) if expiry is not None else "-",
                    format_ttl(expiry - at) if expiry is not None else "-",
                    str(s.account.max_jobs),
                    f"{s.executing}/{s.available}" if s.executing is not None else "-",
                    *account_cells(source.plan_round, s),
                )
            )
        shown = [[plain(cell) for cell in row] for row in rows]
        widths = [max(len(row[i]) for row in shown) for i in range(len(shown[0]))]
        lines.extend(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in shown
        )
    if report.warnings:
        lines.append("")
        lines.extend(f"warning: {text}" for text in report.warnings)
    # The status line is made of parts already plain; its `|` is the one that counts.
    return "\n".join([lines[0], *(plain(line) for line in lines[1:])])


# How many of the accounts behind the status the first line names before "and N more".
_NAMED = 3


def plugin_line(report: CheckReport) -> str:
    """`PIXVERSE <STATUS> - <summary naming the worst accounts> | <perfdata>`."""
    perf = perfdata(
        ((s.result.source, s.evaluation) for s in report.sources),
        warning_seconds=report.warning_seconds,
        critical_seconds=report.critical_seconds,
        min_usable_capacity=report.min_usable_capacity,
        rules=report.ttl_rules,
    )
    return f"PIXVERSE {report.status.name} - {plain(summary(report))} | {perf}"


def unknown_line(problem: str) -> str:
    """The one line of a check that could not run: a config or usage error, the timeout."""
    return f"PIXVERSE UNKNOWN - {plain(' '.join(problem.split()))}"


def summary(report: CheckReport) -> str:
    """What makes the status what it is, worst first, then the counts of every state."""
    counts = dict.fromkeys(AccountState, 0)
    # (status it causes, text) for every source failure, capacity shortfall and account not
    # ok; a source that cannot be read hides all its accounts, so failures come first.
    failures: list[tuple[PluginStatus, str]] = []
    causes: list[tuple[PluginStatus, str]] = []
    soonest: AccountStatus | None = None
    for source in report.sources:
        result = source.result
        if source.evaluation is None:
            failures.append(
                (PluginStatus.CRITICAL, f"source {result.source}: {result.outcome.value}")
            )
            continue
        at = source.evaluation.at_unix
        for state, n in source.evaluation.totals.accounts_by_state.items():
            counts[state] += n
        if source.capacity_low:
            usable = source.evaluation.totals.usable_capacity
            causes.append(
                (
                    PluginStatus.WARNING,
                    f"source {result.source}: usable capacity {usable} < "
                    f"{report.min_usable_capacity}",
                )
            )
        for s in _sorted(source.evaluation):
            if s.state is not AccountState.OK:
                causes.append((_STATE_STATUS[s.state], _account_cause(s, at)))
            elif soonest is None or _expiry(s) < _expiry(soonest):
                soonest = s
        causes.extend((_SEVERITY_STATUS[a.severity], a.summary) for a in source.plan_alerts)
    total = sum(counts.values())
    states = ", ".join(f"{counts[s]} {s.value}" for s in AccountState)
    tally = f"{total} accounts: {states}"
    worst = [text for status, text in failures + causes if status is report.status]
    if not worst:
        if soonest is not None and soonest.account.expiry_unix is not None:
            at = next(s.evaluation.at_unix for s in report.sources if s.evaluation is not None)
            return f"{tally}; soonest {soonest.label} {_expires(soonest, at)}"
        return tally
    named = ", ".join(worst[:_NAMED])
    if len(worst) > _NAMED:
        named += f" and {len(worst) - _NAMED} more"
    return f"{named}; {tally}"


def _expiry(status: AccountStatus) -> float:
    expiry = status.account.expiry_unix
    return expiry if expiry is not None else float("inf")


def _expires(status: AccountStatus, at: float) -> str:
    expiry = status.account.expiry_unix
    if expiry is None:
        return "expiry unknown"
    ttl = expiry - at
    return f"expires in {format_ttl(ttl)}" if ttl > 0 else f"expired {format_ttl(-ttl)} ago"


def _account_cause(status: AccountStatus, at: float) -> str:
    return f"{status.label} {_expires(status, at)}"
