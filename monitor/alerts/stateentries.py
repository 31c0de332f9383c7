"""The entries of the state file, each written as JSON and read back range-checked: a firing
alert of the book, and a notification of the outbox (version 2: a group of events for one
sink, with the parts of it already sent; version 1, one event a notification, is still read)."""

from __future__ import annotations

from typing import Any

from monitor.alerts.alert import Alert, AlertName
from monitor.alerts.engine import AlertEvent, AlertStatus, FiringAlert, Reason
from monitor.alerts.outbox import Notification
from monitor.config import Severity
from monitor.timefmt import MAX_UNIX

# The most attempts a saved notification may say it has had: backoff caps at 5 min, so this
# is years of retrying; a larger count is a damaged entry.
MAX_SAVED_ATTEMPTS = 1_000_000
# Longest text of an entry, saved or loaded. Names (source, account, sink, labels) are capped
# far below it where they enter (the config, the upstream parser); the texts made of them
# (summary, description, details) are cut to it on saving: they are made again from the data
# at the next evaluation.
MAX_TEXT = 64 * 1024
_ELLIPSIS = "…"
# What a damaged entry raises when it is read back.
DAMAGE = (ValueError, KeyError, TypeError, AttributeError, OverflowError)


def _alert_to(alert: Alert) -> dict[str, Any]:
    return {
        "name": alert.name.value,
        "severity": alert.severity.value,
        "source": _name_to(alert.source),
        "account": _name_to(alert.account),
        "summary": _text_to(alert.summary),
        "description": _text_to(alert.description),
        "details": {_name_to(k): _text_to(v) for k, v in alert.details.items()},
        "labels": [[_name_to(name), _name_to(value)] for name, value in alert.extra_labels],
    }


def _alert_from(item: dict[str, Any]) -> Alert:
    details = item["details"]
    if not isinstance(details, dict):
        raise ValueError("alert details must be an object of strings")
    details = {_str(k): _str(v) for k, v in details.items()}
    return Alert(
        AlertName(item["name"]),
        Severity(item["severity"]),
        _str(item["source"]),
        _str(item["account"]),
        _str(item["summary"]),
        _str(item["description"]),
        details,
        _labels(item.get("labels", [])),  # absent in files written before [[accounts]]
    )


def firing_to(firing: FiringAlert) -> dict[str, Any]:
    return {
        "alert": _alert_to(firing.alert),
        "starts_at_unix": firing.starts_at_unix,
        "notified_unix": firing.notified_unix,
        "peak_severity": firing.peak_severity.value,
    }


def firing_from(item: dict[str, Any]) -> FiringAlert:
    return FiringAlert(
        _alert_from(item["alert"]),
        _unix(item["starts_at_unix"]),
        _unix(item["notified_unix"]),
        Severity(item["peak_severity"]),
    )


def notification_to(notification: Notification) -> dict[str, Any]:
    return {
        "id": _name_to(notification.id),
        "sink": _name_to(notification.sink),
        "attempts": notification.attempts,
        "next_attempt_unix": notification.next_attempt_unix,
        "parts_sent": notification.parts_sent,
        "held": notification.held,
        "events": [_event_to(event) for event in notification.events],
    }


def notification_from(item: dict[str, Any], version: int) -> Notification:
    """A notification as saved by this version of the file, or by version 1 (one event)."""
    attempts = _count(item["attempts"], "attempts", MAX_SAVED_ATTEMPTS)
    if version == 1:
        event = _event_from(item["event"])
        return Notification(
            event.id,
            _str(item["sink"]),
            (event,),
            attempts,
            _unix(item["next_attempt_unix"]),
        )
    events = item["events"]
    if type(events) is not list or not events:
        raise ValueError("a notification needs a non-empty array of events")
    held = item["held"]
    if type(held) is not bool:
        raise TypeError(f"held must be true or false, got {held!r}")
    return Notification(
        _id(item["id"]),
        _str(item["sink"]),
        tuple(_event_from(event) for event in events),
        attempts,
        _unix(item["next_attempt_unix"]),
        _count(item["parts_sent"], "parts_sent", len(events)),
        held,
    )


def _event_to(event: AlertEvent) -> dict[str, Any]:
    return {
        "id": _name_to(event.id),
        "status": event.status.value,
        "reason": event.reason.value,
        "alert": _alert_to(event.alert),
        "starts_at_unix": event.starts_at_unix,
        "ends_at_unix": event.ends_at_unix,
        "at_unix": event.at_unix,
        "peak_severity": event.peak_severity.value,
    }


def _event_from(event: dict[str, Any]) -> AlertEvent:
    ends = event["ends_at_unix"]
    return AlertEvent(
        id=_id(event["id"]),
        status=AlertStatus(event["status"]),
        reason=Reason(event["reason"]),
        alert=_alert_from(event["alert"]),
        starts_at_unix=_unix(event["starts_at_unix"]),
        ends_at_unix=None if ends is None else _unix(ends),
        at_unix=_unix(event["at_unix"]),
        peak_severity=Severity(event["peak_severity"]),
    )


def _id(value: object) -> str:
    ident = _str(value)
    if not ident:
        raise ValueError("a notification needs an id")
    return ident


def _count(value: object, name: str, most: int) -> int:
    if type(value) is not int or not 0 <= value <= most:
        raise ValueError(f"{name} must be an integer 0..{most}, got {value!r}")
    return value


def _labels(value: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list):
        raise TypeError("alert labels must be an array")
    pairs = []
    for pair in value:
        if not isinstance(pair, list) or len(pair) != 2:
            raise TypeError("an alert label must be a [name, value] pair")
        pairs.append((_str(pair[0]), _str(pair[1])))
    return tuple(pairs)


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    if len(value) > MAX_TEXT:
        raise ValueError(f"a string of {len(value)} characters is too long")
    return value


def _name_to(value: str) -> str:
    """A name as saved: whole, or not at all (it is what tells an alert from another)."""
    return _str(value)


def _text_to(value: str) -> str:
    """A text made from the data as saved: cut to MAX_TEXT when longer."""
    if len(value) <= MAX_TEXT:
        return value
    return value[: MAX_TEXT - len(_ELLIPSIS)] + _ELLIPSIS


def _unix(value: object) -> float:
    """A time as the daemon writes it: Unix seconds between 1970 and the year 9999."""
    if type(value) not in (int, float):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    seconds = float(value)  # type: ignore[arg-type]
    if not 0.0 <= seconds <= MAX_UNIX:  # NaN fails too
        raise ValueError(f"time {seconds!r} is out of range")
    return seconds
