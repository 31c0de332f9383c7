"""Process-wide logging: journald's priority prefix on every line under systemd, colour only
where a person is looking, and asyncio's own logger cannot flood the log."""

from __future__ import annotations

import asyncio
import io
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import orjson
import pytest
import structlog

from monitor.logs import (
    ASYNCIO_LINES_PER_MINUTE,
    RateLimit,
    configure_logging,
    syslog_priority,
    use_colour,
    writes_to_journal,
)
from tests.helpers import LogCapture

ANSI_ESCAPE = "\x1b["


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    configure_logging("warning", "json", stream=io.StringIO())


def _journal_env(stream: TextIO) -> dict[str, str]:
    info = os.fstat(stream.fileno())
    return {"JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"}


def _emit_every_level() -> None:
    log = structlog.get_logger("test")
    log.debug("t.debug")
    log.info("t.info")
    log.warning("t.warning")
    log.error("t.error")
    logging.getLogger("stdlib.lib").warning("from the standard library")


@pytest.mark.parametrize(
    ("levelno", "priority"),
    [
        (logging.DEBUG, 7),
        (logging.INFO, 6),
        (logging.WARNING, 4),
        (logging.ERROR, 3),
        (logging.CRITICAL, 2),
    ],
)
def test_syslog_priorities(levelno: int, priority: int) -> None:
    assert syslog_priority(levelno) == priority


def test_every_line_carries_its_priority_on_the_journal_stream(tmp_path: Path) -> None:
    with (tmp_path / "journal").open("w+") as stream:
        configure_logging("debug", "json", stream=stream, env=_journal_env(stream))
        _emit_every_level()
        stream.flush()
        lines = Path(stream.name).read_text().splitlines()
    assert [line[:3] for line in lines] == ["<7>", "<6>", "<4>", "<3>", "<4>"]
    events = [orjson.loads(line[3:]) for line in lines]
    assert [e["event"] for e in events[:4]] == ["t.debug", "t.info", "t.warning", "t.error"]
    assert events[4]["level"] == "warning"


def test_console_lines_are_prefixed_line_by_line(tmp_path: Path) -> None:
    with (tmp_path / "journal").open("w+") as stream:
        configure_logging("info", "console", stream=stream, env=_journal_env(stream))
        try:
            raise ValueError("boom")
        except ValueError:
            structlog.get_logger("test").exception("t.failed")
        stream.flush()
        lines = Path(stream.name).read_text().splitlines()
    assert len(lines) > 3  # the traceback
    assert all(line.startswith("<3>") for line in lines), lines
    assert not any(ANSI_ESCAPE in line for line in lines)  # the journal is no terminal


def test_no_prefix_off_the_journal(tmp_path: Path) -> None:
    """$JOURNAL_STREAM inherited by a command whose output goes elsewhere (a pipe, a file)."""
    with (tmp_path / "other").open("w+") as other, (tmp_path / "out").open("w+") as stream:
        assert not writes_to_journal(stream, _journal_env(other))
        configure_logging("info", "json", stream=stream, env=_journal_env(other))
        structlog.get_logger("test").warning("t.warning")
        stream.flush()
        (line,) = Path(stream.name).read_text().splitlines()
    assert orjson.loads(line)["event"] == "t.warning"


def test_prefix_can_be_asked_for() -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream, priority_prefix=True, env={})
    structlog.get_logger("test").error("t.error")
    assert stream.getvalue().startswith("<3>{")


def test_colour_only_on_a_terminal_and_never_with_no_color() -> None:
    leader, follower = os.openpty()
    with os.fdopen(follower, "w") as terminal:
        assert use_colour(terminal, {})
        assert not use_colour(terminal, {"NO_COLOR": "1"})
        assert use_colour(terminal, {"NO_COLOR": ""})  # set but empty: no-color.org says ignore
        assert not use_colour(io.StringIO(), {})
        configure_logging("info", "console", stream=terminal, env={"NO_COLOR": "1"})
        structlog.get_logger("test").warning("t.plain")
        terminal.flush()
        plain = os.read(leader, 4096).decode()
        configure_logging("info", "console", stream=terminal, env={})
        structlog.get_logger("test").warning("t.coloured")
        terminal.flush()
        coloured = os.read(leader, 4096).decode()
    os.close(leader)
    assert "t.plain" in plain and ANSI_ESCAPE not in plain
    assert "t.coloured" in coloured and ANSI_ESCAPE in coloured


def test_console_format_on_a_pipe_has_no_colour() -> None:
    stream = io.StringIO()
    configure_logging("info", "console", stream=stream, env={})
    structlog.get_logger("test").warning("t.warning")
    assert "t.warning" in stream.getvalue()
    assert ANSI_ESCAPE not in stream.getvalue()


def test_asyncio_lines_are_rate_limited(logs: LogCapture) -> None:
    asyncio_log = logging.getLogger("asyncio")
    for i in range(500):
        asyncio_log.error("Fatal error on transport %d", i)
    assert len([e for e in logs.events() if e.get("logger") == "asyncio"]) == (
        ASYNCIO_LINES_PER_MINUTE
    )


@pytest.mark.anyio
async def test_the_loops_exception_handler_goes_through_the_limit(logs: LogCapture) -> None:
    loop = asyncio.get_running_loop()
    for _ in range(100):
        loop.call_exception_handler({"message": "Unhandled exception in client_connected_cb"})
    assert len(logs.events()) <= ASYNCIO_LINES_PER_MINUTE


def test_what_was_held_back_is_counted_when_the_next_window_opens(logs: LogCapture) -> None:
    now = [1000.0]
    limit = RateLimit(per_minute=2, clock=lambda: now[0])
    logger = logging.getLogger("tests.ratelimited")
    logger.addFilter(limit)
    try:
        for _ in range(7):
            logger.warning("noisy")
        now[0] += 61
        logger.warning("noisy")
    finally:
        logger.removeFilter(limit)
    assert len(logs.events("noisy")) == 3
    (summary,) = logs.events("log.lines_suppressed")
    assert (summary["from_logger"], summary["count"]) == ("tests.ratelimited", 5)
