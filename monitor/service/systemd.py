"""systemd's notification protocol (READY, RELOADING, STATUS, WATCHDOG, STOPPING), and when
the daemon speaks it. Plain AF_UNIX datagrams to $NOTIFY_SOCKET (a path, or an abstract name
written "@name"); without that variable nothing is sent, and the daemon behaves the same.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable, Mapping

import structlog

from monitor.errors import Task
from monitor.tasks import TaskErrors, supervise

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


class Lifecycle:
    """When the daemon tells systemd what: READY=1 once every source was polled (or after
    `ready_timeout` seconds at most), STATUS= after each poll, WATCHDOG=1 from the event loop
    once ready, RELOADING=1 then READY=1 around a reload, and STOPPING=1."""

    def __init__(
        self,
        notifier: Notifier,
        *,
        watchdog_seconds: float | None,
        ready_timeout: float,
        errors: TaskErrors | None = None,
    ) -> None:
        self._notifier = notifier
        self._errors = errors or TaskErrors()
        self._watchdog_seconds = watchdog_seconds
        self._ready_timeout = ready_timeout
        self._ready = False
        self._timer: asyncio.TimerHandle | None = None
        self._watchdog: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        return self._ready

    def start(self, status: Callable[[], str]) -> None:
        """Arm the READY=1 deadline; call from the event loop once the daemon serves."""

        def ready_anyway() -> None:
            with self._errors.guard(Task.WATCHDOG):
                if not self._ready:
                    log.warning(
                        "daemon.ready_before_first_poll", waited_seconds=self._ready_timeout
                    )
                    self._send_ready(status())

        self._timer = asyncio.get_running_loop().call_later(self._ready_timeout, ready_anyway)

    def polled(self, status: str, *, every_source_polled: bool) -> None:
        if not self._ready and every_source_polled:
            self._send_ready(status)
        else:
            self._notifier.status(status)

    def status(self, status: str) -> None:
        """A new STATUS= line outside a poll (a failed reload); before READY=1 it waits."""
        if self._ready:
            self._notifier.status(status)

    def reloading(self) -> None:
        if self._ready:  # before READY=1 systemd is still starting us, not reloading
            self._notifier.reloading("reloading the configuration")

    def reloaded(self, status: str) -> None:
        if self._ready:
            self._notifier.ready(status)

    def stopping(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._notifier.stopping()

    def close(self) -> None:
        self._notifier.close()

    def _send_ready(self, status: str) -> None:
        self._ready = True
        if self._timer is not None:
            self._timer.cancel()
        self._notifier.ready(status)
        log.info("daemon.ready", notify_socket=self._notifier.enabled)
        if self._watchdog_seconds is not None and self._watchdog is None:
            interval = self._watchdog_seconds
            self._watchdog = asyncio.get_running_loop().create_task(
                supervise(Task.WATCHDOG, lambda: self._pet_watchdog(interval), self._errors)
            )

    async def _pet_watchdog(self, interval: float) -> None:
        # On the event loop and independent of upstream success: if the loop stalls the pings
        # stop and systemd restarts the service; a failing upstream is no reason to.
        log.info("watchdog.started", interval_seconds=interval)
        while True:
            self._notifier.watchdog()
            await asyncio.sleep(interval)
