"""Alerts: the pure engine, the book of firing alerts kept on disk, the durable outbox and its
delivery to the sinks, and the record of recent deliveries."""

from __future__ import annotations

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
