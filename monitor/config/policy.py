"""Per-account policy ([[accounts]]): reading a rule, which rule fits an email, the settings in
force for that account, the label names a rule may add, and the warnings `config check` can
give offline. Pure."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from fnmatch import fnmatchcase, translate
from typing import NamedTuple

from monitor.config.model import (
    MAX_LABEL_VALUE_LENGTH,
    MAX_NAME_LENGTH,
    MAX_RULE_LABELS,
    AccountRule,
    Thresholds,
)
from monitor.config.table import Table
from monitor.errors import ConfigError
from monitor.timefmt import format_duration

# Prometheus' label-name syntax; names starting with "__" are reserved to Prometheus.
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# Labels the daemon sets itself (on alerts or metrics) and those Prometheus adds when it
# scrapes: a policy label of that name would clash with, or be renamed next to, ours. Kept
# complete by tests/exposition/test_promtool.py, which checks a live body against it.
RESERVED_LABELS = frozenset(
    {
        "source",
        "account",
        "alertname",
        "severity",
        "state",
        "account_id",
        "username",
        "expiry_source",
        "plan",
        "kind",
        "service",
        "endpoint",
        "outcome",
        "sink",
        "reason",
        "task",
        "version",
        "python_version",
        "job",
        "instance",
    }
)
_WILDCARDS = frozenset("*?[")


def label_name_problem(name: str) -> str | None:
    """Why `name` cannot be a policy label, or None when it can."""
    if len(name) > MAX_NAME_LENGTH:
        return f"a label name of {len(name)} characters; at most {MAX_NAME_LENGTH} are allowed"
    if not LABEL_NAME.fullmatch(name):
        return "is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)"
    if name.startswith("__"):
        return "names starting with __ are reserved to Prometheus"
    if name in RESERVED_LABELS:
        return "is a label pixverse-monitor or Prometheus sets itself"
    return None


def matches(pattern: str, email: str) -> bool:
    """Shell-style glob match, without regard to case: email addresses are compared the way
    mail systems and useapi.net treat them, so `*@Studio.example` fits `a@studio.example`."""
    return fnmatchcase(email.casefold(), pattern.casefold())


class AccountSettings(NamedTuple):
    """What applies to one account: its rule's values, else the global [thresholds]."""

    ignore: bool
    warning_seconds: float
    critical_seconds: float
    plan_warning_seconds: float
    min_credits: int
    labels: tuple[tuple[str, str], ...]
    rule: int | None  # index of the [[accounts]] rule that fits, None for none


def settings_of(
    rule: AccountRule | None, index: int | None, thresholds: Thresholds
) -> AccountSettings:
    """The settings a rule gives (the global ones for None)."""
    rule = rule or AccountRule("")
    return AccountSettings(
        rule.ignore,
        (thresholds.warning if rule.warning is None else rule.warning).total_seconds(),
        (thresholds.critical if rule.critical is None else rule.critical).total_seconds(),
        (
            thresholds.plan_warning if rule.plan_warning is None else rule.plan_warning
        ).total_seconds(),
        thresholds.min_credits if rule.min_credits is None else rule.min_credits,
        rule.labels,
        index,
    )


_SPECIAL = "*?[]"  # a glob's wildcards and classes; a stray "]" is taken as one, to be safe


class FirstMatch:
    """Which of a list of globs first fits an email, as `matches` judges, without trying
    every glob. A glob can only fit an email that ends in its literal tail (what follows its
    last wildcard), or, without one, starts with its literal head: so the globs are indexed
    by tail (else head), and an email looks up its own endings and beginnings, one per length
    in use. Only the globs found so (and those with neither) are tried, in order. 2,000 rules
    for 5,000 accounts took 8 s trying them all."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self._folded = [p.casefold() for p in patterns]
        # Compiled when first tried: most globs of a long list are never tried at all.
        self._fits: list[Callable[[str], object] | None] = [None] * len(patterns)
        self._by_tail: dict[str, list[int]] = {}
        self._by_head: dict[str, list[int]] = {}
        self._always: list[int] = []  # "*", "?*x?": neither head nor tail
        for index, folded in enumerate(self._folded):
            tail = folded[max(folded.rfind(c) for c in _SPECIAL) + 1 :]
            head = folded[: min((i for c in _SPECIAL if (i := folded.find(c)) >= 0), default=0)]
            if tail:
                self._by_tail.setdefault(tail, []).append(index)
            elif head:
                self._by_head.setdefault(head, []).append(index)
            else:
                self._always.append(index)
        self._tail_lengths = sorted({len(tail) for tail in self._by_tail})
        self._head_lengths = sorted({len(head) for head in self._by_head})

    def first(self, email: str) -> int | None:
        """The index of the first glob that fits `email`; None when none does."""
        folded = email.casefold()
        return next((i for i in self.candidates(folded) if self._fit(i, folded)), None)

    def _fit(self, index: int, folded: str) -> bool:
        fits = self._fits[index]
        if fits is None:
            fits = self._fits[index] = re.compile(translate(self._folded[index])).match
        return fits(folded) is not None

    def candidates(self, folded: str) -> list[int]:
        """The globs that may fit a casefolded email, in order: the others cannot."""
        found = list(self._always)
        size = len(folded)
        for length in self._tail_lengths:
            if length > size:
                break
            found.extend(self._by_tail.get(folded[size - length :], ()))
        for length in self._head_lengths:
            if length > size:
                break
            found.extend(self._by_head.get(folded[:length], ()))
        found.sort()
        return found


class Policy:
    """The [[accounts]] rules in force with the global thresholds: the settings of an
    account by its email. The first rule that fits wins. Answers are remembered per email
    (a poll asks for every account, and the rules only change with the config): the daemon
    keeps one Policy, made again at each reload, for everything that asks."""

    def __init__(self, rules: Sequence[AccountRule], thresholds: Thresholds) -> None:
        self.rules = tuple(rules)
        self.thresholds = thresholds
        self.default = settings_of(None, None, thresholds)
        self._by_rule = [settings_of(rule, i, thresholds) for i, rule in enumerate(self.rules)]
        self._first = FirstMatch([rule.match for rule in self.rules])
        self._known: dict[str, AccountSettings] = {}

    def settings(self, email: str) -> AccountSettings:
        if not self.rules:
            return self.default
        known = self._known.get(email)
        if known is None:
            index = self._first.first(email)
            known = self.default if index is None else self._by_rule[index]
            if len(self._known) > 100_000:  # accounts come and go; never grow without end
                self._known.clear()
            self._known[email] = known
        return known

    def of_rule(self, index: int) -> AccountSettings:
        """The settings the rule at `index` gives the accounts it fits."""
        return self._by_rule[index]

    def unmatched(self, emails: Iterable[str]) -> list[int]:
        """Indexes of the rules that fit none of `emails` (as the first match or at all)."""
        used = {self.settings(email).rule for email in emails}
        return [i for i in range(len(self.rules)) if i not in used]


def static_warnings(rules: Sequence[AccountRule]) -> list[tuple[int, str]]:
    """(rule index, problem) for every rule that can never apply, whatever the accounts:
    `config check` has no account list, so this is what it can say offline."""
    found: list[tuple[int, str]] = []
    for index, rule in enumerate(rules):
        pattern = rule.match
        if not pattern:
            found.append((index, "an empty match fits no email address"))
        elif "@" not in pattern and not _WILDCARDS & set(pattern):
            found.append((index, f"{pattern!r} has no @ and no wildcard: it fits no email"))
        else:
            earlier = next(
                (i for i, r in enumerate(rules[:index]) if r.match in ("*", pattern)), None
            )
            if earlier is not None:
                first = rules[earlier].match
                found.append(
                    (
                        index,
                        f"never applies: accounts[{earlier}] (match {first!r}) comes first "
                        "and fits every account this one does",
                    )
                )
    return found


def read_rule(table: Table, thresholds: Thresholds) -> AccountRule:
    """One [[accounts]] table; its thresholds are checked merged with the global ones."""
    match = table.string("match")
    ignore = table.get("ignore", bool, False)
    durations = {
        name: table.duration(name, "0s") if table.has(name) else None
        for name in ("warning", "critical", "plan_warning")
    }
    min_credits = table.get("min_credits", int, 0) if table.has("min_credits") else None
    if min_credits is not None and min_credits < 0:
        raise ConfigError(table.key("min_credits"), "must be >= 0")
    warning = durations["warning"] or thresholds.warning
    if (durations["critical"] or thresholds.critical) >= warning:
        key = "critical" if durations["critical"] else "warning"
        raise ConfigError(
            table.key(key),
            f"critical must be shorter than warning for these accounts (warning in force: "
            f"{format_duration(warning)})",
        )
    labels = table.table("labels")
    if len(labels.names()) > MAX_RULE_LABELS:
        raise ConfigError(
            table.key("labels"), f"has {len(labels.names())} labels; at most {MAX_RULE_LABELS}"
        )
    pairs = []
    for name in sorted(labels.names()):
        problem = label_name_problem(name)
        if problem:
            # A name too long to repeat is named by where it is.
            key = labels.key(name) if len(name) <= MAX_NAME_LENGTH else table.key("labels")
            raise ConfigError(key, problem)
        value = labels.string(name)
        if not value:
            raise ConfigError(labels.key(name), "must not be empty")
        if len(value) > MAX_LABEL_VALUE_LENGTH:
            raise ConfigError(
                labels.key(name),
                f"is {len(value)} characters long; at most {MAX_LABEL_VALUE_LENGTH} are allowed",
            )
        pairs.append((name, value))
    labels.finish()
    table.finish()
    return AccountRule(
        match,
        ignore,
        warning=durations["warning"],
        critical=durations["critical"],
        plan_warning=durations["plan_warning"],
        min_credits=min_credits,
        labels=tuple(pairs),
    )
