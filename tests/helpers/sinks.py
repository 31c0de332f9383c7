"""Sink configurations for the delivery and sink tests."""

from __future__ import annotations

from datetime import timedelta

from monitor.config import redact_url
from monitor.config.model import Severity, SinkConfig, SinkType
from monitor.secret import Secret


def sink_config(
    name: str,
    url: str,
    kind: SinkType = SinkType.WEBHOOK,
    *,
    secret: str | None = None,
    min_severity: Severity = Severity.WARNING,
    send_resolved: bool = True,
    timeout: float = 2.0,
    resolve_grace: float = 0.0,
) -> SinkConfig:
    return SinkConfig(
        name,
        kind,
        Secret(url),
        redact_url(url),
        None,
        Secret(secret) if secret else None,
        None,
        min_severity,
        send_resolved,
        timedelta(seconds=timeout),
        timedelta(seconds=resolve_grace),
    )
