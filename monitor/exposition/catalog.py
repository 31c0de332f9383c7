"""The families /metrics can show, as other stages name them: every pixverse_* family with its
help text (process_* come from prometheus_client), and the account state family."""

from __future__ import annotations

from types import MappingProxyType

from monitor.exposition.account_families import SNAPSHOT_FAMILIES, STATE
from monitor.exposition.internal import INTERNAL_FAMILIES
from monitor.exposition.plan_families import PLAN_FAMILIES

# The tests check the dashboard, the rules and promtool against it.
HELP = MappingProxyType(
    {f.name: f.help for f in (*SNAPSHOT_FAMILIES, *PLAN_FAMILIES, *INTERNAL_FAMILIES)}
)
ACCOUNT_STATE = STATE
