"""docs/metrics.md against what the daemon exports: every metric family it defines is in the
doc and the doc names no other, with the family's type, the labels a live /metrics body
shows, and every value of each label the doc lists."""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.config.model import Severity
from monitor.errors import DeliveryFailure, DeliveryOutcome, Outcome, SaveFailure, Task
from monitor.evaluate import STATES
from monitor.exposition import HELP, Family
from monitor.exposition.account_families import SNAPSHOT_FAMILIES
from monitor.exposition.internal import INTERNAL_FAMILIES
from monitor.exposition.plan_families import PLAN_FAMILIES
from monitor.testing.fakeapi import FakeUpstream
from monitor.upstream import Endpoint
from monitor.upstream.features import CreditKind
from monitor.upstream.parse import ExpirySource
from tests.helpers import ConfigWriter
from tests.helpers.inprocess import every_family_body

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
FAMILIES: dict[str, Family] = {
    f.name: f for f in (*SNAPSHOT_FAMILIES, *PLAN_FAMILIES, *INTERNAL_FAMILIES)
}
# | `name` | type | labels | meaning |
ROW = re.compile(r"^\| `((?:pixverse|process)_[\w*]+)` \|\s*(\w*)\s*\|\s*([\w, ]*?)\s*\|.+\|$")


def documented() -> dict[str, tuple[str, frozenset[str]]]:
    """Each metric of the doc's tables: (type, label names)."""
    found: dict[str, tuple[str, frozenset[str]]] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if match := ROW.match(line):
            name, kind, labels = match.groups()
            assert name not in found, f"{name} documented twice"
            found[name] = (kind, frozenset(filter(None, re.split(r",\s*", labels))))
    return found


def label_values(row_title: str) -> set[str]:
    """The backticked values of a row of the "Label values" table, what is in parentheses
    (the upstream field a value stands for, a pointer) left out."""
    section = DOC.read_text(encoding="utf-8").split("## Label values", 1)[1]
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 2 and cells[0] == row_title:
            values = re.sub(r"\([^()]*\)", "", cells[1])
            return set(re.findall(r"`([^`]+)`", values))
    raise AssertionError(f"no row {row_title!r} in the label values table")


def test_the_doc_names_every_family_and_no_other() -> None:
    names = set(documented()) - {"process_*"}
    assert names == set(HELP), {
        "missing from docs/metrics.md": set(HELP) - names,
        "not exported": names - set(HELP),
    }
    assert "process_*" in documented()


def test_each_type_is_the_familys() -> None:
    wrong = {
        name: (kind, FAMILIES[name].type)
        for name, (kind, _) in documented().items()
        if name in FAMILIES and kind != FAMILIES[name].type
    }
    assert not wrong, wrong


@pytest.mark.anyio
async def test_each_label_set_is_the_one_metrics_shows(
    fake: FakeUpstream, configs: ConfigWriter, now: float
) -> None:
    """A live body (every state, plans and the subscription read) gives the labels of every
    family it has samples of; the daemon's own families without samples here (no sink is
    configured) have theirs written in their definition."""
    shown: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(await every_family_body(fake, configs, now)):
        for sample in family.samples:
            base = sample.name if sample.name in FAMILIES else family.name
            shown.setdefault(base, set()).update(sample.labels)
    wrong = {}
    for name, (_, labels) in documented().items():
        if name not in FAMILIES:
            continue
        actual = shown.get(name, set(FAMILIES[name].labels))
        if labels != actual:
            wrong[name] = {"documented": sorted(labels), "exported": sorted(actual)}
    assert not wrong, wrong


def _values(enum: Iterable[StrEnum]) -> set[str]:
    return {member.value for member in enum}


@pytest.mark.parametrize(
    ("row", "values"),
    [
        ("`outcome` of polls and requests", _values(Outcome)),
        ("`endpoint`", _values(Endpoint)),
        ("`outcome` of notifications", _values(DeliveryOutcome)),
        ("`reason` of notification failures", _values(DeliveryFailure)),
        ("`reason` of state saves", _values(SaveFailure)),
        ("`task`", _values(Task)),
        ("`severity`", _values(Severity)),
        ("`expiry_source`", _values(ExpirySource)),
        ("`kind`", _values(CreditKind)),
    ],
)
def test_every_label_value_is_listed_and_no_other(row: str, values: set[str]) -> None:
    assert label_values(row) == values


def test_every_state_is_listed() -> None:
    assert label_values("`state`") == _values(STATES)
