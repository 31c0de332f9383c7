"""What the tests share besides fixtures: constants, waiting for a condition, config files,
captured logs, running a daemon in-process, scraping it, and the CLI as a process."""

from __future__ import annotations

from tests.helpers.configs import ConfigWriter
from tests.helpers.logs import LogCapture
from tests.helpers.waiting import (
    async_eventually,
    eventually,
    http_status,
    require_binary,
    require_root,
)

API_TOKEN = "useapi-SECRET-token-5f2b9c"
HOUR = 3600.0
DAY = 86400.0

__all__ = [
    "API_TOKEN",
    "DAY",
    "HOUR",
    "ConfigWriter",
    "LogCapture",
    "async_eventually",
    "eventually",
    "http_status",
    "require_binary",
    "require_root",
]
