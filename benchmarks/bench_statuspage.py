"""Cost of the status page against /metrics for the same accounts, measured in the same run.

    python benchmarks/bench_statuspage.py [--accounts N] [--repeat R]

Every account has a plan, live capacity and [[accounts]] labels, and a few alerts fire. For
each round, every render is timed back to back (this machine's speed drifts by tens of
percent; the ratio is the median of the rounds' ratios):

- first: a snapshot just made (a poll, or a threshold crossing), never rendered before:
  /metrics renders every family (MetricsRenderer with the daemon's own metrics), the page
  builds its view and renders the template, the JSON builds its view and every account;
- next second: the same snapshot a second later, what every other second costs: /metrics
  reuses the text of the snapshot and adds the TTL lines; the page and JSON reuse the
  snapshot's account table (its order and rows) and add the time left, ages and alerts.

Target: the page costs less than /metrics, at a first render and the next second (< 1x).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable
from datetime import timedelta

from monitor.alerts import FiringAlert
from monitor.alerts.alert import Alert, AlertName
from monitor.config import AccountLabel, AccountRule, Policy, Severity, Thresholds
from monitor.errors import Outcome
from monitor.evaluate import evaluate
from monitor.exposition import InternalMetrics, MetricsRenderer
from monitor.snapshot import Criteria, PerSnapshot, PlanSnapshot, Snapshot, SourceSnapshot
from monitor.upstream import CreditKind, Plan
from monitor.upstream.parse import Account, AccountCapacity, ExpirySource
from monitor.web.statuspage import (
    AccountTable,
    PageFacts,
    PageInputs,
    PageRenderer,
    account_table,
    build_view,
    status_document,
)

NOW = 1_800_000_000.0
HOUR = 3600.0
THRESHOLDS = Thresholds(timedelta(hours=72), timedelta(hours=24), 0)


def snapshot_of(count: int) -> Snapshot:
    """A new Snapshot object each call, as each poll makes: nothing cached is reused."""
    rules = (AccountRule("*@studio.example", labels=(("team", "studio"),)),)
    accounts = [
        Account(
            f"user{i:05d}@{'studio' if i % 3 == 0 else 'x'}.example",
            str(100000 + i),
            f"user{i:05d}",
            None if i % 50 == 0 else NOW + (i % 240 - 20) * HOUR,
            ExpirySource.EXPIRE_TIME,
            1 + i % 8,
        )
        for i in range(count)
    ]
    capacity = {a.email: AccountCapacity(i % 3, a.max_jobs - i % 3) for i, a in enumerate(accounts)}
    evaluation = evaluate(
        accounts,
        capacity,
        THRESHOLDS,
        AccountLabel.EMAIL,
        NOW,
        policy=Policy(rules, THRESHOLDS),
    )
    credits = {CreditKind.DAILY: 10.0, CreditKind.MONTHLY: 12450.0}
    plans = {
        a.email: Plan("Premium - Monthly", credits, NOW + 20 * 86400, 8, False) for a in accounts
    }
    source = SourceSnapshot(
        "main",
        evaluation,
        True,
        Outcome.SUCCESS,
        NOW - 5,
        0.5,
        {Outcome.SUCCESS: 1},
        plans=PlanSnapshot(plans=plans),
    )
    return Snapshot((source,), NOW, Criteria(0, 900.0))


def firing(count: int) -> list[FiringAlert]:
    return [
        FiringAlert(
            Alert(AlertName.EXPIRED, Severity.CRITICAL, "main", f"user{i:05d}@x.example", "s", "d"),
            NOW - HOUR,
            NOW,
            Severity.CRITICAL,
        )
        for i in range(count)
    ]


def rounds(fns: list[Callable[[], object]], repeat: int) -> list[list[float]]:
    """Wall times of each fn, interleaved round by round, the collector out of the way."""
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, times in zip(fns, samples, strict=True):
            gc.collect()
            gc.disable()
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
            gc.enable()
    return samples


def ratio(ours: list[float], baseline: list[float]) -> float:
    return statistics.median(o / b for o, b in zip(ours, baseline, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    internal = InternalMetrics()
    pages = PageRenderer()
    inputs = PageInputs(firing(40), {}, PageFacts("bench", "http://monitor.example:9877"))
    snapshots = [snapshot_of(args.accounts) for _ in range(3)]
    warm = snapshot_of(args.accounts)
    metrics_warm = MetricsRenderer(internal)
    metrics_warm.render(warm, NOW)
    chosen = iter(snapshots * (args.repeat + 1))
    current: list[Snapshot] = [next(chosen)]

    def fresh() -> Snapshot:
        # Identity is what every cache keys on: a distinct object stands for a new snapshot.
        return Snapshot(current[0].sources, current[0].taken_at_unix, current[0].criteria)

    def metrics_first() -> bytes:
        return MetricsRenderer(internal).render(fresh(), NOW + 1)

    # As the daemon's endpoints keep them, per snapshot: one for the new snapshots (each
    # makes its table anew), one for the warm snapshot (its table made once).
    fresh_tables, warm_tables = PerSnapshot(account_table), PerSnapshot(account_table)

    def page(snapshot: Snapshot, tables: PerSnapshot[AccountTable]) -> bytes:
        return pages.render(build_view(snapshot, inputs, NOW + 1, tables.of(snapshot)))

    def document(snapshot: Snapshot, tables: PerSnapshot[AccountTable]) -> bytes:
        view = build_view(snapshot, inputs, NOW + 1, tables.of(snapshot))
        return status_document(view, NOW + 1)

    times = rounds(
        [
            metrics_first,
            lambda: page(fresh(), fresh_tables),
            lambda: document(fresh(), fresh_tables),
            lambda: metrics_warm.render(warm, NOW + 2),
            lambda: page(warm, warm_tables),
            lambda: document(warm, warm_tables),
        ],
        args.repeat,
    )
    metrics_t, page_t, json_t, metrics_w, page_w, json_w = times
    sizes = (
        len(metrics_warm.render(warm, NOW + 2)),
        len(page(warm, warm_tables)),
        len(document(warm, warm_tables)),
    )

    def ms(samples: list[float]) -> str:
        return f"{statistics.median(samples) * 1000:8.2f} ms"

    print(f"status page vs /metrics, {args.accounts:,} accounts, {args.repeat} rounds")
    print(f"{'render':<34}{'/metrics':>12}{'page /':>12}{'JSON':>12}{'page/metrics':>14}")
    print(
        f"{'first (a new snapshot)':<34}{ms(metrics_t):>12}{ms(page_t):>12}{ms(json_t):>12}"
        f"{ratio(page_t, metrics_t):>13.2f}x"
    )
    print(
        f"{'next second (same snapshot)':<34}{ms(metrics_w):>12}{ms(page_w):>12}{ms(json_w):>12}"
        f"{ratio(page_w, metrics_w):>13.2f}x"
    )
    print(f"{'body size':<34}{sizes[0]:>10,} B{sizes[1]:>10,} B{sizes[2]:>10,} B")
    met = ratio(page_t, metrics_t) < 1 and ratio(page_w, metrics_w) < 1
    print(f"target: the page costs less than /metrics: {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
