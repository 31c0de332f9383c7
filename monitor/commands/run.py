"""`run`: the daemon, until SIGTERM or SIGINT. No failure prints a traceback: a bad setting
exits 2 with one line naming it, anything else 1 with one line naming its kind."""

from __future__ import annotations

import asyncio
from pathlib import Path

from monitor.commands.exits import config_error, load, unexpected_error
from monitor.errors import ConfigError
from monitor.service import Daemon

EXIT_INTERRUPTED = 130  # Ctrl-C before the daemon handles signals itself


def run_command(config_path: Path | None) -> int:
    try:
        config = load(config_path)
    except ConfigError as exc:
        return config_error(exc)

    async def main() -> int:
        return await Daemon(config).run()

    try:
        return asyncio.run(main())
    except ConfigError as exc:  # found at start-up: web config, listen address, state dir
        return config_error(exc)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:
        return unexpected_error("daemon", exc)
