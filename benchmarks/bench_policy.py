"""What a reload costs the event loop in [[accounts]] matching, against the way it was.

    python benchmarks/bench_policy.py [--rules N] [--accounts N] [--repeat R]

Before: the daemon and its plan schedules each kept a Policy, and each tried every rule, in
order, for every account, after every reload (2,000 rules x 5,000 accounts took 8 s, twice).
Now: one Policy per reload, which tries only the rules whose literal tail the email ends in
(or, for a rule ending in a wildcard, whose literal head it starts with).
Both are timed round by round in this run (this machine's speed drifts); the ratio is the
median of the rounds' ratios. Then what an evaluation costs once the answers are known.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import timedelta

from monitor.config.model import AccountRule, Thresholds
from monitor.config.policy import Policy, matches

THRESHOLDS = Thresholds(timedelta(hours=72), timedelta(hours=24), 0)


def rules_of(count: int) -> list[AccountRule]:
    """A studio per domain for most rules; some by name prefix (they end in a wildcard, so
    they are tried for every email); some single addresses."""
    rules = []
    for i in range(count):
        if i % 8 == 0:
            match = f"team{i}-*"
        elif i % 8 == 1:
            match = f"ops{i}@pixverse.example"
        else:
            match = f"*@studio{i}.example"
        rules.append(AccountRule(match, labels=(("team", f"t{i}"),)))
    return rules


def emails_of(count: int, rules: int) -> list[str]:
    # Spread over the studios, a quarter of them matching no rule at all.
    return [f"user{j}@Studio{j % (rules + rules // 3)}.example" for j in range(count)]


def before(rules: Sequence[AccountRule], emails: Sequence[str]) -> int:
    """The way it was, per Policy: every rule tried in order for each email."""
    found = 0
    for email in emails:
        for rule in rules:
            if matches(rule.match, email):
                found += 1
                break
    return found


def after(rules: Sequence[AccountRule], emails: Sequence[str]) -> int:
    policy = Policy(rules, THRESHOLDS)
    return sum(policy.settings(email).rule is not None for email in emails)


def rounds(fns: list[Callable[[], object]], repeat: int) -> list[list[float]]:
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, times in zip(fns, samples, strict=True):
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=2_000)
    parser.add_argument("--accounts", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    rules = rules_of(args.rules)
    emails = emails_of(args.accounts, args.rules)
    assert before(rules, emails) == after(rules, emails)  # the same answers
    # Per reload: before, two Policies each matched every account; now one does.
    old_t, new_t = rounds(
        [lambda: (before(rules, emails), before(rules, emails)), lambda: after(rules, emails)],
        args.repeat,
    )
    policy = Policy(rules, THRESHOLDS)
    for email in emails:
        policy.settings(email)
    (cached_t,) = rounds([lambda: [policy.settings(e) for e in emails]], args.repeat * 5)

    old, new, cached = (statistics.median(t) for t in (old_t, new_t, cached_t))
    ratio = statistics.median(o / n for o, n in zip(old_t, new_t, strict=True))
    rows = [
        ("rules x accounts", f"{args.rules:,} x {args.accounts:,}", "", ""),
        ("per reload, before (two Policies, every rule tried)", f"{old:.2f} s", "1.00x", ""),
        ("per reload, now (one Policy, rules by tail or head)", f"{new * 1000:.0f} ms", "", ""),
        ("  faster by", "", f"{ratio:.0f}x", "target: under 1 s"),
        ("per evaluation, answers known", f"{cached * 1000:.1f} ms", "", ""),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


if __name__ == "__main__":
    main()
