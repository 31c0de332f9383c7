"""Cost of one poll cycle and one scrape at 10,000 accounts, against baselines in the same run.

    python benchmarks/bench_cycle.py [--accounts N] [--repeat R]

Prints a table: bare orjson.loads vs our decode+parse+evaluate+snapshot (target <= 3x; both
timed round by round, the ratio is the median of the rounds' ratios), and
/metrics rendering by our snapshot renderer vs a naive exporter of labelled prometheus_client
Gauges holding the same data (target >= 5x faster), plus resident memory. The first scrape
after a poll that renewed one token in a hundred is also compared with a later scrape of the
same snapshot (target <= 3x).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from collections.abc import Callable
from datetime import timedelta

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from monitor.config import AccountLabel, Policy, Thresholds
from monitor.errors import Outcome
from monitor.evaluate import STATES, evaluate
from monitor.exposition import MetricsRenderer
from monitor.snapshot import Snapshot, SourceSnapshot
from monitor.testing.fakeapi import FakeAccount
from monitor.upstream.parse import AccountMemo, parse_accounts, parse_capacity

NOW = 1_800_000_000.0
THRESHOLDS = Thresholds(timedelta(hours=72), timedelta(hours=24), 0)
POLICY = Policy((), THRESHOLDS)  # the daemon's, made once per configuration


# The poll before the first scrape measured renewed the token of one account in this many.
RENEWED_EVERY = 100


def payloads(count: int, *, renewed: bool = False) -> tuple[bytes, bytes]:
    """Accounts and scheduler bodies as the upstream would send them, tokens included;
    `renewed`: one account in RENEWED_EVERY has a token a day younger."""
    accounts = [
        FakeAccount(
            f"user{i:05d}@example.com",
            None
            if i % 50 == 0
            else NOW + (i % 240 - 20) * 3600 + (86400 if renewed and i % RENEWED_EVERY == 1 else 0),
            max_jobs=1 + i % 8,
            executing=i % 3,
        )
        for i in range(count)
    ]
    body = orjson.dumps({a.email: a.entry() for a in accounts})
    capacity = orjson.dumps({"executing": [], "available": [a.capacity_row() for a in accounts]})
    return body, capacity


def cycle(body: bytes, capacity_body: bytes, memo: AccountMemo | None = None) -> Snapshot:
    """What the daemon does with one successful poll's bodies."""
    parsed = parse_accounts(orjson.loads(body), memo)
    capacity = parse_capacity(orjson.loads(capacity_body))
    evaluation = evaluate(
        parsed.accounts, capacity.by_email, THRESHOLDS, AccountLabel.EMAIL, NOW, policy=POLICY
    )
    source = SourceSnapshot(
        "main", evaluation, True, Outcome.SUCCESS, NOW, 0.5, {Outcome.SUCCESS: 1}
    )
    return Snapshot((source,), NOW)


def naive_registry(snapshot: Snapshot) -> CollectorRegistry:
    """The straightforward exporter: one labelled Gauge per metric, set after each poll."""
    registry = CollectorRegistry()
    g = {
        name: Gauge(name, name, labels, registry=registry)
        for name, labels in (
            ("pixverse_account_token_expiry_timestamp_seconds", ["source", "account"]),
            ("pixverse_account_token_ttl_seconds", ["source", "account"]),
            ("pixverse_account_state", ["source", "account", "state"]),
            ("pixverse_account_max_jobs", ["source", "account"]),
            ("pixverse_account_jobs_executing", ["source", "account"]),
            ("pixverse_account_jobs_available", ["source", "account"]),
            (
                "pixverse_account_info",
                ["source", "account", "account_id", "username", "expiry_source"],
            ),
            ("pixverse_accounts", ["source", "state"]),
            ("pixverse_capacity_jobs", ["source", "state"]),
            ("pixverse_capacity_usable_jobs", ["source"]),
            ("pixverse_capacity_free_jobs", ["source"]),
            ("pixverse_monitor_up", ["source"]),
            ("pixverse_monitor_last_success_timestamp_seconds", ["source"]),
            ("pixverse_monitor_poll_duration_seconds", ["source"]),
        )
    }
    polls = Counter("pixverse_monitor_polls", "polls", ["source", "outcome"], registry=registry)
    for source in snapshot.sources:
        assert source.evaluation is not None
        for s in source.evaluation.accounts:
            a = s.account
            labels = (source.name, s.label)
            if a.expiry_unix is not None:
                g["pixverse_account_token_expiry_timestamp_seconds"].labels(*labels).set(
                    a.expiry_unix
                )
                # A naive exporter sets TTL at poll time; ours computes it at scrape time.
                g["pixverse_account_token_ttl_seconds"].labels(*labels).set(a.expiry_unix - NOW)
            for state in STATES:
                g["pixverse_account_state"].labels(*labels, state.value).set(int(state is s.state))
            g["pixverse_account_max_jobs"].labels(*labels).set(a.max_jobs)
            if s.executing is not None:
                g["pixverse_account_jobs_executing"].labels(*labels).set(s.executing)
                g["pixverse_account_jobs_available"].labels(*labels).set(s.available or 0)
            g["pixverse_account_info"].labels(
                *labels, a.account_id, a.username, a.expiry_source.value
            ).set(1)
        totals = source.evaluation.totals
        for state in STATES:
            g["pixverse_accounts"].labels(source.name, state.value).set(
                totals.accounts_by_state[state]
            )
            g["pixverse_capacity_jobs"].labels(source.name, state.value).set(
                totals.capacity_by_state[state]
            )
        g["pixverse_capacity_usable_jobs"].labels(source.name).set(totals.usable_capacity)
        g["pixverse_capacity_free_jobs"].labels(source.name).set(totals.free_capacity or 0)
        g["pixverse_monitor_up"].labels(source.name).set(1)
        g["pixverse_monitor_last_success_timestamp_seconds"].labels(source.name).set(NOW)
        g["pixverse_monitor_poll_duration_seconds"].labels(source.name).set(0.5)
        for outcome in Outcome:
            polls.labels(source.name, outcome.value).inc(0)
    return registry


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of `fn` in seconds, with the collector out of the way."""
    return timed_after(lambda: fn, repeat)


def timed_after(setup: Callable[[], Callable[[], object]], repeat: int) -> float:
    """Median wall time in seconds of the function each call of `setup` (not timed) returns,
    with the collector out of the way."""
    samples = []
    for _ in range(repeat):
        fn = setup()
        gc.collect()
        gc.disable()
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
        gc.enable()
    return statistics.median(samples)


def rounds(fns: list[Callable[[], object]], repeat: int) -> list[list[float]]:
    """Wall times of each fn, interleaved round by round, so that a baseline and what is
    compared with it see the same machine (this one's speed drifts by tens of percent)."""
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
    """The median of the per-round ratios."""
    return statistics.median(o / b for o, b in zip(ours, baseline, strict=True))


def rss_mib() -> float:
    with open(f"/proc/{os.getpid()}/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    rss_start = rss_mib()
    body, capacity_body = payloads(args.accounts)
    memo = AccountMemo()
    cycle(body, capacity_body, memo)  # the daemon's memo after one poll
    bare_t, cold_t, warm_t = rounds(
        [
            lambda: (orjson.loads(body), orjson.loads(capacity_body)),
            lambda: cycle(body, capacity_body, AccountMemo()),
            lambda: cycle(body, capacity_body, memo),
        ],
        args.repeat,
    )
    bare, cold, warm = (statistics.median(t) for t in (bare_t, cold_t, warm_t))

    snapshot = cycle(body, capacity_body)
    rss_snapshot = rss_mib()
    renderer = MetricsRenderer()

    # The poll before: the same accounts but for the renewed tokens, through the same memo.
    renewal_memo = AccountMemo()
    before = cycle(*payloads(args.accounts, renewed=True), renewal_memo)
    after = cycle(body, capacity_body, renewal_memo)

    def after_a_poll() -> Callable[[], bytes]:
        """A renderer that has rendered the snapshot before: scraping `after` is timed."""
        renderer = MetricsRenderer()
        renderer.render(before, NOW)
        return lambda: renderer.render(after, NOW + 1)

    renderer.render(snapshot, NOW)
    later = timed(lambda: renderer.render(snapshot, NOW + 1), args.repeat)
    first = timed_after(after_a_poll, args.repeat)
    very_first = timed(lambda: MetricsRenderer().render(snapshot, NOW + 1), args.repeat)
    registry = naive_registry(snapshot)
    naive = timed(lambda: generate_latest(registry), max(3, args.repeat // 3))
    ours_body = renderer.render(snapshot, NOW + 1)
    naive_body = generate_latest(registry)

    rows = [
        ("accounts", f"{args.accounts:,}", "", ""),
        ("accounts body", f"{len(body) / 2**20:.1f} MiB", "", ""),
        ("bare orjson.loads (both bodies)", f"{bare * 1000:.1f} ms", "1.00x", "baseline"),
        ("cycle: decode+parse+evaluate+snapshot", "", "", ""),
        (
            "  first poll (empty memo)",
            f"{cold * 1000:.1f} ms",
            f"{ratio(cold_t, bare_t):.2f}x",
            "target <= 3x",
        ),
        (
            "  steady state (tokens unchanged)",
            f"{warm * 1000:.1f} ms",
            f"{ratio(warm_t, bare_t):.2f}x",
            "target <= 3x",
        ),
        ("naive Gauge exporter scrape", f"{naive * 1000:.1f} ms", "1.00x", "baseline"),
        (
            "our scrape, first after a poll",
            f"{first * 1000:.1f} ms",
            f"{naive / first:.1f}x faster",
            "target >= 5x",
        ),
        (
            "our scrape, later ones",
            f"{later * 1000:.1f} ms",
            f"{naive / later:.1f}x faster",
            "target >= 5x",
        ),
        (
            f"  first after a poll renewing 1 in {RENEWED_EVERY}",
            "",
            f"{first / later:.2f}x later ones",
            "target <= 3x",
        ),
        (
            "our scrape, the very first (nothing to reuse)",
            f"{very_first * 1000:.1f} ms",
            f"{naive / very_first:.1f}x faster",
            "",
        ),
        (
            "/metrics body ours / naive",
            f"{len(ours_body) / 2**20:.1f} / {len(naive_body) / 2**20:.1f} MiB",
            "",
            "",
        ),
        ("RSS before / after snapshot", f"{rss_start:.0f} / {rss_snapshot:.0f} MiB", "", ""),
        ("RSS at end", f"{rss_mib():.0f} MiB", "", ""),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


if __name__ == "__main__":
    main()
