"""`python -m monitor run` as a real process for abuse tests and benchmarks: a file descriptor
limit of our choosing, its log in files (so its size can be measured and a chatty daemon never
blocks on a full pipe), and its memory read from /proc."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson


class DaemonProcess:
    """Starts at construction; `stop()` (SIGTERM) or `kill()` at the end."""

    def __init__(
        self,
        config: Path,
        directory: Path,
        *,
        max_fds: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        """`env` is added to this process's environment."""
        self.stdout_path = directory / "daemon.stdout"
        self.stderr_path = directory / "daemon.stderr"

        def limit_fds() -> None:  # runs in the child, before exec
            if max_fds is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (max_fds, max_fds))

        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "monitor", "run", "--config", str(config)],
                stdout=out,
                stderr=err,
                preexec_fn=limit_fds,  # noqa: PLW1509 - only setrlimit, no threads involved
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            )
        self.port = self._wait_for_port()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _wait_for_port(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events("daemon.started"):
                return int(str(event["listen"]).rsplit(":", 1)[1])
            if self.process.poll() is not None:
                raise AssertionError(f"daemon exited: {self.stderr_path.read_text()}")
            time.sleep(0.05)
        raise AssertionError("daemon did not start")

    def events(self, name: str | None = None) -> list[dict[str, object]]:
        lines = self.stdout_path.read_bytes().splitlines()
        out = []
        for line in lines:
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if name is None or event.get("event") == name:
                out.append(event)
        return out

    def log_bytes(self) -> int:
        return self.stdout_path.stat().st_size + self.stderr_path.stat().st_size

    def status_kib(self, field: str) -> int:
        """A memory figure of /proc/<pid>/status in KiB: VmRSS now, VmHWM the peak."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
        raise AssertionError(f"no {field} in /proc/{self.pid}/status")

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def stop(self, timeout: float = 30.0) -> tuple[int, float]:
        """SIGTERM; (exit status, seconds it took)."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
