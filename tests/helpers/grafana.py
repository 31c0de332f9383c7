"""The shipped Grafana dashboard as the tests see it: its panel queries and variables, and
Grafana's substitution of those variables into PromQL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "grafana"
DASHBOARD = GRAFANA / "pixverse-monitor.json"
DATASOURCE_REF = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}

# What the Grafana Prometheus data source puts in place of its built-in interval variables;
# the values a dashboard sees with a scrape interval of 15s or less.
BUILTINS = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "1h",
    "__range_s": "3600",
}

_VARIABLE = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))")
_LABEL_VALUES = re.compile(r"^\s*label_values\((?:(.*),\s*)?(\w+)\s*\)\s*$", re.DOTALL)
# Regex metacharacters Grafana escapes in multi-value variables, with a backslash that is
# itself escaped inside a PromQL string literal.
_REGEX_SPECIAL = re.compile(r"([\\^$.|?*+()\[\]{}])")


@dataclass(frozen=True)
class PanelQuery:
    """One target of one panel."""

    panel_id: int
    panel_title: str
    ref_id: str
    expr: str
    instant: bool

    @property
    def key(self) -> tuple[str, str]:
        return (self.panel_title, self.ref_id)


@dataclass(frozen=True)
class LabelValuesVariable:
    """A `label_values(selector, label)` query variable."""

    name: str
    selector: str  # "" for every series
    label: str


def load() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows included, and the panels inside collapsed rows."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def queries(dashboard: Mapping[str, Any]) -> list[PanelQuery]:
    return [
        PanelQuery(
            panel_id=panel["id"],
            panel_title=panel["title"],
            ref_id=target["refId"],
            expr=target["expr"],
            instant=bool(target.get("instant", False)),
        )
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
    ]


def variables(dashboard: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in dashboard["templating"]["list"]}


def label_values_variables(dashboard: Mapping[str, Any]) -> list[LabelValuesVariable]:
    """The query variables, in dashboard order (a later one may use an earlier one)."""
    found = []
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]
        text = query if isinstance(query, str) else query["query"]
        match = _LABEL_VALUES.match(text)
        assert match, f"variable {variable['name']}: not a label_values() query: {text!r}"
        found.append(LabelValuesVariable(variable["name"], match.group(1) or "", match.group(2)))
    return found


def referenced_variables(text: str) -> set[str]:
    return {m.group(1) or m.group(2) for m in _VARIABLE.finditer(text)}


def regex_escape(value: str) -> str:
    """A value of a multi-value variable as Grafana writes it into a PromQL regex matcher."""
    return _REGEX_SPECIAL.sub(r"\\\\\1", value)


def substitute(text: str, values: Mapping[str, str | Sequence[str]]) -> str:
    """Replace `$name` and `${name}` as Grafana does for the Prometheus data source: a list
    becomes `(a|b)` of regex-escaped values; a string is put in as it is."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name in BUILTINS:
            return BUILTINS[name]
        if name not in values:
            raise KeyError(f"no value for ${name} in {text!r}")
        value = values[name]
        if isinstance(value, str):
            return value
        escaped = [regex_escape(v) for v in value]
        return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"

    return _VARIABLE.sub(replace, text)


def all_selected(variable: Mapping[str, Any], values: Sequence[str]) -> str | list[str]:
    """What Grafana puts in for "All": the variable's custom all value, else every value."""
    all_value = variable.get("allValue")
    return str(all_value) if all_value else list(values)


def default_values(dashboard: Mapping[str, Any]) -> dict[str, str]:
    """The defaults of the textbox and constant variables (the thresholds)."""
    return {
        v["name"]: str(v["query"])
        for v in dashboard["templating"]["list"]
        if v["type"] in ("textbox", "constant", "custom")
    }


def metric_names(expr: str) -> set[str]:
    """The pixverse metric names an expression reads."""
    return set(re.findall(r"\bpixverse_[a-z_]+\b", expr))
