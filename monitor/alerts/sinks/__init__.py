"""One module per sink type (webhook, slack, alertmanager), each shaping what it receives,
and the one HTTP attempt they share."""

from __future__ import annotations

from monitor.alerts.sinks.http import Sender, SendResult
from monitor.alerts.sinks.webhook import SIGNATURE_HEADER, verify_signature

__all__ = ["SIGNATURE_HEADER", "SendResult", "Sender", "verify_signature"]
