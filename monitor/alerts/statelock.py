"""One daemon per state directory: an exclusive lock on a file in it, held for as long as the
daemon uses the directory. Two daemons on one directory would each deliver every
notification (240 for 120 alerts) and overwrite each other's state file."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from monitor.errors import ConfigError

LOCK_NAME = "lock"
# What the holder writes in the lock file: its pid, for the message the next one gets.
_PID_BYTES = 32


class StateLock:
    """flock(2) on `<state_dir>/lock`. The kernel lets go of it when the process ends however
    it ends (kill -9 included), so a stale lock file never keeps a restart out; the file
    itself stays (removing it would let two processes lock two different files)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock (the directory must exist); ConfigError naming alerts.state_dir when
        another process holds it or it cannot be taken."""
        if self._fd is not None:
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise ConfigError(
                "alerts.state_dir", f"cannot lock {self.path}: {exc.strerror or exc}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise ConfigError(
                "alerts.state_dir",
                f"{self.directory} is in use by another pixverse-monitor{holder}; "
                "each daemon needs a state directory of its own",
            ) from None
        except OSError as exc:
            os.close(fd)
            raise ConfigError(
                "alerts.state_dir", f"cannot lock {self.path}: {exc.strerror or exc}"
            ) from None
        with contextlib.suppress(OSError):  # the pid is a courtesy; the lock is what counts
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the descriptor lets go of the lock


def _holder(fd: int) -> str:
    """ " (pid N)" when the lock file names its holder."""
    try:
        text = os.pread(fd, _PID_BYTES, 0).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return f" (pid {text})" if text.isdigit() else ""
