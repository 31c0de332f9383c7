"""Alertmanager API v2: postable alerts, re-sent while firing, ended on resolution. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from monitor.alerts.engine import Alert
from monitor.timefmt import rfc3339

# A firing alert posted to Alertmanager stays firing this long unless posted again; we post
# every minute, so it only lapses when every monitor replica is gone.
ALERTMANAGER_RESEND_SECONDS = 60.0
ALERTMANAGER_VALIDITY_SECONDS = 4 * ALERTMANAGER_RESEND_SECONDS


def alertmanager_alert(
    alert: Alert, starts_at_unix: float, ends_at_unix: float, external_url: str
) -> dict[str, Any]:
    """One postable alert of Alertmanager's API v2."""
    return {
        "labels": alert.labels,
        "annotations": alert.annotations,
        "startsAt": rfc3339(starts_at_unix),
        "endsAt": rfc3339(ends_at_unix),
        "generatorURL": f"{external_url}/metrics",
    }


def alertmanager_body(
    events: Sequence[tuple[Alert, float, float | None]], now: float, external_url: str
) -> bytes:
    """POST /api/v2/alerts body: firing alerts valid for a few re-send periods, resolved ones
    with their end. Each item is (alert, starts_at, ended_at or None)."""
    return orjson.dumps(
        [
            alertmanager_alert(
                alert,
                starts,
                ended if ended is not None else now + ALERTMANAGER_VALIDITY_SECONDS,
                external_url,
            )
            for alert, starts, ended in events
        ]
    )
