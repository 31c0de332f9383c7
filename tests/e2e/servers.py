"""The other servers of the end-to-end tests (Prometheus, Alertmanager, NRPE) as processes: free
loopback ports, and each server in a session of its own with its output in a file, so that a
failure can show it and a stop ends them all. The daemon is tests.helpers.daemonprocess."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest

from tests.helpers import eventually

STOP_TIMEOUT_SECONDS = 10.0


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """A server under test, in a new session (its own process group)."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_path
        self._log = log_path.open("wb")
        try:
            self.popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
                cwd=cwd,
            )
        except BaseException:
            self._log.close()
            raise

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def check_running(self) -> None:
        if not self.running():
            pytest.fail(f"{self.name} exited with status {self.popen.returncode}:\n{self.tail()}")

    def wait_http_ok(self, url: str, timeout: float = 30.0) -> None:
        """Wait until `url` answers 200, failing at once if the process dies."""

        def ok() -> bool:
            self.check_running()
            try:
                return httpx.get(url, timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        eventually(ok, timeout=timeout, what=f"{self.name} at {url}")

    def stop(self) -> int:
        """SIGTERM the process group, SIGKILL it if it lingers; returns the exit status."""
        if self.running():
            self._signal_group(signal.SIGTERM)
            try:
                self.popen.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.popen.wait()
        # Children the leader left behind in its group go too.
        self._signal_group(signal.SIGKILL)
        self._log.close()
        return self.popen.returncode

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)
