"""Alerts: the pure engine, the book of firing alerts kept on disk, the durable outbox and its
delivery to the sinks, and the record of recent deliveries."""

from __future__ import annotations

from typing import TYPE_CHECKING

from monitor import lazy_face

if TYPE_CHECKING:
    from monitor.alerts.alert import Alert
    from monitor.alerts.alerting import Alerting
    from monitor.alerts.engine import AlertEvent, FiringAlert, notify_test_event
    from monitor.alerts.outbox import (
        BACKOFF_BASE_SECONDS,
        BACKOFF_CAP_SECONDS,
        Notification,
        new_notification,
    )
    from monitor.alerts.plan_alerts import plan_conditions
    from monitor.alerts.recent import DeliveryRecord, RecentDeliveries, Subject
    from monitor.alerts.sinks import SIGNATURE_HEADER, Sender, SendResult, verify_signature

__all__ = [
    "BACKOFF_BASE_SECONDS",
    "BACKOFF_CAP_SECONDS",
    "SIGNATURE_HEADER",
    "Alert",
    "AlertEvent",
    "Alerting",
    "DeliveryRecord",
    "FiringAlert",
    "Notification",
    "RecentDeliveries",
    "SendResult",
    "Sender",
    "Subject",
    "new_notification",
    "notify_test_event",
    "plan_conditions",
    "verify_signature",
]

__getattr__ = lazy_face(
    __name__,
    {
        "alert": ("Alert",),
        "alerting": ("Alerting",),
        "engine": ("AlertEvent", "FiringAlert", "notify_test_event"),
        "outbox": (
            "BACKOFF_BASE_SECONDS",
            "BACKOFF_CAP_SECONDS",
            "Notification",
            "new_notification",
        ),
        "plan_alerts": ("plan_conditions",),
        "recent": ("DeliveryRecord", "RecentDeliveries", "Subject"),
        "sinks": ("SIGNATURE_HEADER", "Sender", "SendResult", "verify_signature"),
    },
)
