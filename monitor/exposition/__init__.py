"""/metrics: every metric family the daemon exports, defined once; and the JSON fields of an
account and a subscription that `check --json` and /api/v1/status share. The per-account and
per-source families are rendered by hand and cached per snapshot (renderer.py), each account's
lines kept for the next snapshot (account_lines.py); the daemon's own metrics are
prometheus_client objects in a private registry (internal.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from monitor import lazy_face

if TYPE_CHECKING:
    from monitor.exposition.catalog import ACCOUNT_STATE, HELP
    from monitor.exposition.internal import InternalMetrics
    from monitor.exposition.jsonfields import ACCOUNT_KEYS, account_fields, subscription_fields
    from monitor.exposition.renderer import CONTENT_TYPE, MetricsRenderer
    from monitor.exposition.textformat import Family

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

__getattr__ = lazy_face(
    __name__,
    {
        "catalog": ("ACCOUNT_STATE", "HELP"),
        "internal": ("InternalMetrics",),
        "jsonfields": ("ACCOUNT_KEYS", "account_fields", "subscription_fields"),
        "renderer": ("CONTENT_TYPE", "MetricsRenderer"),
        "textformat": ("Family",),
    },
)
