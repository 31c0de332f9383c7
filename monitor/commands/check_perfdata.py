"""`check`'s perfdata: per source, usable and free jobs, accounts per state, and the smallest
TTL with the ranges that judge it. Pure.

Each TTL is shown against the thresholds that set its account's state, so that a graph's
colours agree with the plugin's status: `min_ttl` is the smallest over the accounts under the
global [thresholds], and each [[accounts]] rule with a warning or critical of its own gets a
`min_ttl_<match>` of the accounts it governs, with its own ranges."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from monitor.commands.printable import plain
from monitor.config import Policy
from monitor.evaluate import AccountState, Evaluation


class TtlRange(NamedTuple):
    """An [[accounts]] rule with thresholds of its own, and so a TTL perfdata item of its own."""

    rule: int  # its index in [[accounts]]
    match: str
    warning_seconds: float
    critical_seconds: float


def ttl_ranges(policy: Policy) -> tuple[TtlRange, ...]:
    """The rules whose accounts are judged by other thresholds than the global ones; a rule
    whose match repeats an earlier one's never applies, and gets none."""
    default = policy.default
    found: list[TtlRange] = []
    for index, rule in enumerate(policy.rules):
        settings = policy.of_rule(index)
        own = (settings.warning_seconds, settings.critical_seconds)
        if settings.ignore or own == (default.warning_seconds, default.critical_seconds):
            continue
        if any(r.match == rule.match for r in found):
            continue
        found.append(TtlRange(index, rule.match, *own))
    return tuple(found)


def perfdata(
    sources: Iterable[tuple[str, Evaluation | None]],
    *,
    warning_seconds: float,
    critical_seconds: float,
    min_usable_capacity: int,
    rules: Sequence[TtlRange] = (),
) -> str:
    """The perfdata of (source name, its evaluation, None when it could not be read) pairs.
    Ranges follow the guidelines: "259200:" alerts below 259200."""
    minimum = f"{min_usable_capacity}:" if min_usable_capacity else ""
    own_rules = {r.rule for r in rules}
    items: list[str] = []
    for name, evaluation in sources:
        totals = evaluation.totals if evaluation is not None else None
        usable = totals.usable_capacity if totals is not None else None
        free = totals.free_capacity if totals is not None else None
        items.append(_perf(name, "usable_jobs", usable, warn=minimum))
        items.append(_perf(name, "free_jobs", free))
        for state in AccountState:
            n = totals.accounts_by_state[state] if totals is not None else None
            items.append(_perf(name, f"accounts_{state.value}", n))
        ttls: dict[int | None, list[float]] = {}
        if evaluation is not None:
            for s in evaluation.accounts:
                if s.account.expiry_unix is not None:
                    rule = s.settings.rule if s.settings.rule in own_rules else None
                    ttls.setdefault(rule, []).append(s.account.expiry_unix - evaluation.at_unix)
        items.append(_ttl(name, "min_ttl", ttls.get(None), warning_seconds, critical_seconds))
        for r in rules:
            smallest = ttls.get(r.rule)
            items.append(
                _ttl(name, f"min_ttl_{r.match}", smallest, r.warning_seconds, r.critical_seconds)
            )
    return " ".join(items)


def _ttl(
    source: str, metric: str, ttls: list[float] | None, warning: float, critical: float
) -> str:
    smallest = math.floor(min(ttls)) if ttls else None
    warn, crit = f"{warning:g}:", f"{critical:g}:"
    return _perf(source, metric, smallest, uom="s", warn=warn, crit=crit, low="")


def _perf(
    source: str,
    metric: str,
    value: int | None,
    *,
    uom: str = "",
    warn: str = "",
    crit: str = "",
    low: str = "0",
) -> str:
    # Labels may hold anything but "=" and "'"; with a space they must be quoted.
    label = re.sub(r"['=]", "_", plain(f"{source}_{metric}"))
    if re.search(r"\s", label):
        label = f"'{label}'"
    shown = "U" if value is None else f"{value}{uom}"
    return f"{label}={shown};{warn};{crit};{low};".rstrip(";")
