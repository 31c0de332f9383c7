"""Exit statuses of the commands, and how each reports a configuration error: one line on
stderr naming the key, never a traceback."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import structlog

from monitor.config import Config, default_config_path, load_config
from monitor.errors import ConfigError

EXIT_CONFIG = 2


def load(path: Path | None) -> Config:
    """The config at `path`, else at $PIXVERSE_MONITOR_CONFIG or the default path."""
    return load_config(path or default_config_path(os.environ))


def config_error(exc: ConfigError) -> int:
    structlog.get_logger("monitor.cli").error("config.invalid", key=exc.key, problem=exc.problem)
    print(f"pixverse-monitor: config error: {exc}", file=sys.stderr)
    return EXIT_CONFIG
