"""The shipped Prometheus rules and example config, through the real promtool: syntax, the
unit tests, and that those unit tests cover, and depend on, every rule."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.clock import SKEW_LIMIT_SECONDS
from monitor.exposition import HELP
from monitor.timefmt import format_ttl
from tests.helpers import require_binary
from tests.helpers.grafana import GRAFANA

RULES = GRAFANA / "prometheus-rules.yml"
RULE_TESTS = GRAFANA / "prometheus-rules.test.yml"
SCRAPE_CONFIG = GRAFANA / "prometheus-scrape.yml"

# The daemon's alerts (docs/alerts.md), plus the monitor watching itself (docs/operations.md).
EXPECTED_ALERTS = {
    ("PixverseTokenExpiringSoon", "warning"),
    ("PixverseTokenExpiringSoon", "critical"),
    ("PixverseTokenExpired", "critical"),
    ("PixverseTokenExpiryUnknown", "warning"),
    ("PixverseCapacityLow", "warning"),
    ("PixverseSourceDown", "critical"),
    ("PixverseMonitorDown", "critical"),
    ("PixverseMonitorClockSkew", "warning"),
    # The useapi.net subscription and the PixVerse plans.
    ("PixverseUseapiSubscriptionInactive", "critical"),
    ("PixverseUseapiAccountsInError", "warning"),
    ("PixversePlanExpiringSoon", "warning"),
    ("PixversePlanExpiringSoon", "critical"),
    ("PixverseCreditsLow", "warning"),
    ("PixverseMaxJobsAbovePlan", "warning"),
    # The monitor itself.
    ("PixverseMonitorNotificationsDropped", "warning"),
    ("PixverseMonitorNotificationsFailing", "warning"),
    ("PixverseMonitorReloadFailed", "warning"),
    ("PixverseMonitorTaskErrors", "warning"),
    ("PixverseMonitorEndpointFailing", "warning"),
    ("PixverseMonitorStateNotSaved", "warning"),
}
# Alerts about one monitor process, not about the accounts: they keep `job` and `instance`,
# so that the alert says which replica is failing.
SELF_ALERTS = {
    "PixverseMonitorNotificationsDropped",
    "PixverseMonitorNotificationsFailing",
    "PixverseMonitorReloadFailed",
    "PixverseMonitorTaskErrors",
    "PixverseMonitorEndpointFailing",
    "PixverseMonitorStateNotSaved",
}
ACCOUNT_ALERTS = {"PixverseTokenExpiringSoon", "PixverseTokenExpired", "PixverseTokenExpiryUnknown"}
# The alerts that judge by daemon settings, which the daemon exports rather than the rules
# repeating them.
CONFIGURED_ALERTS = {
    "PixverseCapacityLow",
    "PixverseSourceDown",
    "PixversePlanExpiringSoon",
    "PixverseCreditsLow",
}


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def _rules() -> list[dict[str, Any]]:
    return [rule for group in _load(RULES)["groups"] for rule in group["rules"]]


def _alert_rules() -> list[dict[str, Any]]:
    return [rule for rule in _rules() if "alert" in rule]


def _promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_binary("promtool"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=False,
    )


def test_promtool_check_rules() -> None:
    result = _promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


def test_promtool_check_config_of_the_example_scrape_config() -> None:
    result = _promtool("check", "config", str(SCRAPE_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout


def test_promtool_test_rules() -> None:
    result = _promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_alerts_are_those_documented() -> None:
    found = {(rule["alert"], rule["labels"]["severity"]) for rule in _alert_rules()}
    assert found == EXPECTED_ALERTS


@pytest.mark.parametrize(
    "rule", _alert_rules(), ids=lambda r: f"{r['alert']}-{r['labels']['severity']}"
)
def test_alert_annotations(rule: dict[str, Any]) -> None:
    annotations = set(rule["annotations"])
    assert {"summary", "description"} <= annotations
    if rule["alert"] in ACCOUNT_ALERTS:
        assert "max_jobs" in annotations
    if rule["alert"] in {"PixverseTokenExpiringSoon", "PixverseTokenExpired"}:
        assert {"expires_at", "ttl_seconds"} <= annotations


@pytest.mark.parametrize("alertname", sorted(SELF_ALERTS))
def test_alerts_about_the_monitor_keep_its_instance(alertname: str) -> None:
    """Several replicas make one alert about an account, but each replica fails on its own."""
    (rule,) = [r for r in _alert_rules() if r["alert"] == alertname]
    groupings = re.findall(r"\bby \(([^)]*)\)", rule["expr"])
    assert groupings
    for grouping in groupings:
        labels = {label.strip() for label in grouping.split(",")}
        assert {"job", "instance"} <= labels, (alertname, grouping)


def test_the_rules_query_only_what_the_daemon_exports() -> None:
    """A misspelt metric would make an alert that never fires, and no unit test would notice
    if its input series were misspelt alike."""
    for rule in _rules():
        texts = [rule["expr"], *rule.get("annotations", {}).values()]
        used = {name for text in texts for name in re.findall(r"\bpixverse_\w+", text)}
        assert used <= set(HELP), (rule.get("alert"), used - set(HELP))


@pytest.mark.parametrize("alertname", sorted(CONFIGURED_ALERTS))
def test_no_setting_of_the_daemon_is_repeated(alertname: str) -> None:
    """No minimum, no stale_after and no time window written into the rule: it compares with
    what the daemon exports, so it follows the daemon's config, reloads included."""
    rules = [r for r in _alert_rules() if r["alert"] == alertname]
    assert rules
    for rule in rules:  # one per severity
        assert "[" not in rule["expr"]  # no range selector, no subquery
        assert "offset" not in rule["expr"]
        assert set(re.findall(r"\b\d+(?:\.\d+)?\b", rule["expr"])) <= {"1"}  # `== 1` only
        # Straight from the daemon's series, not through a recording rule holding a constant.
        assert set(re.findall(r"\bpixverse[\w:]*", rule["expr"])) <= set(HELP)


def test_the_clock_skew_limit_is_the_daemons() -> None:
    """A fixed limit of the daemon, not a setting: written in the rule, and checked here."""
    (rule,) = [r for r in _alert_rules() if r["alert"] == "PixverseMonitorClockSkew"]
    assert rule["expr"].strip().endswith(f"> {SKEW_LIMIT_SECONDS:g}")
    assert format_ttl(SKEW_LIMIT_SECONDS) in rule["annotations"]["description"]


def test_the_example_scrape_config_overrides_nothing_of_yours() -> None:
    """Merged into an existing prometheus.yml, a `global:` block would silently replace the
    reader's own scrape and evaluation intervals."""
    assert set(_load(SCRAPE_CONFIG)) == {"rule_files", "alerting", "scrape_configs"}


def test_the_example_scrape_job_is_the_one_the_rules_watch() -> None:
    (job,) = _load(SCRAPE_CONFIG)["scrape_configs"]
    monitor_down = next(r for r in _alert_rules() if r["alert"] == "PixverseMonitorDown")
    assert f'job="{job["job_name"]}"' in monitor_down["expr"]
    assert _load(SCRAPE_CONFIG)["rule_files"] == [RULES.name]


def _eval_steps(alertname: str) -> Iterator[list[tuple[int, set[str]]]]:
    """Per test group: (eval minute, severities expected firing) for `alertname`, in time order."""
    for group in _load(RULE_TESTS)["tests"]:
        steps = []
        for case in group.get("alert_rule_test", []):
            if case["alertname"] != alertname:
                continue
            minutes = int(case["eval_time"].removesuffix("m"))
            severities = {a["exp_labels"]["severity"] for a in case["exp_alerts"]}
            steps.append((minutes, severities))
        if steps:
            yield sorted(steps)


@pytest.mark.parametrize(("alertname", "severity"), sorted(EXPECTED_ALERTS))
def test_each_alert_is_tested_not_firing_firing_and_resolved(alertname: str, severity: str) -> None:
    """Some test group sees the alert absent, then firing with this severity, then resolved."""
    for steps in _eval_steps(alertname):
        for i, (_, severities) in enumerate(steps):
            if severity not in severities:
                continue
            before = any(not s for _, s in steps[:i])
            after = any(not s for _, s in steps[i + 1 :])
            if before and after:
                return
    pytest.fail(f"no test group sees {alertname} ({severity}) not firing, firing, then resolved")


@pytest.mark.parametrize(
    "index", range(len(_rules())), ids=[r.get("alert") or r["record"] for r in _rules()]
)
def test_the_unit_tests_fail_without_each_rule(index: int, tmp_path: Path) -> None:
    """Drop one rule: promtool test rules must notice, or that rule is not really tested."""
    rules = _load(RULES)
    dropped = [r for g in rules["groups"] for r in g["rules"]][index]
    for group in rules["groups"]:
        group["rules"] = [r for r in group["rules"] if r is not dropped]
    (tmp_path / RULES.name).write_text(yaml.safe_dump(rules, sort_keys=False))
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    result = _promtool("test", "rules", RULE_TESTS.name, cwd=tmp_path)
    assert result.returncode != 0, result.stdout
