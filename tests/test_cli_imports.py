"""What each command imports, kept by a test rather than by memory: a command line loads only
what its command runs. Each command runs in a process of its own, which writes the names of
every module it imported when it exits."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import httpx
import pytest

from monitor.testing.fakeapi import FakeUpstream
from tests.helpers import ConfigWriter
from tests.helpers.daemonprocess import DaemonProcess

# Runs the command line after `-c WRAPPER OUT`, then writes sys.modules to OUT at exit.
WRAPPER = (
    "import atexit, sys\n"
    "out = sys.argv.pop(1)\n"
    "atexit.register(lambda: open(out, 'w').write('\\n'.join(sorted(sys.modules))))\n"
    "from monitor.cli import main\n"
    "raise SystemExit(main())\n"
)

DAEMON = ("monitor.service.daemon", "monitor.service.timers", "apscheduler")
WEB_TIER = (
    "monitor.web.server",
    "monitor.web.connection",
    "monitor.web.endpoints",
    "monitor.web.statuspage",
    "jinja2",
    "h11",
)
SINKS = ("monitor.alerts.sinks", "monitor.alerts.delivery", "monitor.alerts.outbox")
# What only `demo`, `fake-upstream` and the tests use.
TEST_DOUBLES = ("monitor.testing",)
# What parsing a command line needs: --version and --help load nothing else of ours.
PARSING = {
    "monitor",
    "monitor.cli",
    "monitor.errors",
    "monitor.commands",
    "monitor.commands.defaults",
}
LIBRARIES = ("httpx", "structlog", "orjson", "prometheus_client", "asyncio", "yaml", "bcrypt")


def matching(modules: Iterable[str], prefixes: Iterable[str]) -> list[str]:
    """The modules that are one of `prefixes` or inside one of them."""
    return sorted(m for m in modules for p in prefixes if m == p or m.startswith(p + "."))


def imported(tmp_path: Path, *args: str) -> set[str]:
    out = tmp_path / "modules.txt"
    result = subprocess.run(
        [sys.executable, "-c", WRAPPER, str(out), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.exists(), result.stderr
    return set(out.read_text().split())


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["check", "--help"]])
def test_parsing_a_command_line_loads_no_command(tmp_path: Path, args: list[str]) -> None:
    modules = imported(tmp_path, *args)
    assert {m for m in modules if m.split(".")[0] == "monitor"} == PARSING
    assert matching(modules, LIBRARIES) == []


def test_config_check_loads_no_daemon_web_tier_or_sink(
    tmp_path: Path, configs: ConfigWriter
) -> None:
    path = configs.for_upstream("https://api.useapi.net")
    modules = imported(tmp_path, "config", "check", str(path))
    assert "monitor.commands.config_check" in modules
    assert matching(modules, (*DAEMON, *WEB_TIER, *SINKS, *TEST_DOUBLES)) == []


def test_check_loads_no_web_tier_scheduler_or_sink(
    tmp_path: Path, configs: ConfigWriter, fake: FakeUpstream
) -> None:
    path = configs.for_upstream(fake.base_url)
    modules = imported(tmp_path, "check", "--config", str(path))
    assert "monitor.upstream.poll" in modules  # it did poll
    assert matching(modules, (*DAEMON, "monitor.web", "jinja2", *SINKS, *TEST_DOUBLES)) == []
    assert matching(modules, ("prometheus_client",)) == []


def test_the_daemon_loads_neither_other_commands_nor_what_it_does_not_use(
    tmp_path: Path, configs: ConfigWriter, fake: FakeUpstream
) -> None:
    """No other command, no test double; no template engine before a page is asked for, no
    YAML or bcrypt without a web config file."""
    out = tmp_path / "modules.txt"
    path = configs.for_upstream(fake.base_url)
    daemon = DaemonProcess(path, tmp_path, launcher=("-c", WRAPPER, str(out)))
    try:
        assert httpx.get(daemon.metrics_url, timeout=30).status_code == 200
        assert daemon.stop()[0] == 0
    finally:
        daemon.kill()
    modules = set(out.read_text().split())
    assert "monitor.service.daemon" in modules
    commands = [m for m in matching(modules, ("monitor.commands",)) if m != "monitor.commands"]
    assert commands == [
        "monitor.commands.defaults",
        "monitor.commands.exits",
        "monitor.commands.run",
    ]
    assert matching(modules, (*TEST_DOUBLES, "jinja2", "yaml", "bcrypt")) == []
