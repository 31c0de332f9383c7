"""Exit statuses of the commands, how each reports a configuration error or a failure (one
line on stderr naming the key, or the kind of error; never a traceback), and writing results to
a stdout that may have been closed."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import structlog

from monitor.config import Config, default_config_path, load_config
from monitor.errors import ConfigError
from monitor.secret import scrub

EXIT_FAILURE = 1
EXIT_CONFIG = 2


def load(path: Path | None, *, read_tokens: bool = True) -> Config:
    """The config at `path`, else at $PIXVERSE_MONITOR_CONFIG or the default path."""
    return load_config(path or default_config_path(os.environ), read_tokens=read_tokens)


def log_config_error(exc: ConfigError) -> None:
    structlog.get_logger("monitor.cli").error("config.invalid", key=exc.key, problem=exc.problem)


def config_error(exc: ConfigError) -> int:
    log_config_error(exc)
    _say(f"config error: {exc}")
    return EXIT_CONFIG


def write_stdout(text: str) -> None:
    """Write and flush `text`; a reader that went away (`check | head -1`) is no error: the
    rest of the output is dropped, and so is the final flush at exit."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # What the Python docs advise (signal, SIGPIPE): point stdout at /dev/null so that
        # the interpreter's own flush at exit does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)


def unexpected_error(what: str, exc: BaseException) -> int:
    """A failure no setting explains: one line with its kind, the traceback in the debug log
    only (`--log-level debug`)."""
    log = structlog.get_logger("monitor.cli")
    log.error(f"{what}.failed", error_kind=type(exc).__name__, error=str(exc))
    if logging.getLogger("monitor.cli").isEnabledFor(logging.DEBUG):
        log.debug(f"{what}.traceback", exc_info=exc)
    _say(f"{what} failed: {type(exc).__name__}: {exc}")
    return EXIT_FAILURE


def _say(text: str) -> None:
    """One line on stderr, whatever the text holds, and no secret in it."""
    print("pixverse-monitor: " + " ".join(scrub(text).split()), file=sys.stderr)
