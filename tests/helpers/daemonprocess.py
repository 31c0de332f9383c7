"""The daemon as a user or systemd runs it, `python -m monitor run --config FILE` (or `demo`), in a
process and a session of its own: its output in files (so that its size can be measured and a
chatty daemon never blocks on a full pipe), its port read from its `daemon.started` line, its
memory and descriptors read from /proc, and signals sent to it."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import orjson

# What the environment of the test run may hold that would change the daemon under test: its
# token, its credentials, systemd's sockets. A test that wants one gives it in `env`.
HOST_ONLY = (
    "USEAPI_TOKEN",
    "CREDENTIALS_DIRECTORY",
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
)
START_SECONDS = 60.0


class DaemonProcess:
    """Started, and listening, at construction; `stop()` (a signal, SIGTERM unless told) or
    `kill()` at the end."""

    def __init__(
        self,
        config: Path | None,
        directory: Path,
        *,
        command: Sequence[str] = (),
        env: dict[str, str] | None = None,
        max_fds: int | None = None,
        name: str = "daemon",
        launcher: Sequence[str] = ("-m", "monitor"),
    ) -> None:
        """`pixverse-monitor run --config <config>`, or `command` (such as `("demo",)`);
        its output in `directory`/`name`.stdout and .stderr. `env` is added to this process's
        environment, which loses HOST_ONLY; `max_fds` is its file descriptor limit;
        `launcher`, what the interpreter is given before the command line (`-c CODE ...`,
        code that runs the CLI, to watch the process from inside)."""
        argv = list(command) or ["run", "--config", str(config)]
        self.stdout_path = directory / f"{name}.stdout"
        self.stderr_path = directory / f"{name}.stderr"
        inherited = {k: v for k, v in os.environ.items() if k not in HOST_ONLY}

        def limit_fds() -> None:  # runs in the child, before exec
            if max_fds is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (max_fds, max_fds))

        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, *launcher, "--log-format=json", *argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,  # a stop ends whatever it started, too
                preexec_fn=limit_fds,  # noqa: PLW1509 - only setrlimit, no threads involved
                env={**inherited, "PYTHONUNBUFFERED": "1", **(env or {})},
            )
        try:
            self.port = self._wait_for_port()
        except BaseException:
            self.kill()
            raise

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.address}/metrics"

    def _wait_for_port(self) -> int:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            for event in self.events("daemon.started"):
                return int(str(event["listen"]).rsplit(":", 1)[1])
            if self.process.poll() is not None:
                raise AssertionError(f"daemon exited: {self.stderr()}")
            time.sleep(0.05)
        raise AssertionError(f"daemon did not start: {self.stderr()}")

    def events(self, name: str | None = None) -> list[dict[str, object]]:
        """Its JSON log lines (whose event is `name`), in order."""
        out = []
        for line in self.stdout_path.read_bytes().splitlines():
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if name is None or event.get("event") == name:
                out.append(event)
        return out

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def log_bytes(self) -> int:
        return self.stdout_path.stat().st_size + self.stderr_path.stat().st_size

    def running(self) -> bool:
        return self.process.poll() is None

    def send_signal(self, sig: int) -> None:
        self.process.send_signal(sig)

    def status_kib(self, field: str) -> int:
        """A memory figure of /proc/<pid>/status in KiB: VmRSS now, VmHWM the peak."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
        raise AssertionError(f"no {field} in /proc/{self.pid}/status")

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> tuple[int, float]:
        """Send `sig` and wait for the exit: (exit status, seconds it took)."""
        started = time.monotonic()
        self.process.send_signal(sig)
        code = self.process.wait(timeout)
        return code, time.monotonic() - started

    def kill(self) -> None:
        """SIGKILL, to its whole session, if anything of it is still running."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
