"""systemd's notification protocol: READY, RELOADING, STATUS, WATCHDOG and STOPPING datagrams.

Plain AF_UNIX datagrams to $NOTIFY_SOCKET (a path, or an abstract name written "@name"). Without
that variable every call does nothing, so the daemon behaves the same outside systemd.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping

import structlog

log = structlog.get_logger(__name__)

# systemd truncates STATUS= beyond this; keep the line readable in `systemctl status`.
MAX_STATUS_CHARS = 200


def notify_address(env: Mapping[str, str]) -> str | bytes | None:
    """The socket address from $NOTIFY_SOCKET: a path, bytes for an abstract name, or None."""
    value = env.get("NOTIFY_SOCKET", "")
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None  # unset, or a transport we do not speak (vsock:)


def watchdog_interval(env: Mapping[str, str], pid: int) -> float | None:
    """Seconds between WATCHDOG=1 pings: half of $WATCHDOG_USEC, as sd_watchdog_enabled(3)
    advises; None when the watchdog is off or $WATCHDOG_PID names another process."""
    usec_text = env.get("WATCHDOG_USEC", "")
    if not usec_text.isdigit() or int(usec_text) == 0:
        return None
    pid_text = env.get("WATCHDOG_PID", "")
    if pid_text and pid_text != str(pid):
        return None
    return int(usec_text) / 1_000_000 / 2


class Notifier:
    """Sends notifications to systemd; never raises, a failed send is logged and forgotten."""

    def __init__(self, address: str | bytes | None) -> None:
        self._address = address
        self._socket: socket.socket | None = None
        if address is not None:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            # Never block the event loop on a full queue: a dropped ping beats a stalled loop.
            self._socket.setblocking(False)

    @classmethod
    def from_environ(cls, env: Mapping[str, str] | None = None) -> Notifier:
        return cls(notify_address(os.environ if env is None else env))

    @property
    def enabled(self) -> bool:
        return self._socket is not None

    def ready(self, status: str | None = None) -> None:
        self._send("READY=1", status)

    def reloading(self, status: str | None = None) -> None:
        # MONOTONIC_USEC lets systemd (Type=notify-reload, v253+) match this to its reload job.
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self._send(f"RELOADING=1\nMONOTONIC_USEC={usec}", status)

    def status(self, status: str) -> None:
        self._send(None, status)

    def watchdog(self) -> None:
        self._send("WATCHDOG=1", None)

    def stopping(self) -> None:
        self._send("STOPPING=1", None)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def _send(self, state: str | None, status: str | None) -> None:
        if self._socket is None or self._address is None:
            return
        lines = [] if state is None else [state]
        if status is not None:
            one_line = " ".join(status.split())[:MAX_STATUS_CHARS]
            lines.append(f"STATUS={one_line}")
        try:
            self._socket.sendto("\n".join(lines).encode(), self._address)
        except OSError as exc:
            log.warning("sdnotify.failed", message=lines[0], error=str(exc))
