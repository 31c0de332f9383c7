"""Process-wide logging: structlog events and stdlib loggers rendered as one JSON (or console)
stream on stdout, every line scrubbed of every secret the process holds; under systemd each
line starts with its syslog priority for journald."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

import httpx
import orjson
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from monitor.secret import scrub

# Chatty third-party loggers that log each request; kept at WARNING unless debugging.
_QUIET = ("httpx", "httpcore", "apscheduler.scheduler", "apscheduler.executors")
# syslog(3) priorities of the stdlib levels, as journald reads them from a "<N>" prefix.
_PRIORITIES = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))
_DEBUG_PRIORITY = 7
# asyncio logs what a connection raises in the loop's callbacks (with a traceback each time);
# a flood of connections must not become a flood of those.
ASYNCIO_LINES_PER_MINUTE = 10


def _dumps(obj: Any, **_: Any) -> str:
    return orjson.dumps(obj, default=str).decode()


def syslog_priority(levelno: int) -> int:
    """The syslog priority of a stdlib log level: error 3, warning 4, info 6, debug 7."""
    for level, priority in _PRIORITIES:
        if levelno >= level:
            return priority
    return _DEBUG_PRIORITY


def writes_to_journal(stream: TextIO, env: Mapping[str, str]) -> bool:
    """True when `stream` is the journal stream systemd connected us to: $JOURNAL_STREAM
    names its device and inode (systemd.exec(5)). A stream redirected elsewhere is not."""
    expected = env.get("JOURNAL_STREAM", "")
    if not expected:
        return False
    try:
        info = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False  # not a real file (a StringIO in tests)
    return expected == f"{info.st_dev}:{info.st_ino}"


def use_colour(stream: TextIO, env: Mapping[str, str]) -> bool:
    """Colour only on a terminal, and never when $NO_COLOR is set (https://no-color.org)."""
    if env.get("NO_COLOR", ""):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class PriorityPrefix(logging.Formatter):
    """Puts journald's "<N>" syslog priority prefix (SyslogLevelPrefix=, on by default) in
    front of each line another formatter renders, so `journalctl -p warning` finds exactly
    the warnings and errors."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self._inner = inner

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{syslog_priority(record.levelno)}>"
        # journald takes each line for an entry of its own: a console traceback's lines too.
        return "\n".join(prefix + line for line in self._inner.format(record).split("\n"))


def _scrub_line(_: WrappedLogger, __: str, line: EventDict | str) -> EventDict | str:
    """The last step for every line, from every logger (ours, httpx's request lines, asyncio's
    tracebacks) and at every level: whatever a secret was put in, it leaves masked."""
    return scrub(line) if isinstance(line, str) else line


def configure_logging(
    level: str = "info",
    fmt: str | None = None,
    stream: TextIO | None = None,
    *,
    priority_prefix: bool | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    """Route structlog and every stdlib logger to `stream` (stdout) as JSON or console lines.

    `fmt` None picks json unless the stream is a terminal. `priority_prefix` None adds the
    syslog priority prefix when the stream is systemd's journal stream."""
    stream = stream or sys.stdout
    env = os.environ if env is None else env
    if fmt is None:
        fmt = "console" if stream.isatty() else "json"
    if priority_prefix is None:
        priority_prefix = writes_to_journal(stream, env)
    numeric = getattr(logging, level.upper())
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Processor
    if fmt == "json":
        # Tracebacks as structured data, without local variables (they may hold secrets).
        shared.append(
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            )
        )
        renderer = structlog.processors.JSONRenderer(serializer=_dumps)
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=use_colour(stream, env), exception_formatter=structlog.dev.plain_traceback
        )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter: logging.Formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            renderer,
            _scrub_line,
        ],
    )
    if priority_prefix:
        formatter = PriorityPrefix(formatter)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in _QUIET:
        logging.getLogger(name).setLevel(numeric if numeric <= logging.DEBUG else logging.WARNING)
    _throttle_asyncio()
    httpx_logger = logging.getLogger("httpx")
    if not any(isinstance(f, _WithoutQuery) for f in httpx_logger.filters):
        httpx_logger.addFilter(_WithoutQuery())


class _WithoutQuery(logging.Filter):
    """httpx logs every request's URL at debug level; a /features URL carries an account's
    email, which `account_label = "hash"` promises to keep out of the logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                a.copy_with(query=None) if isinstance(a, httpx.URL) and a.query else a
                for a in record.args
            )
        return True


class RateLimit(logging.Filter):
    """Lets at most `per_minute` records through per minute; how many it held back is logged
    when the next one passes."""

    def __init__(
        self,
        per_minute: int = ASYNCIO_LINES_PER_MINUTE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._per_minute = per_minute
        self._clock = clock
        self._window_end = 0.0
        self._passed = 0
        self._held = 0

    def filter(self, record: logging.LogRecord) -> bool:
        now = self._clock()
        if now >= self._window_end:
            if self._held:
                structlog.get_logger("monitor.logs").warning(
                    "log.lines_suppressed", from_logger=record.name, count=self._held
                )
            self._window_end, self._passed, self._held = now + 60.0, 0, 0
        if self._passed < self._per_minute:
            self._passed += 1
            return True
        self._held += 1
        return False


def _throttle_asyncio() -> None:
    logger = logging.getLogger("asyncio")
    for old in [f for f in logger.filters if isinstance(f, RateLimit)]:
        logger.removeFilter(old)
    logger.addFilter(RateLimit())
