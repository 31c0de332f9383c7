"""The daemon's own metrics: prometheus_client objects in a private registry, shown after the
account families, every sink's outcomes and reasons present from the start."""

from __future__ import annotations

import platform

import prometheus_client
from prometheus_client.parser import text_string_to_metric_families

from monitor import __version__
from monitor.errors import DeliveryFailure, DeliveryOutcome
from monitor.exposition import HELP, InternalMetrics, MetricsRenderer
from monitor.exposition.internal import INTERNAL_FAMILIES
from monitor.snapshot import Snapshot, SourceSnapshot

NOW = 1_800_000_000.0


def families(metrics: InternalMetrics) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            out.setdefault(sample.name, {})[key] = sample.value
    return out


def test_every_family_is_there_with_its_type_and_nothing_else() -> None:
    text = InternalMetrics(process=False).render().decode()
    types = dict(line.split()[2:4] for line in text.splitlines() if line.startswith("# TYPE "))
    assert types == {f.name: f.type for f in INTERNAL_FAMILIES}
    for family in INTERNAL_FAMILIES:
        assert f"# HELP {family.name} {family.help}\n" in text
    # prometheus_client's OpenMetrics `_created` series would be one more family per counter.
    assert "_created" not in text


def test_values_before_anything_happened() -> None:
    got = families(InternalMetrics(process=False))
    assert got["pixverse_monitor_alerts_firing"] == {
        (("severity", "warning"),): 0,
        (("severity", "critical"),): 0,
    }
    assert got["pixverse_monitor_build_info"] == {
        (("python_version", platform.python_version()), ("version", __version__)): 1
    }
    assert got["pixverse_monitor_config_last_reload_successful"] == {(): 1}
    # No sink yet: no sample, but the family is described.
    assert "pixverse_monitor_notifications_total" not in got


def test_a_sink_has_every_outcome_and_reason_from_the_start_and_goes_when_removed() -> None:
    metrics = InternalMetrics(process=False)
    queue = ["n1", "n2"]
    metrics.add_sink("ops", lambda: len(queue))
    metrics.add_sink("chat", lambda: 0)
    metrics.count("ops", DeliveryOutcome.RETRIED, DeliveryFailure.HTTP_5XX)
    metrics.count("ops", DeliveryOutcome.RETRIED, DeliveryFailure.TIMEOUT)
    metrics.count("ops", DeliveryOutcome.DELIVERED, None)
    queue.pop()
    got = families(metrics)
    totals = got["pixverse_monitor_notifications_total"]
    assert totals == {
        (("outcome", o.value), ("sink", sink)): (
            {"retried": 2, "delivered": 1}.get(o.value, 0) if sink == "ops" else 0
        )
        for o in DeliveryOutcome
        for sink in ("ops", "chat")
    }
    failures = got["pixverse_monitor_notification_failures_total"]
    assert failures == {
        (("reason", r.value), ("sink", sink)): (
            1 if sink == "ops" and r in (DeliveryFailure.HTTP_5XX, DeliveryFailure.TIMEOUT) else 0
        )
        for r in DeliveryFailure
        for sink in ("ops", "chat")
    }
    assert got["pixverse_monitor_notifications_pending"] == {
        (("sink", "ops"),): 1,  # read at scrape time
        (("sink", "chat"),): 0,
    }
    metrics.remove_sink("ops")
    metrics.count("ops", DeliveryOutcome.RETRIED, DeliveryFailure.TIMEOUT)  # was in flight
    got = families(metrics)
    assert {dict(k)["sink"] for k in got["pixverse_monitor_notifications_total"]} == {"chat"}
    assert {dict(k)["sink"] for k in got["pixverse_monitor_notification_failures_total"]} == {
        "chat"
    }
    assert list(got["pixverse_monitor_notifications_pending"]) == [(("sink", "chat"),)]


def test_the_registry_is_private() -> None:
    one, two = InternalMetrics(process=False), InternalMetrics(process=False)
    one.reload_ok.set(0)
    assert families(two)["pixverse_monitor_config_last_reload_successful"] == {(): 1}
    global_names = {m.name for m in prometheus_client.REGISTRY.collect()}
    assert not any(name.startswith("pixverse_") for name in global_names)


def test_rendered_after_the_account_families_with_process_metrics() -> None:
    waiting = SourceSnapshot("main", None, False, None, None, None, {}, NOW - 5)
    body = MetricsRenderer(InternalMetrics()).render(Snapshot((waiting,), NOW), NOW).decode()
    names = [line.split()[2] for line in body.splitlines() if line.startswith("# TYPE ")]
    internal = [f.name for f in INTERNAL_FAMILIES]
    first_internal = names.index(internal[0])
    assert "pixverse_monitor_up" in names[:first_internal]
    assert names[first_internal : first_internal + len(internal)] == internal
    assert all(name.startswith("process_") for name in names[first_internal + len(internal) :])
    assert any(name.startswith("process_") for name in names)
    assert set(HELP) >= set(internal)
