"""pixverse-monitor as a user runs it, `python -m monitor run --config FILE`, in a process of
its own; its metrics port is read from its `daemon.started` log line."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import orjson

from tests.e2e.processes import ManagedProcess
from tests.helpers import eventually


class DaemonProcess:
    """A running daemon: its process, log and metrics address."""

    def __init__(self, process: ManagedProcess, port: int) -> None:
        self.process = process
        self.port = port

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.address}/metrics"

    @classmethod
    def start(cls, config_path: Path, log_path: Path) -> DaemonProcess:
        env = {k: v for k, v in os.environ.items() if k not in ("USEAPI_TOKEN",)}
        argv = [sys.executable, "-m", "monitor", "--log-format=json", "run"]
        process = ManagedProcess(
            "pixverse-monitor",
            [*argv, f"--config={config_path}"],
            log_path,
            env=env,
        )
        try:
            port = eventually(
                lambda: _started_port(process), timeout=30, what="the daemon.started log line"
            )
        except BaseException:
            process.stop()
            raise
        return cls(process, port)

    def events(self, name: str) -> list[dict[str, object]]:
        """The daemon's JSON log lines whose event is `name`."""
        lines = (line for line in self.process.log_text().splitlines() if line.startswith("{"))
        return [e for e in map(orjson.loads, lines) if e.get("event") == name]

    def stop(self) -> int:
        return self.process.stop()


def _started_port(process: ManagedProcess) -> int | None:
    process.check_running()
    for line in process.log_text().splitlines():
        if '"daemon.started"' in line:
            listen = str(orjson.loads(line)["listen"])
            return int(listen.rsplit(":", 1)[1])
    return None


def config_text(
    sources: Sequence[tuple[str, str, Path]],
    *,
    state_dir: Path,
    poll_interval: str = "1s",
    min_usable_capacity: int = 0,
    min_credits: int = 0,
    sinks: Sequence[Mapping[str, str | bool]] = (),
) -> str:
    """A daemon config: `sources` are (name, base_url, token_file); metrics on a free port."""
    lines: list[str] = []
    for name, base_url, token_file in sources:
        lines += [
            "[[sources]]",
            f"name = {_toml(name)}",
            f"base_url = {_toml(base_url)}",
            f"token_file = {_toml(str(token_file))}",
            "",
        ]
    lines += [
        "[poll]",
        f"interval = {_toml(poll_interval)}",
        'timeout = "2s"',
        "jitter = 0",
        "",
        "[thresholds]",
        f"min_usable_capacity = {min_usable_capacity}",
        f"min_credits = {min_credits}",
        "",
        "[metrics]",
        'listen = "127.0.0.1:0"',
        "",
        "[alerts]",
        f"state_dir = {_toml(str(state_dir))}",
        "",
    ]
    for sink in sinks:
        lines += ["[[sinks]]", *(f"{key} = {_toml(value)}" for key, value in sink.items()), ""]
    return "\n".join(lines)


def _toml(value: str | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return orjson.dumps(value).decode()  # a JSON string is a TOML basic string
