"""`check`: one poll of every source, concurrently, printed as a monitoring-plugin status line
with perfdata and a table (or JSON), with Nagios exit statuses; `--timeout` bounds the run,
counted from the start of the process."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from monitor.clock import Clock, SystemClock
from monitor.commands.check_output import (
    PluginStatus,
    build_report,
    render_json,
    render_table,
    unknown_line,
)
from monitor.commands.defaults import DEFAULT_CHECK_TIMEOUT_SECONDS
from monitor.commands.exits import load, log_config_error, write_stdout
from monitor.commands.printable import json_text
from monitor.commands.started import process_started_monotonic
from monitor.config import Config
from monitor.errors import CheckTimeout, ConfigError
from monitor.service import PlanRound, read_plan_rounds
from monitor.upstream import PollResult, UpstreamClient, poll_source

PRINT_SECONDS = 0.2


async def poll_all(
    config: Config,
    clock: Clock,
    transport: httpx.AsyncBaseTransport | None = None,
    *,
    timeout_seconds: float | None = None,
) -> list[PollResult]:
    """One poll of every source, concurrently; CheckTimeout if any is still running after
    `timeout_seconds`. A 408, 429, 5xx or a timeout is retried once within that time (the
    client's one-shot rule); without it, within four `poll.timeout`s."""
    budget = (
        timeout_seconds if timeout_seconds is not None else 4 * config.poll.timeout.total_seconds()
    )

    async def one(index: int) -> PollResult:
        source = config.sources[index]
        client = UpstreamClient.of(source, config.poll, clock, transport, one_shot=True)
        try:
            started = clock.monotonic()
            deadline = started + budget
            return await poll_source(
                source.name,
                client,
                capacity_endpoint=source.capacity_endpoint,
                started_unix=clock.time(),
                deadline=deadline,
            )
        finally:
            await client.aclose()

    tasks = [asyncio.create_task(one(i)) for i in range(len(config.sources))]
    # What is still waiting for an answer when the budget runs out is cut off here: an
    # attempt never outlives what is left of it, whatever its poll.timeout.
    _, pending = await asyncio.wait(tasks, timeout=budget)
    if pending:
        for task in pending:
            task.cancel()
        await asyncio.wait(pending)
        names = [config.sources[i].name for i, task in enumerate(tasks) if task in pending]
        raise CheckTimeout(names)
    return [task.result() for task in tasks]


async def _read_plans(
    config: Config, results: list[PollResult], clock: Clock, budget_seconds: float
) -> list[PlanRound]:
    return await read_plan_rounds(config, results, clock, clock.monotonic() + budget_seconds)


def check_command(
    config_path: Path | None,
    *,
    as_json: bool,
    timeout_seconds: float = DEFAULT_CHECK_TIMEOUT_SECONDS,
    from_process_start: bool = False,
) -> int:
    """Exit 0 ok, 1 warning, 2 critical (an expired or critical account, a failed poll), and 3
    unknown: an account of unknown expiry, a config error, or the timeout. With
    `from_process_start` (the command line), the interpreter's start-up and the imports count
    against `timeout_seconds` too, as they do for whoever waits for the answer."""
    began = process_started_monotonic() if from_process_start else time.monotonic()
    try:
        config = load(config_path)
    except ConfigError as exc:
        log_config_error(exc)
        return check_unknown(f"config error: {exc}", as_json=as_json)
    clock = SystemClock()
    # The whole run counts: what starting and reading the config took comes off the polls'
    # share. With nothing left, no request is made (it could not be waited for).
    spent = time.monotonic() - began
    remaining = timeout_seconds - spent
    if remaining <= 0:
        return check_unknown(
            f"--timeout {timeout_seconds:g}s spent before any request ({spent:.1f}s starting "
            "up and reading the config)",
            as_json=as_json,
        )
    try:
        results = asyncio.run(poll_all(config, clock, timeout_seconds=remaining))
    except CheckTimeout as exc:
        sources = ", ".join(exc.pending)
        return check_unknown(
            f"no answer within --timeout {timeout_seconds:g}s (source {sources})", as_json=as_json
        )
    # The subscription and plans get what is left, less a moment to print: what has not
    # answered by then is shown as a timeout, and the expiry verdict stands.
    left = timeout_seconds - (time.monotonic() - began) - PRINT_SECONDS
    answers = asyncio.run(_read_plans(config, results, clock, max(0.0, left)))
    report = build_report(results, config, clock.time(), answers)
    write_stdout((render_json(report) if as_json else render_table(report)) + "\n")
    return int(report.status)


def check_unknown(problem: str, *, as_json: bool = False) -> int:
    """Print why the check could not run, as the plugin line (or JSON); exit status 3."""
    if as_json:
        document = {"status": "unknown", "exit_code": 3, "error": problem, "sources": []}
        write_stdout(json_text(document, indent=False) + "\n")
    else:
        write_stdout(unknown_line(problem) + "\n")
    return int(PluginStatus.UNKNOWN)
