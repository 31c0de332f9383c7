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
from typing import NamedTuple

import orjson
import structlog

from monitor.alerts.engine import FiringAlert
from monitor.alerts.outbox import Notification
from monitor.alerts.stateentries import (
    DAMAGE,
    MAX_TEXT,
    firing_from,
    firing_to,
    notification_from,
    notification_to,
)
from monitor.errors import ConfigError

log = structlog.get_logger("monitor.statefile")

FILE_NAME = "state.json"
# 2: a notification is a group of events, with the parts of it already sent. Version 1 (one
# event a notification) is still read.
VERSION = 2
_READABLE = (1, VERSION)
# Far more than the outbox can hold (10,000 notifications a sink): anything larger is not a
# state file this daemon wrote, and a save that would be larger is refused.
MAX_FILE_BYTES = 256 * 1024 * 1024
__all__ = ["FILE_NAME", "MAX_FILE_BYTES", "MAX_TEXT", "VERSION", "Encoded", "StateFile"]


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
            if not isinstance(document, dict) or document.get("version") not in _READABLE:
                version = document.get("version") if isinstance(document, dict) else None
                raise ValueError(f"unknown format version {version!r}")
            alerts, outbox = document["alerts"], document["outbox"]
            if type(alerts) is not list or type(outbox) is not list:
                raise TypeError("alerts and outbox must be arrays")
        except DAMAGE as exc:
            self._set_aside(str(exc), move=True)
            return {}, []
        book: dict[str, FiringAlert] = {}
        pending: list[Notification] = []
        dropped: list[str] = []
        for item in alerts:
            try:
                firing = firing_from(item)
            except DAMAGE as exc:
                dropped.append(f"alert: {exc}")
                continue
            book[firing.alert.fingerprint] = firing
        for item in outbox:
            try:
                pending.append(notification_from(item, document["version"]))
            except DAMAGE as exc:
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
                alerts.append(firing_to(firing))
            except ValueError as exc:
                left_out.append(f"alert {firing.alert.name.value}: {exc}")
        notifications = []
        for notification in outbox:
            try:
                notifications.append(notification_to(notification))
            except ValueError as exc:
                left_out.append(f"notification {notification.id[:64]!r}: {exc}")
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
