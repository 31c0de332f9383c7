"""What the tests share besides fixtures: constants, waiting for a condition, config files and
captured logs (here); and, one module per kind, the daemon in the test's own event loop
(`inprocess`), the daemon as a process (`daemonprocess`), a command run to its end
(`commands`), and the alert engine's world without a daemon (`world`). The webhook receiver is
the package's own (`monitor.testing`), a fixture in tests/conftest.py."""

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
