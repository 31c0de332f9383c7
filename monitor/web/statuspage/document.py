"""/api/v1/status: what the status page shows, as one JSON object, every account included.
The fields are documented in docs/operations.md; an account's are those of `check --json`."""

from __future__ import annotations

from typing import Any

import orjson

from monitor.exposition import account_fields, subscription_fields
from monitor.timefmt import iso_utc
from monitor.web.statuspage.rows import AlertRow, DeliveryRow, SourceView
from monitor.web.statuspage.view import StatusView


def status_document(view: StatusView, now: float) -> bytes:
    accounts: dict[str, list[dict[str, Any]]] = {s.name: [] for s in view.sources}
    for entry in view.entries:
        accounts[entry.source].append(
            account_fields(entry.status, now, entry.plan, entry.plan_error)
        )
    document = {
        "generated_at": iso_utc(now),
        "version": view.facts.version,
        "external_url": view.facts.external_url,
        "status": view.status,
        "sources": [_source(s, accounts[s.name]) for s in view.sources],
        "alerts": [_alert(a) for a in view.alerts],
        "notifications": [
            {"sink": sink, "deliveries": [_delivery(d) for d in rows]} for sink, rows in view.sinks
        ],
    }
    return orjson.dumps(document) + b"\n"


def _source(source: SourceView, accounts: list[dict[str, Any]]) -> dict[str, Any]:
    success = source.last_success_unix
    return {
        "name": source.name,
        "up": source.up,
        "outcome": source.outcome,
        "last_success_at": iso_utc(success) if success is not None else None,
        "last_success_age_seconds": (
            round(source.age_seconds, 3) if source.age_seconds is not None else None
        ),
        "stale": source.stale,
        "subscription": (
            subscription_fields(source.subscription) if source.subscription is not None else None
        ),
        "totals": {
            "accounts": {state.value: n for state, n in source.by_state.items()},
            "usable_capacity": source.usable_capacity,
            "free_capacity": source.free_capacity,
            "min_usable_capacity": source.min_usable_capacity,
        },
        "accounts": accounts,
    }


def _alert(row: AlertRow) -> dict[str, Any]:
    return {
        "labels": dict(row.labels),
        "starts_at": iso_utc(row.since_unix),
        "summary": row.summary,
    }


def _delivery(row: DeliveryRow) -> dict[str, Any]:
    record = row.record
    subject = record.subject
    return {
        "at": iso_utc(record.at_unix),
        "outcome": record.outcome.value,
        "reason": record.reason.value if record.reason is not None else None,
        "why": record.why,
        "about": {
            "status": subject.status,
            "alertname": subject.alertname or None,
            "severity": subject.severity or None,
            "source": subject.source or None,
            "account": subject.account or None,
            "alerts": subject.alerts,
        },
    }
