"""`config check`: validate a config file (and the web config it names), print it masked."""

from __future__ import annotations

import sys
from pathlib import Path

from monitor.commands.exits import EXIT_CONFIG, write_stdout
from monitor.config import load_config, render_config, static_warnings
from monitor.errors import ConfigError, WebConfigError
from monitor.web import as_config_error, load_web_config


def config_check_command(path: Path) -> int:
    try:
        config = load_config(path)
        if config.metrics.web_config_file is not None:
            try:
                load_web_config(config.metrics.web_config_file)
            except WebConfigError as exc:
                raise as_config_error(exc) from None
    except ConfigError as exc:
        print(f"pixverse-monitor: config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    write_stdout(render_config(config))
    # Offline, only what can never fit any account is known; the daemon logs
    # policy.unmatched for globs that fit none of the accounts it polls, and `check` says so.
    for index, problem in static_warnings(config.accounts):
        print(f"pixverse-monitor: warning: accounts[{index}].match: {problem}", file=sys.stderr)
    print(f"pixverse-monitor: {path} is valid", file=sys.stderr)
    return 0
