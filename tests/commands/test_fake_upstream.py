"""`pixverse-monitor fake-upstream`: every scenario answers `check` as it says it will, and the
command run as a process prints its URL and token, is polled by `check`, and stops cleanly."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from monitor.cli import main
from monitor.testing import SCENARIOS, scenario_upstream
from tests.helpers import API_TOKEN, ConfigWriter
from tests.helpers.commands import cli

# What `check` answers against each scenario: exit status and the start of its first line.
EXPECTED = {
    "demo": (2, "PIXVERSE CRITICAL - lapsed@demo.pixverse.test expired 3h 0m ago, "),
    "ok": (0, "PIXVERSE OK - 3 accounts: 3 ok, 0 warning, 0 critical, 0 expired, 0 unknown; "),
    "warning": (1, "PIXVERSE WARNING - bravo@demo.pixverse.test expires in 1d 23h; 3 accounts"),
    "critical": (2, "PIXVERSE CRITICAL - charlie@demo.pixverse.test expired 3h 0m ago, bravo"),
    "401": (2, "PIXVERSE CRITICAL - source main: unauthorized; 0 accounts"),
    "500": (2, "PIXVERSE CRITICAL - source main: http_error; 0 accounts"),
    "slow": (3, "PIXVERSE UNKNOWN - no answer within --timeout 2s (source main)"),
}


def test_every_scenario_is_expected_here() -> None:
    assert sorted(EXPECTED) == sorted(s.name for s in SCENARIOS)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_check_answers_each_scenario_as_it_says(
    name: str, configs: ConfigWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    code, start = EXPECTED[name]
    # What the help and the banner promise of it.
    summary = next(s.summary for s in SCENARIOS if s.name == name)
    assert f"(check: {('OK', 'WARNING', 'CRITICAL', 'UNKNOWN')[code]}" in summary
    with scenario_upstream(name, API_TOKEN) as fake:
        # The default poll.timeout: the one-shot retry of "500" must fit within --timeout.
        path = configs.for_upstream(fake.base_url, timeout="15s")
        got = main(["check", "--timeout", "2" if name == "slow" else "8", "--config", str(path)])
    first = capsys.readouterr().out.splitlines()[0]
    assert (got, first[: len(start)]) == (code, start), first


@pytest.fixture
def fake_process() -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "monitor",
            "fake-upstream",
            *("--listen", "127.0.0.1:0", "--scenario", "warning", "--token", "t-123"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def test_the_command_prints_its_url_and_token_and_check_polls_it(
    fake_process: subprocess.Popen[str], configs: ConfigWriter
) -> None:
    assert fake_process.stdout is not None
    banner = [fake_process.stdout.readline() for _ in range(3)]
    assert banner[0].startswith("pixverse-monitor fake-upstream: scenario warning: "), banner
    url = re.fullmatch(r"url:\s+(http://127\.0\.0\.1:\d+)\n", banner[1])
    assert url, banner
    assert banner[2] == "token: t-123\n"
    # As the banner says: a source with the URL, the token in $USEAPI_TOKEN.
    path = configs.write(f'[[sources]]\nname = "fake"\nbase_url = "{url[1]}"\n')
    checked = cli("check", "--config", str(path), env={"USEAPI_TOKEN": "t-123"})
    assert checked.returncode == 1, checked
    assert checked.stdout.startswith("PIXVERSE WARNING - bravo@demo.pixverse.test expires in ")
    wrong = cli("check", "--config", str(path), env={"USEAPI_TOKEN": "not-it"})
    assert wrong.returncode == 2
    assert wrong.stdout.startswith("PIXVERSE CRITICAL - source fake: unauthorized")
    fake_process.send_signal(signal.SIGTERM)
    assert fake_process.wait(timeout=20) == 0
    assert fake_process.stderr is not None
    assert fake_process.stderr.read() == ""


def test_a_busy_port_or_an_unknown_scenario_is_one_line_and_exit_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = cli("fake-upstream", "--listen", f"127.0.0.1:{port}")
    assert busy.returncode == 2, busy
    assert busy.stderr.splitlines() == [
        f"pixverse-monitor: fake-upstream: --listen: cannot listen on 127.0.0.1:{port}: "
        "Address already in use"
    ]
    unknown = cli("fake-upstream", "--scenario", "404")
    assert unknown.returncode == 2, unknown
    assert unknown.stderr.splitlines() == [
        "pixverse-monitor: fake-upstream: --scenario: no scenario '404'; one of demo, ok, "
        "warning, critical, 401, 500, slow"
    ]


def test_the_help_names_every_scenario() -> None:
    shown = cli("fake-upstream", "--help")
    assert shown.returncode == 0
    text = " ".join(shown.stdout.split())
    names = [s.name for s in SCENARIOS]
    assert f"{', '.join(names[:-1])} or {names[-1]} (default: demo)" in text
