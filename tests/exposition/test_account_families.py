"""The per-account and per-source families: valid exposition format, right values, TTL at scrape
time, escaping, and byte-for-byte the text each family is defined to have."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families

from monitor.config.model import AccountLabel, Thresholds
from monitor.errors import Outcome
from monitor.evaluate import evaluate
from monitor.exposition import InternalMetrics, MetricsRenderer
from monitor.snapshot import Criteria, Snapshot, SourceSnapshot
from monitor.upstream.parse import Account, AccountCapacity, ExpirySource

NOW = 1_800_000_000.0
TH = Thresholds(timedelta(hours=72), timedelta(hours=24), 0)


def samples(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            assert key not in out, f"duplicate series {key}"
            out[key] = sample.value
    return out


def source(
    name: str, accounts: list[Account], capacity: dict[str, AccountCapacity] | None
) -> SourceSnapshot:
    evaluation = evaluate(accounts, capacity, TH, AccountLabel.EMAIL, NOW)
    return SourceSnapshot(
        name,
        evaluation,
        True,
        Outcome.SUCCESS,
        NOW - 1,
        0.25,
        {Outcome.SUCCESS: 3, Outcome.TIMEOUT: 1},
        NOW - 3600,
    )


def test_values_types_and_escaping() -> None:
    weird = 'we"ird\\name\nx@example.com'
    accounts = [
        Account("a@x.io", "11", "neo", NOW + 100 * 3600, ExpirySource.EXPIRE_TIME, 8),
        Account(weird, "", "", None, ExpirySource.NONE, 0),
    ]
    snap = Snapshot((source("s1", accounts, {"a@x.io": AccountCapacity(3, 5)}),), NOW)
    body = MetricsRenderer(InternalMetrics(process=False)).render(snap, NOW + 10)
    got = samples(body)
    a = (("account", "a@x.io"), ("source", "s1"))
    assert got[("pixverse_account_token_expiry_timestamp_seconds", a)] == NOW + 100 * 3600
    assert got[("pixverse_account_token_ttl_seconds", a)] == 100 * 3600 - 10
    assert got[("pixverse_account_max_jobs", a)] == 8
    assert got[("pixverse_account_jobs_executing", a)] == 3
    assert got[("pixverse_account_jobs_available", a)] == 5
    assert got[("pixverse_account_state", (*a, ("state", "ok")))] == 1
    assert got[("pixverse_account_state", (*a, ("state", "warning")))] == 0
    info = (
        "pixverse_account_info",
        (
            ("account", "a@x.io"),
            ("account_id", "11"),
            ("expiry_source", "expire_time"),
            ("source", "s1"),
            ("username", "neo"),
        ),
    )
    assert got[info] == 1
    w = (("account", weird), ("source", "s1"))
    assert got[("pixverse_account_state", (*w, ("state", "unknown")))] == 1
    assert ("pixverse_account_token_ttl_seconds", w) not in got  # no expiry, no TTL
    assert ("pixverse_account_jobs_executing", w) not in got  # not in the scheduler list
    s = (("source", "s1"),)
    assert got[("pixverse_capacity_usable_jobs", s)] == 8
    assert got[("pixverse_capacity_free_jobs", s)] == 5
    assert got[("pixverse_monitor_up", s)] == 1
    assert got[("pixverse_monitor_last_success_timestamp_seconds", s)] == NOW - 1
    assert got[("pixverse_monitor_poll_duration_seconds", s)] == 0.25
    assert got[("pixverse_monitor_polls_total", (("outcome", "success"), ("source", "s1")))] == 3
    assert got[("pixverse_monitor_polls_total", (("outcome", "too_large"), ("source", "s1")))] == 0
    for state in ("ok", "warning", "critical", "expired", "unknown"):
        assert ("pixverse_accounts", (("source", "s1"), ("state", state))) in got
        assert ("pixverse_capacity_jobs", (("source", "s1"), ("state", state))) in got
    text = body.decode()
    assert "# TYPE pixverse_monitor_polls_total counter" in text
    assert "# TYPE pixverse_account_state gauge" in text
    assert "# TYPE pixverse_monitor_build_info gauge" in text


def test_families_are_contiguous_across_sources() -> None:
    one = [Account("a@x.io", "", "", NOW + 999999, ExpirySource.EXPIRE_TIME, 1)]
    snap = Snapshot((source("s1", one, None), source("s2", one, None)), NOW)
    body = MetricsRenderer().render(snap, NOW).decode()
    seen: list[str] = []
    for line in body.splitlines():
        if line.startswith("# TYPE "):
            name = line.split()[2]
            assert name not in seen, f"{name} appears twice"
            seen.append(name)
    got = samples(body.encode())
    assert ("pixverse_capacity_free_jobs", (("source", "s1"),)) not in got  # no scheduler data


def test_ttl_is_computed_at_scrape_time_from_the_cached_snapshot() -> None:
    accounts = [Account("a@x.io", "", "", NOW + 50, ExpirySource.EXPIRE_TIME, 1)]
    snap = Snapshot((source("s1", accounts, None),), NOW)
    renderer = MetricsRenderer()
    key = ("pixverse_account_token_ttl_seconds", (("account", "a@x.io"), ("source", "s1")))
    assert samples(renderer.render(snap, NOW))[key] == 50
    assert samples(renderer.render(snap, NOW + 80))[key] == -30  # negative once expired


def test_a_source_without_data_exports_only_its_health() -> None:
    snap = Snapshot(
        (
            SourceSnapshot(
                "s1", None, False, Outcome.UNAUTHORIZED, None, 0.1, {Outcome.UNAUTHORIZED: 1}
            ),
        ),
        NOW,
    )
    got = samples(MetricsRenderer().render(snap, NOW))
    names = {name for name, _ in got}
    assert got[("pixverse_monitor_up", (("source", "s1"),))] == 0
    assert not any(n.startswith("pixverse_account") for n in names)
    assert "pixverse_monitor_last_success_timestamp_seconds" not in names


def test_what_the_rules_judge_by_is_exported_per_source() -> None:
    one = [Account("a@x.io", "", "", NOW + 999999, ExpirySource.EXPIRE_TIME, 1)]
    rejected = SourceSnapshot(
        "s2", None, False, Outcome.UNAUTHORIZED, None, 0.1, {Outcome.UNAUTHORIZED: 1}, NOW - 60
    )
    snap = Snapshot((source("s1", one, None), rejected), NOW, Criteria(3, 1200.0))
    got = samples(MetricsRenderer().render(snap, NOW))
    for name, since in (("s1", NOW - 3600), ("s2", NOW - 60)):
        s = (("source", name),)
        assert got[("pixverse_capacity_min_usable_jobs", s)] == 3
        assert got[("pixverse_monitor_stale_after_seconds", s)] == 1200
        assert got[("pixverse_monitor_watch_start_timestamp_seconds", s)] == since
    for name, last in (("s1", Outcome.SUCCESS), ("s2", Outcome.UNAUTHORIZED)):
        outcomes = {
            dict(labels)["outcome"]: value
            for (metric, labels), value in got.items()
            if metric == "pixverse_monitor_last_poll_outcome" and dict(labels)["source"] == name
        }
        # Every outcome, always: 1 for the last one, 0 for the others.
        assert outcomes == {o.value: (1 if o is last else 0) for o in Outcome}


def test_no_last_poll_outcome_before_the_first_poll_ends() -> None:
    waiting = SourceSnapshot("s1", None, False, None, None, None, {}, NOW - 5)
    snap = Snapshot((waiting,), NOW, Criteria(0, 900.0))
    body = MetricsRenderer().render(snap, NOW)
    got = samples(body)
    assert "pixverse_monitor_last_poll_outcome" not in body.decode()  # no HELP/TYPE either
    s = (("source", "s1"),)
    assert got[("pixverse_capacity_min_usable_jobs", s)] == 0
    assert got[("pixverse_monitor_stale_after_seconds", s)] == 900
    assert got[("pixverse_monitor_watch_start_timestamp_seconds", s)] == NOW - 5
    assert got[("pixverse_monitor_up", s)] == 0


def test_a_snapshot_without_limits_exports_none() -> None:
    one = [Account("a@x.io", "", "", NOW + 999999, ExpirySource.EXPIRE_TIME, 1)]
    body = MetricsRenderer().render(Snapshot((source("s1", one, None),), NOW), NOW)
    text = body.decode()
    assert "pixverse_capacity_min_usable_jobs" not in text
    assert "pixverse_monitor_stale_after_seconds" not in text
    assert 'pixverse_monitor_last_poll_outcome{source="s1",outcome="success"} 1' in text
