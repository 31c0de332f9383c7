"""Bad settings and start-up failures: exit 2 with one line naming the key, never a traceback,
and never a setting that would page by itself (the table of every setting refused, each
through `run` and `config check`, is tests/config/test_load.py::test_errors_name_the_key)."""

from __future__ import annotations

import asyncio
import io
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config.load import load_config
from monitor.logs import configure_logging
from monitor.service.daemon import Daemon
from tests.helpers import ConfigWriter
from tests.helpers.inprocess import running

HUGE = "999999999999d"


@pytest.fixture(autouse=True)
def quiet_logging() -> Iterator[None]:
    yield
    configure_logging("warning", "json", stream=io.StringIO())


def write_config(configs: ConfigWriter, text: str) -> Path:
    source = f'[[sources]]\nname = "main"\ntoken_file = "{configs.token_file}"\n'
    return configs.write(f'{source}\n{text}\n[alerts]\nstate_dir = "{configs.dir / "state"}"\n')


def test_bad_settings_from_a_shell(configs: ConfigWriter) -> None:
    """The same as a user meets it: a process, exit 2, one line, no traceback."""
    path = write_config(configs, f'[poll]\ninterval = "{HUGE}"')
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert "poll.interval" in line
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("interval", "jitter", "timeout"),
    [("5m", "10s", "15s"), ("1s", "0s", "15s"), ("10s", "9s", "1m"), ("1h", "0s", "15s")],
)
def test_the_default_stale_after_never_pages_by_itself(
    configs: ConfigWriter, interval: str, jitter: str, timeout: str
) -> None:
    poll = f'[poll]\ninterval = "{interval}"\njitter = "{jitter}"\ntimeout = "{timeout}"\n'
    config = load_config(write_config(configs, poll), env={})
    slowest_gap = config.poll.interval + config.poll.jitter + config.poll.timeout
    assert config.poll.stale_after >= slowest_gap
    assert config.poll.stale_after >= 3 * config.poll.interval
    if interval == "5m":
        assert config.poll.stale_after.total_seconds() == 15 * 60  # the documented default


def _busy_port() -> tuple[socket.socket, int]:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    return holder, int(holder.getsockname()[1])


def test_a_listen_address_in_use_is_retried_then_exit_2(configs: ConfigWriter) -> None:
    holder, port = _busy_port()
    with holder:
        path = configs.for_upstream("http://127.0.0.1:9", metrics=f'listen = "127.0.0.1:{port}"')
        path.write_text(path.read_text().replace('listen = "127.0.0.1:0"\n', "", 1))
        began = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "monitor", "run", "--config", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        waited = time.monotonic() - began
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert "metrics.listen" in line and "in use" in line
    assert "Traceback" not in done.stdout + done.stderr
    assert 9.5 <= waited < 30


@pytest.mark.anyio
async def test_a_listen_address_freed_while_retrying_is_taken(configs: ConfigWriter) -> None:
    holder, port = _busy_port()
    path = configs.for_upstream("http://127.0.0.1:9", metrics=f'listen = "127.0.0.1:{port}"')
    path.write_text(path.read_text().replace('listen = "127.0.0.1:0"\n', "", 1))
    daemon = Daemon(load_config(path, env={}))

    async def free_it() -> None:
        await asyncio.sleep(1.0)
        holder.close()

    freeing = asyncio.create_task(free_it())
    async with running(daemon):
        assert daemon.metrics_port == port
    await freeing


@pytest.mark.parametrize(
    "listen",
    [
        "192.0.2.1:9877",  # TEST-NET-1: on no interface of this host
        "no-such-host.invalid:9877",
    ],
)
def test_an_address_that_cannot_be_bound_exits_2_at_once(
    configs: ConfigWriter, capsys: pytest.CaptureFixture[str], listen: str
) -> None:
    path = configs.for_upstream("http://127.0.0.1:9", metrics=f'listen = "{listen}"')
    path.write_text(path.read_text().replace('listen = "127.0.0.1:0"\n', "", 1))
    began = time.monotonic()
    assert main(["run", "--config", str(path)]) == 2
    assert time.monotonic() - began < 8
    err = capsys.readouterr().err
    (line,) = err.splitlines()
    assert "metrics.listen" in line
    assert "Traceback" not in err


def test_an_unexpected_start_up_failure_is_one_line(
    configs: ConfigWriter, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = configs.for_upstream("http://127.0.0.1:9")

    async def broken(self: object, external_url: str) -> None:
        raise RuntimeError("the disk caught fire")

    monkeypatch.setattr("monitor.alerts.alerting.Alerting.start", broken)
    code = main(["run", "--config", str(path)])
    assert code != 0
    err = capsys.readouterr().err
    (line,) = err.splitlines()
    assert "RuntimeError" in line and "the disk caught fire" in line
    assert "Traceback" not in err
