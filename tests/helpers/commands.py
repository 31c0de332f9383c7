"""A command of pixverse-monitor as a user runs it from a shell, `python -m monitor ...`, in a
process run to its end (the daemon as a process is tests.helpers.daemonprocess)."""

from __future__ import annotations

import os
import subprocess
import sys


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )
