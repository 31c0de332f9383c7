"""The command line as a user runs it: real processes, real signals."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import httpx
import pytest

from monitor.testing.fakeapi import FakeUpstream
from tests.helpers import API_TOKEN, ConfigWriter, eventually, http_status
from tests.helpers.commands import cli
from tests.helpers.daemonprocess import DaemonProcess


def test_config_check_valid_prints_masked_config(configs: ConfigWriter) -> None:
    path = configs.for_upstream("http://127.0.0.1:1")
    result = cli("config", "check", str(path))
    assert result.returncode == 0, result.stderr
    assert "[[sources]]" in result.stdout
    assert "# token: ********" in result.stdout
    assert API_TOKEN not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[poll]\ninterval = 'x'", "poll.interval"),
        ("[thresholds]\nwarning = '1h'\ncritical = '2h'", "thresholds.critical"),
        ("surprise = true", "surprise"),
        ("[[sources]]\nname = 'a'\ntoken = 'inline'", "sources[0].token"),
    ],
)
def test_config_check_invalid_exits_2_naming_the_key(
    configs: ConfigWriter, text: str, key: str
) -> None:
    path = configs.write(text)
    result = cli("config", "check", str(path), env={"USEAPI_TOKEN": "t"})
    assert result.returncode == 2
    assert f"config error: {key}:" in result.stderr
    assert "inline" not in result.stdout


def test_run_with_a_bad_config_exits_2(configs: ConfigWriter) -> None:
    path = configs.write("[metrics]\nlisten = 'nowhere'\n")
    result = cli("run", "--config", str(path), env={"USEAPI_TOKEN": "t"})
    assert result.returncode == 2
    assert "metrics.listen" in result.stderr
    assert '"event":"config.invalid"' in result.stdout


def test_run_uses_the_config_from_the_environment(configs: ConfigWriter) -> None:
    path = configs.write("[poll]\ninterval = 'bad'\n")
    result = cli("run", env={"PIXVERSE_MONITOR_CONFIG": str(path), "USEAPI_TOKEN": "t"})
    assert result.returncode == 2
    assert "poll.interval" in result.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_run_stops_cleanly_on_signal(
    fake: FakeUpstream, configs: ConfigWriter, tmp_path: Path, sig: int
) -> None:
    daemon = DaemonProcess(configs.for_upstream(fake.base_url), tmp_path)
    try:
        eventually(lambda: http_status(daemon.port, "/readyz") == 200, what="the first poll")
        assert daemon.stop(sig, timeout=20)[0] == 0
    finally:
        daemon.kill()


def test_demo_runs_without_token_or_network(tmp_path: Path) -> None:
    # The daemon process has neither $USEAPI_TOKEN nor $CREDENTIALS_DIRECTORY.
    daemon = DaemonProcess(None, tmp_path, command=["demo", "--listen", "127.0.0.1:0"])
    port = daemon.port
    try:
        # The banner names the config file the demo wrote and loaded: config check takes it.
        (line,) = eventually(
            lambda: [x for x in daemon.stderr().splitlines() if x.startswith("  config ")],
            what="the banner",
        )
        path = line.split(": ", 1)[1].split(" (", 1)[0]
        checked = cli("config", "check", path)
        assert checked.returncode == 0, checked.stderr
        assert 'name = "demo-receiver"' in checked.stdout
        body = eventually(lambda: _metrics(port), what="demo metrics")
        for state in ("ok", "warning", "critical", "expired", "unknown"):
            assert f'state="{state}"}} 1' in body, state
        assert 'pixverse_capacity_free_jobs{source="demo"}' in body
        # Beyond token expiry: an active subscription, and every plan read (within a poll interval)
        # with its alerts delivered to the built-in receiver.
        body = eventually(
            lambda: _metrics(port, _EVERY_PLAN_READ), timeout=30, what="every demo plan read"
        )
        assert 'pixverse_useapi_subscription_active{source="demo"} 1' in body
        assert daemon.stop(signal.SIGINT, timeout=20)[0] == 0
        printed = daemon.stderr()
        assert "/metrics" in printed
        for line in (
            "[warning] PixversePlanExpiringSoon demo/soon@demo.pixverse.test: PixVerse plan of "
            "soon@demo.pixverse.test ends in 3m",
            "[warning] PixverseCreditsLow demo/urgent@demo.pixverse.test {team=studio}: PixVerse "
            "account urgent@demo.pixverse.test has 40 credits left",
            "[warning] PixverseMaxJobsAbovePlan demo/renewing@demo.pixverse.test: maxJobs of "
            "renewing@demo.pixverse.test (6) is above what its plan allows (4)",
        ):
            assert line in printed, line
    finally:
        daemon.kill()


def test_demo_on_a_busy_port_is_one_line_and_exit_2() -> None:
    """Another demo (or the daemon) already listens there: say so at once, no traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("demo", "--listen", f"127.0.0.1:{port}")
    assert result.returncode == 2, result
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"pixverse-monitor: demo: --listen: cannot listen on 127.0.0.1:{port}: address already "
        "in use"
    ]


# Every plan of the demo read, and what that raised delivered.
_EVERY_PLAN_READ = (
    'pixverse_account_plan_expiry_timestamp_seconds{source="demo",account="soon@',
    'pixverse_account_credits{source="demo",account="urgent@',
    'pixverse_account_plan_concurrency{source="demo",account="renewing@',
    'pixverse_monitor_notifications_pending{sink="demo-receiver"} 0.0',
)


def _metrics(port: int, wanted: tuple[str, ...] = ("pixverse_account_state",)) -> str | None:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
    except httpx.HTTPError:
        return None
    return response.text if all(w in response.text for w in wanted) else None


def test_version_and_module_entry_point() -> None:
    result = cli("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("pixverse-monitor ")
    started = time.monotonic()
    assert cli("--help").returncode == 0
    assert time.monotonic() - started < 30
