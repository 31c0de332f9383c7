"""Start-up pieces of the daemon: binding the metrics address (one still in use is retried
for a while, as a restart races the old process's exit; then start-up fails naming
`metrics.listen`), the descriptor limit it runs under, and its signal handlers."""

from __future__ import annotations

import asyncio
import errno
import resource
import signal
import time
from collections.abc import Awaitable, Callable

import structlog

from monitor.config import Config
from monitor.errors import ConfigError
from monitor.web import ServerLimits, descriptor_reserve, fitted

log = structlog.get_logger("monitor.daemon")

BIND_RETRY_SECONDS = 10.0
_PAUSE_SECONDS = 0.25


async def bind(
    start: Callable[[], Awaitable[None]], listen: str, retry_seconds: float = BIND_RETRY_SECONDS
) -> None:
    """Call `start` (which binds and raises OSError when it cannot) until it succeeds. An
    address in use is retried for `retry_seconds`; then, or when it cannot be bound for any
    other reason (not an address of this host, a name that does not resolve, a privileged
    port), ConfigError naming the key."""
    deadline = time.monotonic() + retry_seconds
    warned = False
    while True:
        try:
            await start()
            return
        except OSError as exc:
            in_use = exc.errno == errno.EADDRINUSE
            if in_use and time.monotonic() < deadline:
                if not warned:
                    log.warning("http.listen_busy", listen=listen, retry_seconds=retry_seconds)
                    warned = True
                await asyncio.sleep(_PAUSE_SECONDS)
                continue
            problem = exc.strerror or str(exc)
            if in_use:
                problem = f"address already in use (still after {retry_seconds:g} s)"
            raise ConfigError("metrics.listen", f"cannot listen on {listen}: {problem}") from None


def open_files_limit() -> int | None:
    """The soft RLIMIT_NOFILE: how many descriptors the process may hold; None for no limit
    (or none to be read)."""
    try:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError):
        return None
    return None if soft == resource.RLIM_INFINITY else soft


def connection_limits(config: Config) -> ServerLimits:
    """The server's limits, its connection cap lowered to what the descriptor limit leaves
    beside what the sources, the sinks and the state file need; a warning when lowered (at
    start-up, and at each reload while it is)."""
    reserve = descriptor_reserve(len(config.sources), len(config.sinks))
    open_files = open_files_limit()
    limits = fitted(ServerLimits(), open_files, reserve)
    if limits.max_connections < ServerLimits().max_connections:
        log.warning(
            "http.connections_capped",
            max_connections=limits.max_connections,
            open_files_limit=open_files,
            reserved=reserve,
            hint="raise the open files limit (LimitNOFILE=, ulimit -n)",
        )
    return limits


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def handle_signals(stop: Callable[[], None], reload: Callable[[], None]) -> None:
    """SIGTERM and SIGINT call `stop`, SIGHUP `reload`, on the running loop."""
    loop = asyncio.get_running_loop()
    for sig in _STOP_SIGNALS:
        loop.add_signal_handler(sig, stop)
    loop.add_signal_handler(signal.SIGHUP, reload)


def release_signals() -> None:
    loop = asyncio.get_running_loop()
    for sig in (*_STOP_SIGNALS, signal.SIGHUP):
        loop.remove_signal_handler(sig)
