"""/metrics: every metric family the daemon exports, defined once; and the JSON fields of an
account and a subscription that `check --json` and /api/v1/status share. The per-account and
per-source families are rendered by hand and cached per snapshot (account_families.py); the daemon's
own metrics are prometheus_client objects in a private registry (internal.py)."""

from __future__ import annotations

from types import MappingProxyType

from monitor.exposition.account_families import SNAPSHOT_FAMILIES, STATE
from monitor.exposition.internal import INTERNAL_FAMILIES, InternalMetrics
from monitor.exposition.jsonfields import ACCOUNT_KEYS, account_fields, subscription_fields
from monitor.exposition.plan_families import PLAN_FAMILIES
from monitor.exposition.renderer import CONTENT_TYPE, MetricsRenderer
from monitor.exposition.textformat import Family

# Every pixverse_* family /metrics can show, with its help text (process_* come from
# prometheus_client). The tests check the dashboard, the rules and promtool against it.
HELP = MappingProxyType(
    {f.name: f.help for f in (*SNAPSHOT_FAMILIES, *PLAN_FAMILIES, *INTERNAL_FAMILIES)}
)
ACCOUNT_STATE = STATE

__all__ = [
    "ACCOUNT_KEYS",
    "ACCOUNT_STATE",
    "CONTENT_TYPE",
    "HELP",
    "Family",
    "InternalMetrics",
    "MetricsRenderer",
    "account_fields",
    "subscription_fields",
]
