"""One module per sink type (webhook, slack, alertmanager), each shaping the request it sends;
the one HTTP attempt they share (http.py); and the sender that puts them together."""

from __future__ import annotations

from monitor.alerts.sinks.alertmanager import ALERTMANAGER_RESEND_SECONDS
from monitor.alerts.sinks.http import SendResult
from monitor.alerts.sinks.sender import Sender
from monitor.alerts.sinks.webhook import SIGNATURE_HEADER, verify_signature

__all__ = [
    "ALERTMANAGER_RESEND_SECONDS",
    "SIGNATURE_HEADER",
    "SendResult",
    "Sender",
    "verify_signature",
]
