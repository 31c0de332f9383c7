"""`config check`: validate a config file (and the web config it names), print it masked."""

from __future__ import annotations

import sys
from pathlib import Path

from monitor.commands.exits import EXIT_CONFIG
from monitor.config import load_config, render_config
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
    sys.stdout.write(render_config(config))
    print(f"pixverse-monitor: {path} is valid", file=sys.stderr)
    return 0
