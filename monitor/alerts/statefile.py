"""Alert state and the outbox on disk, in one file written atomically (temp + fsync + rename),
so a restart neither repeats what was sent nor forgets what was pending."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson
import structlog

from monitor.alerts.alert import Alert, AlertName
from monitor.alerts.engine import AlertEvent, FiringAlert, Reason, Status
from monitor.alerts.outbox import Notification
from monitor.config import Severity
from monitor.errors import ConfigError

log = structlog.get_logger("monitor.statefile")

FILE_NAME = "state.json"
VERSION = 1


class StateFile:
    """The one durable file of the daemon."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / FILE_NAME

    def prepare(self) -> None:
        """Create the directory if needed and prove it is writable; a ConfigError if not."""
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            probe = self.directory / f".probe.{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise ConfigError(
                "alerts.state_dir", f"cannot write to {self.directory}: {exc.strerror or exc}"
            ) from None

    def load(self) -> tuple[dict[str, FiringAlert], list[Notification]]:
        """The saved alerts and outbox; empty when there is no file. A torn or corrupt file
        is logged, set aside for inspection, and replaced by a clean start."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}, []
        try:
            document = orjson.loads(raw)
            if not isinstance(document, dict) or document.get("version") != VERSION:
                raise ValueError(f"unknown format version {document.get('version')!r}")
            book = {}
            for item in document["alerts"]:
                firing = _firing_from(item)
                book[firing.alert.fingerprint] = firing
            outbox = [_notification_from(item) for item in document["outbox"]]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            aside = self.path.with_name(f"{FILE_NAME}.corrupt-{int(time.time())}")
            with contextlib.suppress(OSError):
                self.path.replace(aside)
            log.error("state.corrupt", path=str(self.path), moved_to=str(aside), error=str(exc))
            return {}, []
        log.info("state.loaded", path=str(self.path), alerts=len(book), pending=len(outbox))
        return book, outbox

    def save(self, book: Mapping[str, FiringAlert], outbox: Iterable[Notification]) -> None:
        document = {
            "version": VERSION,
            "saved_at_unix": time.time(),
            "alerts": [_firing_to(f) for f in book.values()],
            "outbox": [_notification_to(n) for n in outbox],
        }
        data = orjson.dumps(document)
        temporary = self.directory / f".{FILE_NAME}.{os.getpid()}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            try:
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise
        # The rename itself must reach the disk too.
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def _alert_to(alert: Alert) -> dict[str, Any]:
    return {
        "name": alert.name.value,
        "severity": alert.severity.value,
        "source": alert.source,
        "account": alert.account,
        "summary": alert.summary,
        "description": alert.description,
        "details": dict(alert.details),
        "labels": [list(pair) for pair in alert.extra_labels],
    }


def _alert_from(item: dict[str, Any]) -> Alert:
    details = item["details"]
    if not isinstance(details, dict) or not all(isinstance(v, str) for v in details.values()):
        raise ValueError("alert details must be an object of strings")
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


def _firing_to(firing: FiringAlert) -> dict[str, Any]:
    return {
        "alert": _alert_to(firing.alert),
        "starts_at_unix": firing.starts_at_unix,
        "notified_unix": firing.notified_unix,
        "peak_severity": firing.peak_severity.value,
    }


def _firing_from(item: dict[str, Any]) -> FiringAlert:
    return FiringAlert(
        _alert_from(item["alert"]),
        _float(item["starts_at_unix"]),
        _float(item["notified_unix"]),
        Severity(item["peak_severity"]),
    )


def _notification_to(notification: Notification) -> dict[str, Any]:
    event = notification.event
    return {
        "sink": notification.sink,
        "attempts": notification.attempts,
        "next_attempt_unix": notification.next_attempt_unix,
        "event": {
            "id": event.id,
            "status": event.status.value,
            "reason": event.reason.value,
            "alert": _alert_to(event.alert),
            "starts_at_unix": event.starts_at_unix,
            "ends_at_unix": event.ends_at_unix,
            "at_unix": event.at_unix,
            "peak_severity": event.peak_severity.value,
        },
    }


def _notification_from(item: dict[str, Any]) -> Notification:
    event = item["event"]
    ends = event["ends_at_unix"]
    return Notification(
        AlertEvent(
            id=_str(event["id"]),
            status=Status(event["status"]),
            reason=Reason(event["reason"]),
            alert=_alert_from(event["alert"]),
            starts_at_unix=_float(event["starts_at_unix"]),
            ends_at_unix=None if ends is None else _float(ends),
            at_unix=_float(event["at_unix"]),
            peak_severity=Severity(event["peak_severity"]),
        ),
        sink=_str(item["sink"]),
        attempts=int(item["attempts"]),
        next_attempt_unix=_float(item["next_attempt_unix"]),
    )


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
    return value


def _float(value: object) -> float:
    if type(value) not in (int, float):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    return float(value)  # type: ignore[arg-type]
