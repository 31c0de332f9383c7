"""Alert state and the outbox on disk, in one file written atomically (temp + fsync + rename),
so a restart neither repeats what was sent nor forgets what was pending. Every value read back
is range-checked: a damaged entry costs itself, a damaged file is set aside. Saving keeps the
same limits as loading, so that whatever is saved can be loaded again."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import orjson
import structlog

from monitor.alerts.alert import Alert, AlertName
from monitor.alerts.engine import AlertEvent, AlertStatus, FiringAlert, Reason
from monitor.alerts.outbox import Notification
from monitor.config import Severity
from monitor.errors import ConfigError
from monitor.timefmt import MAX_UNIX

log = structlog.get_logger("monitor.statefile")

FILE_NAME = "state.json"
VERSION = 1
# Far more than the outbox can hold (10,000 notifications a sink): anything larger is not a
# state file this daemon wrote, and a save that would be larger is refused.
MAX_FILE_BYTES = 256 * 1024 * 1024
# The most attempts a saved notification may say it has had: backoff caps at 5 min, so this
# is years of retrying; a larger count is a damaged entry.
MAX_SAVED_ATTEMPTS = 1_000_000
# Longest text of an entry, saved or loaded. Names (source, account, sink, labels) are capped
# far below it where they enter (the config, the upstream parser); the texts made of them
# (summary, description, details) are cut to it on saving: they are made again from the data
# at the next evaluation.
MAX_TEXT = 64 * 1024
_ELLIPSIS = "…"
_DAMAGE = (ValueError, KeyError, TypeError, AttributeError, OverflowError)


class Encoded(NamedTuple):
    """The file's content, and what could not go in it."""

    data: bytes | None  # None: larger than MAX_FILE_BYTES, so no save (the file stays)
    left_out: tuple[str, ...] = ()  # entries not saved: a name over MAX_TEXT, and which


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
        """The saved alerts and outbox; empty when there is no file. A damaged entry is
        dropped and the rest kept; a file that cannot be read as a whole (torn, corrupt,
        not a regular file) is set aside for inspection and replaced by a clean start. A
        file that exists but cannot be opened is a ConfigError (start-up exits 2)."""
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return {}, []
        except OSError as exc:
            raise ConfigError(
                "alerts.state_dir", f"cannot read {self.path}: {exc.strerror or exc}"
            ) from None
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
            # A FIFO would block start-up for ever, /dev/zero fill the memory.
            self._set_aside("not a regular file of at most 256 MiB", move=True)
            return {}, []
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            raise ConfigError(
                "alerts.state_dir", f"cannot read {self.path}: {exc.strerror or exc}"
            ) from None
        try:
            document = orjson.loads(raw)
            if not isinstance(document, dict) or document.get("version") != VERSION:
                version = document.get("version") if isinstance(document, dict) else None
                raise ValueError(f"unknown format version {version!r}")
            alerts, outbox = document["alerts"], document["outbox"]
            if type(alerts) is not list or type(outbox) is not list:
                raise TypeError("alerts and outbox must be arrays")
        except _DAMAGE as exc:
            self._set_aside(str(exc), move=True)
            return {}, []
        book: dict[str, FiringAlert] = {}
        pending: list[Notification] = []
        dropped: list[str] = []
        for item in alerts:
            try:
                firing = _firing_from(item)
            except _DAMAGE as exc:
                dropped.append(f"alert: {exc}")
                continue
            book[firing.alert.fingerprint] = firing
        for item in outbox:
            try:
                pending.append(_notification_from(item))
            except _DAMAGE as exc:
                dropped.append(f"notification: {exc}")
        if dropped:
            aside = self._set_aside(dropped[0], move=False)
            log.error(
                "state.entries_dropped",
                path=str(self.path),
                dropped=len(dropped),
                first_error=dropped[0],
                copied_to=str(aside),
                kept_alerts=len(book),
                kept_pending=len(pending),
            )
        log.info("state.loaded", path=str(self.path), alerts=len(book), pending=len(pending))
        return book, pending

    def _set_aside(self, error: str, *, move: bool) -> Path:
        """Keep the file as it is for inspection: moved (it is unusable) or copied (what
        could be read of it is kept)."""
        stamp = int(time.time())
        aside = self.path.with_name(f"{FILE_NAME}.corrupt-{stamp}")
        for n in range(1, 100):  # never over an earlier one set aside in the same second
            if not aside.exists() and not aside.is_symlink():
                break
            aside = self.path.with_name(f"{FILE_NAME}.corrupt-{stamp}-{n}")
        with contextlib.suppress(OSError):
            if move:
                self.path.replace(aside)
            else:
                shutil.copyfile(self.path, aside)
        if move:
            log.error("state.corrupt", path=str(self.path), moved_to=str(aside), error=error)
        return aside

    def save(self, book: Mapping[str, FiringAlert], outbox: Iterable[Notification]) -> Encoded:
        """Encode and write at once (tests, tools); the daemon encodes on its loop and writes
        in a thread. Writes nothing when the content is too large to be loaded again."""
        encoded = self.encode(book, outbox)
        if encoded.data is not None:
            self.write(encoded.data)
        return encoded

    def encode(self, book: Mapping[str, FiringAlert], outbox: Iterable[Notification]) -> Encoded:
        """The file's content, within the limits `load` checks: cheap, and done where the
        book and outbox live. An entry that cannot be kept within them is left out and
        named; content larger than MAX_FILE_BYTES is not made at all."""
        left_out: list[str] = []
        alerts = []
        for firing in book.values():
            try:
                alerts.append(_firing_to(firing))
            except ValueError as exc:
                left_out.append(f"alert {firing.alert.name.value}: {exc}")
        notifications = []
        for notification in outbox:
            try:
                notifications.append(_notification_to(notification))
            except ValueError as exc:
                left_out.append(f"notification {notification.event.id[:64]!r}: {exc}")
        document = {
            "version": VERSION,
            "saved_at_unix": time.time(),
            "alerts": alerts,
            "outbox": notifications,
        }
        data = orjson.dumps(document)
        return Encoded(data if len(data) <= MAX_FILE_BYTES else None, tuple(left_out))

    def write(self, data: bytes) -> None:
        """Replace the file with `data` atomically, creating the directory again if it was
        deleted. Blocking (fsync): call it off the event loop. Raises OSError."""
        temporary = self.directory / f".{FILE_NAME}.{os.getpid()}.tmp"
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except FileNotFoundError:
            # The directory was deleted under the running daemon: make it again, or every
            # save would fail until a restart.
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            log.warning("state.dir_recreated", path=str(self.directory))
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
        _unix(item["starts_at_unix"]),
        _unix(item["notified_unix"]),
        Severity(item["peak_severity"]),
    )


def _notification_to(notification: Notification) -> dict[str, Any]:
    event = notification.event
    return {
        "sink": _name_to(notification.sink),
        "attempts": notification.attempts,
        "next_attempt_unix": notification.next_attempt_unix,
        "event": {
            "id": _name_to(event.id),
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
    attempts = item["attempts"]
    if type(attempts) is not int or not 0 <= attempts <= MAX_SAVED_ATTEMPTS:
        raise ValueError(f"attempts must be an integer 0..{MAX_SAVED_ATTEMPTS}, got {attempts!r}")
    ident = _str(event["id"])
    if not ident:
        raise ValueError("a notification needs an id")
    return Notification(
        AlertEvent(
            id=ident,
            status=AlertStatus(event["status"]),
            reason=Reason(event["reason"]),
            alert=_alert_from(event["alert"]),
            starts_at_unix=_unix(event["starts_at_unix"]),
            ends_at_unix=None if ends is None else _unix(ends),
            at_unix=_unix(event["at_unix"]),
            peak_severity=Severity(event["peak_severity"]),
        ),
        sink=_str(item["sink"]),
        attempts=attempts,
        next_attempt_unix=_unix(item["next_attempt_unix"]),
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
