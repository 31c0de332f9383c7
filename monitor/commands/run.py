"""`run`: the daemon, until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
from pathlib import Path

from monitor.commands.exits import config_error, load
from monitor.errors import ConfigError
from monitor.service import Daemon


def run_command(config_path: Path | None) -> int:
    try:
        config = load(config_path)
    except ConfigError as exc:
        return config_error(exc)

    async def main() -> int:
        return await Daemon(config).run()

    try:
        return asyncio.run(main())
    except ConfigError as exc:  # found at start-up: the web config, an unusable state_dir
        return config_error(exc)
