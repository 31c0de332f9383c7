"""The service where it runs: a Debian 12 made by debootstrap, booted with systemd 252 as PID 1
(systemd-nspawn), installed by running the install commands of docs/install.md as they are
written, against the package's fake useapi.net and webhook receiver on the host's loopback.

Then, in order: the service is active with a STATUS; `config check`, `check` and
`notify-test` work as root with no extra environment; the token file is root:pixverse-monitor
0640, and a monitoring user added to that group as the docs say runs `check`, and so does
Debian's NRPE with the shipped command, while a user outside the group gets a clear
UNKNOWN; a good and a bad reload, the bad one
shown by `systemctl status`; a poll failure found by `journalctl -p warning`; the sandbox
applies; a stopped event loop is killed and restarted by the watchdog; a taken port is one
clear line and no restart loop; a second daemon on its state directory is refused; stop
exits 0.

`pytest -m systemd`; skipped without systemd-nspawn or debootstrap (or root), failing under
CI=true. The root file system is cached (see nspawn.py); the first run makes it.
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import pytest

from monitor.testing.fakeapi import ACCOUNTS, FakeAccount, FakeUpstream, Fault
from monitor.testing.receiver import WebhookReceiver
from tests.helpers import API_TOKEN, DAY, eventually
from tests.systemd.nspawn import (
    CA_INSIDE,
    Container,
    Result,
    cache_dir,
    cached_rootfs,
    free_tcp_port,
    host_ca_bundle,
    install_blocks,
    require_tools,
    source_tree_copy,
)

# Each check enters the container: a slower poll than eventually()'s default.
CONTAINER_POLL_SECONDS = 0.25

pytestmark = [pytest.mark.systemd, pytest.mark.timeout(1200)]

ROOT = Path(__file__).resolve().parents[2]
INSTALL_DOC = ROOT / "docs" / "install.md"
UNIT = "pixverse-monitor.service"
CHECKOUT = "/root/pixverse-monitor"
CONFIG = "/etc/pixverse-monitor/config.toml"
BLOCKS = ("program", "config", "unit", "check", "monitoring-user", "nrpe")
TOKEN_FILE = "/etc/pixverse-monitor/useapi-token"
CHECK_NRPE = "/usr/lib/nagios/plugins/check_nrpe"
WATCHDOG_TIMEOUT = 90.0  # WatchdogSec=30s, RestartSec=5s, and a start
# The dynamic users systemd makes up (systemd.exec(5), DynamicUser=).
DYNAMIC_UIDS = range(61184, 65520)


@dataclass
class Stack:
    container: Container
    upstream: FakeUpstream
    receiver: WebhookReceiver
    port: int
    timings: dict[str, float] = field(default_factory=dict)
    blocks: dict[str, str] = field(default_factory=dict)

    def metrics(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text

    def show(self, *properties: str) -> dict[str, str]:
        return self.container.show(UNIT, *properties)

    def status_text(self) -> str:
        return self.show("StatusText")["StatusText"]

    def edit_config(self, old: str, new: str) -> None:
        text = self.container.run(f"cat {CONFIG}").stdout
        assert old in text, f"{old!r} not in {CONFIG}"
        self.container.run(f"cat > {CONFIG}", stdin=text.replace(old, new, 1))

    def systemctl(self, action: str, check: bool = True) -> int:
        return self.container.run(f"systemctl {action} {UNIT}", check=check).returncode


def operator_edit(shipped: str, base_url: str, port: int, hook: str) -> str:
    """What docs/install.md asks of the reader after step 2 ("add your [[sinks]]"), plus what this
    test needs: the fake useapi.net, a free port, and polls every 2 s to see things happen."""
    edits = [
        ('base_url = "https://api.useapi.net"', f'base_url = "{base_url}"'),
        ('interval = "5m"', 'interval = "2s"'),
        ('timeout = "15s"', 'timeout = "1s"'),
        ('jitter = "10s"', 'jitter = "0s"'),
        ('listen = "127.0.0.1:9877"', f'listen = "127.0.0.1:{port}"'),
    ]
    text = shipped
    for old, new in edits:
        assert old in text, f"the shipped config.toml no longer has {old!r}"
        text = text.replace(old, new, 1)
    return text + f'\n[[sinks]]\nname = "ops"\ntype = "webhook"\nurl = "{hook}"\n'


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_tools()
    blocks = install_blocks(INSTALL_DOC.read_text())
    assert tuple(blocks) == BLOCKS, f"docs/install.md install blocks: {list(blocks)}"
    began = time.monotonic()
    timings: dict[str, float] = {}
    rootfs = cached_rootfs()
    timings["debootstrap (0: cached)"] = rootfs.seconds
    work = tmp_path_factory.mktemp("nspawn")
    checkout = work / "pixverse-monitor"
    source_tree_copy(ROOT, checkout)
    caches = cache_dir()
    apt_archives = caches / "apt-archives"
    pip_cache = caches / "pip"
    (apt_archives / "partial").mkdir(parents=True, exist_ok=True)
    pip_cache.mkdir(parents=True, exist_ok=True)
    read_only = {}
    ca = host_ca_bundle()
    if ca is not None:
        read_only[ca] = CA_INSIDE
    port = free_tcp_port()
    accounts = [
        FakeAccount("alice@nspawn.test", time.time() + 30 * DAY, max_jobs=8, executing=2),
        FakeAccount("bob@nspawn.test", time.time() + 40 * DAY, max_jobs=3),
    ]
    with (
        FakeUpstream(token=API_TOKEN, accounts=accounts) as upstream,
        WebhookReceiver() as receiver,
        Container.booted(
            rootfs.path,
            f"pixverse-test-{port}",
            work / "nspawn.log",
            binds={
                checkout: CHECKOUT,
                # Downloads kept between runs; what is installed still comes from them anew.
                apt_archives: "/var/cache/apt/archives",
                pip_cache: "/root/.cache/pip",
            },
            read_only_binds=read_only,
        ) as container,
    ):
        timings["boot"] = time.monotonic() - began - rootfs.seconds
        stack = Stack(container, upstream, receiver, port, timings, blocks)
        step = time.monotonic()
        container.script(f"cd {CHECKOUT}\n{blocks['program']}", timeout=900)
        timings["step 1 (apt, venv, pip)"] = time.monotonic() - step
        container.script(f"cd {CHECKOUT}\n{blocks['config']}", stdin=API_TOKEN + "\n")
        shipped = container.run(f"cat {CONFIG}").stdout
        edited = operator_edit(shipped, upstream.base_url, port, receiver.url + "/hook")
        container.run(f"cat > {CONFIG}", stdin=edited)
        step = time.monotonic()
        container.script(f"cd {CHECKOUT}\n{blocks['unit']}")
        container.script(blocks["check"])
        timings["steps 3-4"] = time.monotonic() - step
        try:
            yield stack
        finally:
            timings["total"] = time.monotonic() - began
            report = ", ".join(f"{k} {v:.1f}s" for k, v in timings.items())
            print(f"\nnspawn timings: {report}", file=sys.__stderr__, flush=True)


def test_the_documented_install_starts_the_service_with_a_status(stack: Stack) -> None:
    props = stack.show("ActiveState", "SubState", "Type", "NRestarts", "StatusText")
    assert (props["ActiveState"], props["SubState"]) == ("active", "running")
    assert props["Type"] == "notify"
    assert props["NRestarts"] == "0"
    assert props["StatusText"].startswith("1/1 sources up; 2 accounts: 2 ok,"), props
    status = stack.container.run(f"systemctl status {UNIT} --no-pager").stdout
    assert 'Status: "1/1 sources up;' in status
    assert 'pixverse_account_state{source="default",account="alice@nspawn.test",state="ok"} 1' in (
        stack.metrics()
    )


def test_host_commands_work_as_root_with_no_extra_environment(stack: Stack) -> None:
    run = stack.container.run
    env = run("env").stdout
    assert "CREDENTIALS_DIRECTORY" not in env and "USEAPI_TOKEN" not in env
    checked = run(f"pixverse-monitor config check {CONFIG}")
    assert "# token: ******** (from file /etc/pixverse-monitor/useapi-token)" in checked.stdout
    assert API_TOKEN not in checked.output
    check = run("pixverse-monitor check", check=False)
    assert check.returncode == 0, check.output
    first = check.stdout.splitlines()[0]
    assert first.startswith("PIXVERSE OK - 2 accounts: 2 ok,"), first
    assert " | default_usable_jobs=11;;;0 " in first
    before = len(stack.receiver.accepted())
    notified = run("pixverse-monitor notify-test")
    assert "ops (webhook http://127.0.0.1" in notified.stdout
    assert "delivered (HTTP 200)" in notified.stdout
    received = stack.receiver.accepted()[before:]
    assert [r.json()["commonLabels"]["alertname"] for r in received] == ["PixverseMonitorTest"]


def test_a_monitoring_user_in_the_group_runs_check_and_so_does_nrpe(stack: Stack) -> None:
    """The token is root:pixverse-monitor 0640. With Debian's NRPE installed (which makes the
    user `nagios`), the documented blocks add `nagios` to the group, install the shipped
    nrpe.d command and restart NRPE: `nagios` runs `check`, and so does NRPE's own unit
    (User=nagios) when check_nrpe asks it. A user outside the group is told which file it
    cannot read, and why."""
    run = stack.container.run
    assert run(f"stat -c '%U:%G %a' {TOKEN_FILE}").stdout.strip() == "root:pixverse-monitor 640"
    nrpe_port = install_nrpe(stack.container)
    run("useradd --system --no-create-home --shell /usr/sbin/nologin outsider")
    stack.container.script(stack.blocks["monitoring-user"])
    check = run("runuser -u nagios -- pixverse-monitor check", check=False)
    assert check.returncode == 0, check.output
    assert check.stdout.startswith("PIXVERSE OK - 2 accounts: 2 ok,"), check.output
    denied = run("runuser -u outsider -- pixverse-monitor check", check=False)
    assert denied.returncode == 3, denied.output
    assert denied.stdout.splitlines()[0] == (
        f"PIXVERSE UNKNOWN - config error: cannot read {TOKEN_FILE}: Permission denied (the "
        "useapi.net token of source 'default', read from beside the config file because the "
        "source sets neither token_file nor token_env)"
    )
    stack.container.script(f"cd {CHECKOUT}\n{stack.blocks['nrpe']}")

    def ask() -> Result | None:
        asked = run(f"{CHECK_NRPE} -H 127.0.0.1 -p {nrpe_port} -c check_pixverse", check=False)
        # Until the restarted NRPE listens, check_nrpe's own "could not connect".
        return asked if asked.stdout.startswith("PIXVERSE ") else None

    asked = eventually(ask, 30, "NRPE to answer", interval=CONTAINER_POLL_SECONDS)
    assert asked.returncode == 0, asked.output
    assert asked.stdout.startswith("PIXVERSE OK - 2 accounts: 2 ok,"), asked.output
    assert API_TOKEN not in check.output + denied.output + asked.output


def install_nrpe(container: Container) -> int:
    """Debian's NRPE and check_nrpe, as a reader who runs NRPE has them; their port (the
    container shares the host's network, where 5666 may be taken)."""
    port = free_tcp_port()
    # Not started by the package: the documented restart starts it, on this port.
    container.run("cat > /usr/sbin/policy-rc.d", stdin="#!/bin/sh\nexit 101\n")
    container.run("chmod 755 /usr/sbin/policy-rc.d")
    container.run(
        "apt-get install -y --no-install-recommends nagios-nrpe-server nagios-nrpe-plugin",
        env={"DEBIAN_FRONTEND": "noninteractive"},
        timeout=600,
    )
    container.run("rm /usr/sbin/policy-rc.d")
    container.run("cat > /etc/nagios/nrpe.d/test-port.cfg", stdin=f"server_port={port}\n")
    return port


def test_a_good_and_a_bad_reload_show_in_systemctl_status(stack: Stack) -> None:
    # Good: alice (30 days) and bob (40 days) are within a 45-day warning, at once.
    stack.edit_config('warning = "72h"', 'warning = "45d"')
    assert stack.systemctl("reload") == 0
    eventually(
        lambda: "2 warning" in stack.status_text(),
        30,
        "the new threshold in STATUS",
        interval=CONTAINER_POLL_SECONDS,
    )
    assert any('"event":"config.reloaded"' in line for line in stack.container.journal(UNIT))
    # Bad: the running configuration stays, and `systemctl status` says so.
    stack.edit_config('warning = "45d"', 'warning = "soon"')
    assert stack.systemctl("reload") == 0  # the signal was sent; the daemon judges the file
    failed = eventually(
        lambda: (text := stack.status_text()).startswith("RELOAD FAILED") and text,
        30,
        "the failed reload in STATUS",
        interval=CONTAINER_POLL_SECONDS,
    )
    assert failed.startswith("RELOAD FAILED (thresholds.warning: expected a duration"), failed
    assert "running the previous configuration; 1/1 sources up" in failed
    status = stack.container.run(f"systemctl status {UNIT} --no-pager").stdout
    assert 'Status: "RELOAD FAILED (thresholds.warning:' in status
    assert stack.show("ActiveState")["ActiveState"] == "active"
    # Still shown after the next polls, until a good reload.
    polls = _count(stack, '"event":"poll.completed"')
    eventually(
        lambda: _count(stack, '"event":"poll.completed"') > polls + 1,
        30,
        "two more polls",
        interval=CONTAINER_POLL_SECONDS,
    )
    assert stack.status_text().startswith("RELOAD FAILED")
    stack.edit_config('warning = "soon"', 'warning = "72h"')
    assert stack.systemctl("reload") == 0
    eventually(
        lambda: stack.status_text().startswith("1/1 sources up; 2 accounts: 2 ok"),
        30,
        "ok",
        interval=CONTAINER_POLL_SECONDS,
    )


def _count(stack: Stack, needle: str) -> int:
    return sum(needle in line for line in stack.container.journal(UNIT))


def test_a_poll_failure_is_found_by_journalctl_priority(stack: Stack) -> None:
    stack.upstream.fail_always(ACCOUNTS, Fault(503, headers={"Retry-After": "0"}))
    try:
        warnings = eventually(
            lambda: [
                line
                for line in stack.container.journal(UNIT, "--priority=warning")
                if '"event":"poll.failed"' in line
            ],
            30,
            "poll.failed in journalctl -p warning",
            interval=CONTAINER_POLL_SECONDS,
        )
    finally:
        stack.upstream.fail_always(ACCOUNTS, None)
    assert '"outcome":"http_error"' in warnings[0]
    ours = [
        orjson.loads(line)
        for line in stack.container.journal(UNIT, "--priority=warning")
        if line.startswith("{")
    ]
    assert ours and {e["level"] for e in ours} <= {"warning", "error", "critical"}
    everything = stack.container.journal(UNIT)
    assert any('"event":"poll.completed"' in line for line in everything)
    assert not any("\x1b[" in line for line in everything)  # no colour codes in the journal
    entries = stack.container.run(
        f"journalctl --no-pager --unit={UNIT} --output=json --priority=warning"
    ).stdout.splitlines()
    failed = next(orjson.loads(e) for e in entries if "poll.failed" in e)
    assert failed["PRIORITY"] == "4"
    assert failed["SYSLOG_IDENTIFIER"] == "pixverse-monitor"


def test_the_sandbox_applies(stack: Stack) -> None:
    pid = stack.show("MainPID")["MainPID"]
    run = stack.container.run
    status = dict(
        line.split(":\t", 1) for line in run(f"cat /proc/{pid}/status").stdout.splitlines()
    )
    assert int(status["Uid"].split()[0]) in DYNAMIC_UIDS, status["Uid"]
    assert status["NoNewPrivs"].strip() == "1"
    assert status["Seccomp"].strip() == "2"
    assert int(status["CapEff"], 16) == 0
    # In the service's own mount namespace even root cannot write /etc (ProtectSystem=strict),
    # /root is empty (ProtectHome=yes), and the state directory is there.
    inside = f"nsenter --target={pid} --mount --"
    etc = run(f"{inside} touch /etc/pixverse-sandbox-probe", check=False)
    assert etc.returncode != 0 and "Read-only file system" in etc.stderr, etc
    assert run(f"{inside} ls -A /root").stdout == ""
    assert "pixverse-monitor" in run("ls -A /root").stdout  # but the host's /root is not
    assert run(f"{inside} test -d /var/lib/pixverse-monitor", check=False).returncode == 0


def test_a_stopped_event_loop_is_killed_and_restarted_by_the_watchdog(stack: Stack) -> None:
    before = stack.show("MainPID", "NRestarts")
    stack.container.run(f"kill -STOP {before['MainPID']}")

    def restarted() -> dict[str, str] | None:
        now = stack.show("MainPID", "NRestarts", "ActiveState", "StatusText")
        back = (
            now["NRestarts"] == str(int(before["NRestarts"]) + 1)
            and now["MainPID"] not in ("0", before["MainPID"])
            and now["ActiveState"] == "active"
            and now["StatusText"].startswith("1/1 sources up")
        )
        return now if back else None

    eventually(
        restarted,
        WATCHDOG_TIMEOUT,
        "the watchdog to kill and restart the service",
        interval=CONTAINER_POLL_SECONDS,
    )
    journal = "\n".join(stack.container.journal(UNIT))
    assert "Watchdog timeout" in journal


def test_a_taken_port_is_one_clear_line_and_no_restart_loop(stack: Stack) -> None:
    assert stack.systemctl("stop") == 0
    cursor = _cursor(stack)
    try:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", stack.port))
            taken.listen()
            assert stack.systemctl("start", check=False) != 0
            props = stack.show("ActiveState", "SubState", "Result", "ExecMainStatus")
            # Not "auto-restart": systemd schedules no restart for exit status 2.
            assert (props["ActiveState"], props["SubState"]) == ("failed", "failed"), props
            assert (props["Result"], props["ExecMainStatus"]) == ("exit-code", "2"), props
            lines = _process_lines(stack, cursor)
            assert not any("Traceback" in line["MESSAGE"] for line in lines), lines
            errors = [line["MESSAGE"] for line in lines if int(line["PRIORITY"]) <= 3]
            assert len(errors) == 1, errors
            assert "metrics.listen" in errors[0] and str(stack.port) in errors[0]
            assert stack.show("NRestarts")["NRestarts"] == "0"
    finally:
        # Freed: a start works again.
        stack.container.run(f"systemctl reset-failed {UNIT}", check=False)
        stack.systemctl("restart", check=False)
    assert stack.show("ActiveState")["ActiveState"] == "active"


def _cursor(stack: Stack) -> str:
    out = stack.container.run("journalctl --no-pager --lines=0 --show-cursor").stdout
    return out.strip().rsplit("-- cursor: ", 1)[1]


def _process_lines(stack: Stack, cursor: str) -> list[dict[str, str]]:
    """The journal entries the service's own process wrote since `cursor`."""
    out = stack.container.run(
        f"journalctl --no-pager --output=json --unit={UNIT} '--after-cursor={cursor}'"
    ).stdout
    entries = [orjson.loads(line) for line in out.splitlines()]
    return [e for e in entries if e.get("SYSLOG_IDENTIFIER") == "pixverse-monitor"]


def test_a_second_daemon_on_the_services_state_directory_is_refused(stack: Stack) -> None:
    """The service holds a lock in its StateDirectory (under DynamicUser, a private one that
    /var/lib/pixverse-monitor links to); a second daemon there, as root on another port,
    exits 2 naming alerts.state_dir, and the service runs on."""
    run = stack.container.run
    main_pid = stack.show("MainPID")["MainPID"]
    assert run("cat /var/lib/pixverse-monitor/lock").stdout.strip() == main_pid
    # Beside the shipped config, where the token is found as it is for `check`.
    second_config = "/etc/pixverse-monitor/second.toml"
    run(f"sed 's/^listen = .*/listen = \"127.0.0.1:0\"/' {CONFIG} > {second_config}")
    try:
        second = run(f"pixverse-monitor run --config {second_config}", check=False, timeout=60)
    finally:
        run(f"rm -f {second_config}")
    assert second.returncode == 2, second.output
    (line,) = second.stderr.splitlines()
    assert "alerts.state_dir" in line and f"(pid {main_pid})" in line, line
    props = stack.show("ActiveState", "MainPID")
    assert props == {"ActiveState": "active", "MainPID": main_pid}


def test_stop_exits_0(stack: Stack) -> None:
    cursor = _cursor(stack)
    assert stack.systemctl("stop") == 0
    props = stack.show("ActiveState", "Result", "ExecMainStatus")
    assert props == {"ActiveState": "inactive", "Result": "success", "ExecMainStatus": "0"}
    events = [line["MESSAGE"] for line in _process_lines(stack, cursor)]
    assert any('"event":"daemon.stopped"' in message for message in events)
