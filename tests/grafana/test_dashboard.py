"""The Grafana dashboard and its provisioning files, checked structurally (no Grafana here);
tests/e2e runs every panel query on a real Prometheus."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.exposition import HELP
from tests.helpers import grafana as dash
from tests.helpers import require_binary

# What the daemon measures of accounts, capacity, polls, notifications, the useapi.net
# subscription and the plans (docs/metrics.md): the dashboard shows every one of them.
CORE_METRICS = frozenset(
    {
        "pixverse_account_token_expiry_timestamp_seconds",
        "pixverse_account_token_ttl_seconds",
        "pixverse_account_state",
        "pixverse_account_max_jobs",
        "pixverse_account_jobs_executing",
        "pixverse_account_jobs_available",
        "pixverse_account_info",
        "pixverse_accounts",
        "pixverse_capacity_jobs",
        "pixverse_capacity_usable_jobs",
        "pixverse_capacity_free_jobs",
        "pixverse_monitor_up",
        "pixverse_monitor_last_success_timestamp_seconds",
        "pixverse_monitor_poll_duration_seconds",
        "pixverse_monitor_polls_total",
        "pixverse_monitor_alerts_firing",
        "pixverse_monitor_notifications_total",
        "pixverse_monitor_notifications_pending",
        "pixverse_monitor_build_info",
        # The useapi.net subscription and the PixVerse plans.
        "pixverse_useapi_subscription_active",
        "pixverse_useapi_subscription_renewed_timestamp_seconds",
        "pixverse_useapi_accounts",
        "pixverse_account_plan_expiry_timestamp_seconds",
        "pixverse_account_plan_info",
        "pixverse_account_credits",
        "pixverse_account_plan_concurrency",
        "pixverse_account_token_refreshes_total",
    }
)
# Exported besides (docs/metrics.md): what the daemon judges its alerts by, so that the
# Prometheus rules can judge exactly as it does; configuration reloads; why deliveries
# failed; upstream requests; unexpected errors in the daemon's own tasks; and failed state
# saves.
ADDITIONS = frozenset(
    {
        "pixverse_capacity_min_usable_jobs",
        "pixverse_monitor_stale_after_seconds",
        "pixverse_monitor_watch_start_timestamp_seconds",
        "pixverse_monitor_last_poll_outcome",
        "pixverse_monitor_config_last_reload_successful",
        "pixverse_monitor_config_last_reload_success_timestamp_seconds",
        "pixverse_monitor_notification_failures_total",
        "pixverse_monitor_requests_total",
        "pixverse_monitor_endpoint_last_success_timestamp_seconds",
        "pixverse_account_plan_lapsed",
        "pixverse_account_plan_warning_seconds",
        "pixverse_account_min_credits",
        "pixverse_monitor_task_errors_total",
        "pixverse_monitor_endpoint_interval_seconds",
        "pixverse_monitor_state_save_failures_total",
        "pixverse_monitor_clock_skew_seconds",
    }
)
# The metrics without a `source` label; every other one is filtered by the $source variable.
SOURCELESS_METRICS = frozenset(
    {
        "pixverse_monitor_alerts_firing",
        "pixverse_monitor_notifications_total",
        "pixverse_monitor_notification_failures_total",
        "pixverse_monitor_notifications_pending",
        "pixverse_monitor_config_last_reload_successful",
        "pixverse_monitor_config_last_reload_success_timestamp_seconds",
        "pixverse_monitor_task_errors_total",
        "pixverse_monitor_state_save_failures_total",
        "pixverse_monitor_build_info",
    }
)
ACCOUNT_METRICS = frozenset(m for m in CORE_METRICS if m.startswith("pixverse_account_"))


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return dash.load()


def test_core_metrics_and_additions_cover_what_the_daemon_exports() -> None:
    assert set(HELP) <= CORE_METRICS | ADDITIONS
    assert set(HELP) >= ADDITIONS
    assert not ADDITIONS & CORE_METRICS


def test_identity_and_schema(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] == "pixverse-monitor"  # stable: links and provisioning rely on it
    assert dashboard["id"] is None
    assert dashboard["title"]
    assert 36 <= dashboard["schemaVersion"] <= 41  # object datasource refs; a recent Grafana
    assert "__inputs" not in dashboard  # import-only; provisioning uses the DS_PROMETHEUS variable


def test_datasource_variable(dashboard: dict[str, Any]) -> None:
    variable = dash.variables(dashboard)["DS_PROMETHEUS"]
    assert variable["type"] == "datasource"
    assert variable["query"] == "prometheus"
    assert variable["current"] == {}  # Grafana picks the default Prometheus data source


@pytest.mark.parametrize("name", ["source", "account"])
def test_source_and_account_are_multi_select_query_variables(
    dashboard: dict[str, Any], name: str
) -> None:
    variable = dash.variables(dashboard)[name]
    assert variable["type"] == "query"
    assert variable["multi"] is True
    assert variable["includeAll"] is True
    assert variable["datasource"] == dash.DATASOURCE_REF
    assert variable["current"]["value"] == ["$__all"]


def test_all_accounts_is_a_short_regex(dashboard: dict[str, Any]) -> None:
    """With thousands of accounts, "All" must not spell out every name in each query."""
    variable = dash.variables(dashboard)["account"]
    assert dash.all_selected(variable, ["a@x.io", "b@x.io"]) == ".*"


def test_account_variable_follows_the_source_variable(dashboard: dict[str, Any]) -> None:
    by_name = {v.name: v for v in dash.label_values_variables(dashboard)}
    assert by_name["source"].label == "source"
    assert by_name["account"].label == "account"
    assert dash.referenced_variables(by_name["account"].selector) == {"source"}


@pytest.mark.parametrize(("name", "default"), [("warning_hours", "72"), ("critical_hours", "24")])
def test_threshold_variables_default_to_the_daemon_defaults_and_are_used(
    dashboard: dict[str, Any], name: str, default: str
) -> None:
    assert dash.default_values(dashboard)[name] == default
    assert any(name in dash.referenced_variables(q.expr) for q in dash.queries(dashboard))


def test_panel_ids_are_unique_and_the_grid_has_no_overlap(dashboard: dict[str, Any]) -> None:
    all_panels = list(dash.panels(dashboard))
    ids = [p["id"] for p in all_panels]
    assert len(ids) == len(set(ids))
    cells: dict[tuple[int, int], str] = {}
    for panel in all_panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_every_query_panel_uses_the_datasource_variable(dashboard: dict[str, Any]) -> None:
    for panel in dash.panels(dashboard):
        if panel["type"] == "row":
            assert not panel.get("targets"), panel["title"]
            continue
        assert panel["datasource"] == dash.DATASOURCE_REF, panel["title"]
        assert panel["targets"], panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == dash.DATASOURCE_REF, (panel["title"], target["refId"])
            assert target["expr"].strip(), (panel["title"], target["refId"])


def _datasource_values(node: Any) -> list[Any]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                found.append(value)
            found.extend(_datasource_values(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_datasource_values(item))
    return found


def test_no_hard_coded_datasource(dashboard: dict[str, Any]) -> None:
    grafana_builtin = {"type": "grafana", "uid": "-- Grafana --"}  # the annotations query
    for value in _datasource_values(dashboard):
        assert value in (dash.DATASOURCE_REF, grafana_builtin), value


def test_every_metric_is_exported_and_filtered_by_the_variables(
    dashboard: dict[str, Any],
) -> None:
    used: set[str] = set()
    for query in dash.queries(dashboard):
        names = dash.metric_names(query.expr)
        used |= names
        assert names <= CORE_METRICS | ADDITIONS, (query.key, names - CORE_METRICS - ADDITIONS)
        for name in names - SOURCELESS_METRICS:
            assert f'{name}{{source=~"$source"' in query.expr, (query.key, name)
    # The panels the on-call engineer needs, all of them fed.
    assert used >= CORE_METRICS - {"pixverse_account_info", "pixverse_monitor_build_info"}
    assert "pixverse_monitor_requests_total" in used


def test_the_account_filter_applies_to_per_account_panels(dashboard: dict[str, Any]) -> None:
    for query in dash.queries(dashboard):
        account_names = dash.metric_names(query.expr) & ACCOUNT_METRICS
        if account_names and query.panel_title != "Capacity":
            assert 'account=~"$account"' in query.expr, query.key


def test_every_variable_used_is_defined(dashboard: dict[str, Any]) -> None:
    defined = set(dash.variables(dashboard)) | set(dash.BUILTINS)
    for query in dash.queries(dashboard):
        assert dash.referenced_variables(query.expr) <= defined, query.key


def _panel(dashboard: dict[str, Any], title: str) -> dict[str, Any]:
    matches = [p for p in dash.panels(dashboard) if p["title"] == title and p["type"] != "row"]
    assert len(matches) == 1, f"{len(matches)} panels titled {title!r}"
    return matches[0]


@pytest.mark.parametrize(
    ("title", "kind"),
    [
        ("Accounts by state", "stat"),
        ("Soonest expiry", "stat"),
        ("Usable / configured capacity", "stat"),
        ("Free capacity", "stat"),
        ("Monitor up", "stat"),
        ("Last success age", "stat"),
        ("Accounts", "table"),
        ("Time to expiry", "timeseries"),
        ("Capacity", "timeseries"),
        ("Poll outcomes", "timeseries"),
        ("Poll duration", "timeseries"),
        ("Notifications by outcome", "timeseries"),
        ("useapi.net subscription", "stat"),
        ("Subscription renewed", "stat"),
        ("useapi.net accounts", "bargauge"),
        ("Requests by endpoint", "timeseries"),
        ("Plans", "table"),
        ("Time to plan end", "timeseries"),
        ("Credits by kind", "timeseries"),
        ("maxJobs vs plan concurrency", "timeseries"),
        ("Token refreshes", "timeseries"),
    ],
)
def test_the_panels_of_the_issue_exist(dashboard: dict[str, Any], title: str, kind: str) -> None:
    assert _panel(dashboard, title)["type"] == kind


def test_the_top_row_is_stat_panels(dashboard: dict[str, Any]) -> None:
    top = [p for p in dash.panels(dashboard) if p["gridPos"]["y"] == 0]
    assert {p["type"] for p in top} == {"stat"}
    assert sum(p["gridPos"]["w"] for p in top) == 24


def test_accounts_table_columns_sorting_and_colours(dashboard: dict[str, Any]) -> None:
    table = _panel(dashboard, "Accounts")
    assert all(t.get("instant") and t.get("format") == "table" for t in table["targets"])
    transforms = {t["id"]: t["options"] for t in table["transformations"]}
    columns = list(transforms["organize"]["renameByName"].values())
    assert columns == [
        "Source",
        "Account",
        "State",
        "Expires at",
        "TTL",
        "maxJobs",
        "Executing",
        "Available",
    ]
    assert transforms["sortBy"]["sort"] == [{"field": "TTL", "desc": False}]
    overrides = {
        o["matcher"]["options"]: {p["id"]: p["value"] for p in o["properties"]}
        for o in table["fieldConfig"]["overrides"]
    }
    state_colours = overrides["State"]["mappings"][0]["options"]
    assert set(state_colours) == {"ok", "warning", "critical", "expired", "unknown"}
    assert overrides["State"]["custom.cellOptions"]["type"] == "color-background"
    ttl_steps = overrides["TTL"]["thresholds"]["steps"]
    assert [s["value"] for s in ttl_steps] == [None, 0, 24 * 3600, 72 * 3600]
    assert overrides["TTL"]["unit"] == "s"
    assert overrides["Expires at"]["unit"] == "dateTimeAsIso"
    # The expiry is in seconds; dateTimeAsIso wants milliseconds.
    expiry = next(t for t in table["targets"] if "expiry_timestamp" in t["expr"])
    assert expiry["expr"].endswith("* 1000")


@pytest.mark.parametrize(
    ("title", "legends"),
    [
        ("Capacity", {"configured", "usable", "executing", "free", "minimum"}),
        ("Time to expiry", {"{{account}} ({{source}})", "warning threshold", "critical threshold"}),
    ],
)
def test_time_series_legends(dashboard: dict[str, Any], title: str, legends: set[str]) -> None:
    assert {t["legendFormat"] for t in _panel(dashboard, title)["targets"]} == legends


def test_every_query_is_valid_promql(dashboard: dict[str, Any], tmp_path: Path) -> None:
    """promtool parses each query, variables substituted, as a recording rule."""
    promtool = require_binary("promtool")
    values: dict[str, str | list[str]] = {
        "source": ["main", "second"],
        "account": ["a@x.io", "b.c+d@x.io"],
        **dash.default_values(dashboard),
    }
    rules = [
        {
            "record": f"dashboard:panel{q.panel_id}_{q.ref_id}",
            "expr": dash.substitute(q.expr, values),
        }
        for q in dash.queries(dashboard)
    ]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ('x{source=~"$source"}', {"source": ["a", "b"]}, 'x{source=~"(a|b)"}'),
        ('x{source=~"${source}"}', {"source": ["a"]}, 'x{source=~"a"}'),
        ('x{account=~"$account"}', {"account": ["a.b+c@x.io"]}, r'x{account=~"a\\.b\\+c@x\\.io"}'),
        ("vector($warning_hours * 3600)", {"warning_hours": "72"}, "vector(72 * 3600)"),
        ("rate(x[$__rate_interval])", {}, "rate(x[1m])"),
    ],
)
def test_substitution_is_grafanas(
    text: str, values: dict[str, str | list[str]], expected: str
) -> None:
    assert dash.substitute(text, values) == expected


# -- provisioning ----------------------------------------------------------------------------


def _yaml(relative: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((dash.GRAFANA / relative).read_text())
    return data


def test_dashboard_provider_reads_json_files_from_a_folder() -> None:
    config = _yaml("provisioning/dashboards/pixverse-monitor.yml")
    assert config["apiVersion"] == 1
    (provider,) = config["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"].startswith("/")


def test_datasource_example_is_a_default_prometheus() -> None:
    config = _yaml("provisioning/datasources/prometheus.yml")
    assert config["apiVersion"] == 1
    (source,) = config["datasources"]
    assert source["type"] == "prometheus"
    assert source["isDefault"] is True  # what the DS_PROMETHEUS variable picks by default
    assert source["url"].startswith("http")
    assert source["jsonData"]["timeInterval"]  # the scrape interval, for $__rate_interval
