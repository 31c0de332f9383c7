"""Headless Chromium (Debian package `chromium`) for the status page tests: the DOM it builds
from a page, and screenshots of it, kept in a folder CI prints and git ignores."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.helpers.waiting import require_binary

# Where screenshots are kept after the run (ignored by git; .ci/run prints the path).
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "statuspage"
DESKTOP = (1280, 900)
PHONE = (375, 900)


class Chromium:
    """One browser profile in `profile`; each call is a fresh headless run, nothing from the
    network but the page asked for."""

    def __init__(self, profile: Path) -> None:
        self.binary = require_binary("chromium", "chromium")
        self.profile = profile

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [
                self.binary,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={self.profile}",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done

    def dom(self, url: str) -> str:
        """The DOM Chromium built from the page, serialized (`--dump-dom`)."""
        return self._run("--dump-dom", url).stdout

    def screenshot(self, url: str, path: Path, size: tuple[int, int]) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        self._run(f"--screenshot={path}", f"--window-size={size[0]},{size[1]}", url)
        return path
