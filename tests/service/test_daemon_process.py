"""The daemon as systemd runs it: a real process, real signals, a real $NOTIFY_SOCKET."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from monitor.testing.fakeapi import FakeUpstream
from tests.helpers import ConfigWriter, eventually, http_status
from tests.helpers.daemonprocess import DaemonProcess

WATCHDOG_USEC = 200_000  # pings every 0.1 s


class NotifyReceiver:
    """A datagram socket standing in for systemd's notification socket."""

    def __init__(self, address: str | bytes, env_value: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.env_value = env_value
        self.messages: list[str] = []

    def receive_until(self, predicate: str, timeout: float = 20.0) -> list[str]:
        """Collect datagrams until one contains the assignment `predicate`."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"no {predicate!r} within {timeout}s; got {self.messages}")
            self.sock.settimeout(remaining)
            try:
                message = self.sock.recv(4096).decode()
            except TimeoutError:
                continue
            self.messages.append(message)
            if predicate in message.split("\n"):
                return self.messages

    def assignments(self) -> list[str]:
        """Every KEY=VALUE received, in order, datagrams flattened."""
        return [line for message in self.messages for line in message.split("\n")]


@pytest.fixture(params=["path", "abstract"])
def notify_socket(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NotifyReceiver]:
    if request.param == "path":
        path = str(tmp_path / "notify.sock")
        result = NotifyReceiver(path, path)
    else:
        name = f"pixverse-monitor-test-{os.getpid()}-{time.monotonic_ns()}"
        result = NotifyReceiver(b"\0" + name.encode(), f"@{name}")
    yield result
    result.sock.close()


def _stop(daemon: DaemonProcess, sig: int = signal.SIGTERM) -> list[str]:
    """Stop it, cleanly; the events it logged."""
    code, _ = daemon.stop(sig, timeout=20)
    assert code == 0, daemon.stderr()
    return [str(e["event"]) for e in daemon.events()]


def test_notify_lifecycle_in_order(
    fake: FakeUpstream, configs: ConfigWriter, notify_socket: NotifyReceiver, tmp_path: Path
) -> None:
    path = configs.for_upstream(fake.base_url)
    env = {"NOTIFY_SOCKET": notify_socket.env_value, "WATCHDOG_USEC": str(WATCHDOG_USEC)}
    daemon = DaemonProcess(path, tmp_path, env=env)
    try:
        notify_socket.receive_until("READY=1")
        # The watchdog pings keep coming from the event loop, about every 0.1 s.
        started = time.monotonic()
        while notify_socket.assignments().count("WATCHDOG=1") < 3:
            notify_socket.receive_until("WATCHDOG=1")
        assert time.monotonic() - started < 5
        daemon.send_signal(signal.SIGHUP)
        notify_socket.receive_until("RELOADING=1")
        notify_socket.receive_until("READY=1")
        events = _stop(daemon)
        notify_socket.receive_until("STOPPING=1")
    finally:
        daemon.kill()
    got = notify_socket.assignments()
    first_ready = got.index("READY=1")
    assert first_ready == 0, got  # nothing before READY: not even a watchdog ping
    status = got[1]
    assert status.startswith("STATUS=1/1 sources up; 2 accounts: 1 ok, 1 warning,"), status
    first_watchdog = got.index("WATCHDOG=1")
    assert first_watchdog > 1
    assert got[-1] == "STOPPING=1"
    assert "WATCHDOG=1" not in got[got.index("STOPPING=1") :]
    reloading = got.index("RELOADING=1")
    assert got[reloading + 1].startswith("MONOTONIC_USEC=")
    assert "READY=1" in got[reloading:]
    assert "config.reloaded" in events


def test_without_notify_socket_nothing_changes(
    fake: FakeUpstream, configs: ConfigWriter, tmp_path: Path
) -> None:
    # DaemonProcess leaves $NOTIFY_SOCKET and $WATCHDOG_USEC out, whatever runs the tests.
    daemon = DaemonProcess(configs.for_upstream(fake.base_url), tmp_path)
    try:
        eventually(lambda: http_status(daemon.port, "/readyz") == 200, what="ready")
        _stop(daemon)
    finally:
        daemon.kill()
    ready = daemon.events("daemon.ready")
    assert ready and ready[0]["notify_socket"] is False


def _metrics(port: int) -> str:
    return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text


def test_sighup_reloads_a_good_config_and_keeps_the_old_one_on_a_bad_one(
    fake: FakeUpstream, configs: ConfigWriter, tmp_path: Path
) -> None:
    path = configs.for_upstream(fake.base_url)
    daemon = DaemonProcess(path, tmp_path)
    port = daemon.port
    bob_ok = 'pixverse_account_state{source="main",account="bob@example.com",state="ok"} 1'
    bob_warning = bob_ok.replace('state="ok"', 'state="warning"')
    try:
        eventually(lambda: bob_warning in _metrics(port), what="first poll")
        assert "pixverse_monitor_config_last_reload_successful 1" in _metrics(port)

        # A good config: the new thresholds apply at once, without a new poll.
        configs.for_upstream(fake.base_url, extra="[thresholds]\nwarning = '36h'")
        daemon.send_signal(signal.SIGHUP)
        eventually(lambda: bob_ok in _metrics(port), what="the new warning threshold")
        text = _metrics(port)
        assert 'pixverse_monitor_polls_total{source="main",outcome="success"} 1' in text

        # A broken config: logged, the running one kept, the daemon still up.
        path.write_text(path.read_text().replace("warning = '36h'", "warning = 'later'"))
        daemon.send_signal(signal.SIGHUP)
        eventually(
            lambda: "pixverse_monitor_config_last_reload_successful 0" in _metrics(port),
            what="the failed reload to show",
        )
        assert bob_ok in _metrics(port)
        assert daemon.running()
        assert http_status(port, "/healthz") == 200

        # Fixed again: back to 1.
        configs.for_upstream(fake.base_url)
        daemon.send_signal(signal.SIGHUP)
        eventually(lambda: bob_warning in _metrics(port), what="the default threshold again")
        assert "pixverse_monitor_config_last_reload_successful 1" in _metrics(port)
        _stop(daemon)
    finally:
        daemon.kill()
    (failed,) = daemon.events("config.reload_failed")
    assert failed["key"] == "thresholds.warning"
    assert len(daemon.events("config.reloaded")) == 2


def test_a_failed_reload_shows_in_the_status_until_a_good_one(
    fake: FakeUpstream, configs: ConfigWriter, notify_socket: NotifyReceiver, tmp_path: Path
) -> None:
    path = configs.for_upstream(fake.base_url)
    daemon = DaemonProcess(path, tmp_path, env={"NOTIFY_SOCKET": notify_socket.env_value})
    try:
        notify_socket.receive_until("READY=1")
        good = path.read_text()
        path.write_text(good.replace('interval = "1h"', 'interval = "often"'))
        daemon.send_signal(signal.SIGHUP)
        notify_socket.receive_until("RELOADING=1")
        failed = _status_with_ready(notify_socket)
        assert failed.startswith("STATUS=RELOAD FAILED (poll.interval: expected a duration"), failed
        assert "running the previous configuration; 1/1 sources up" in failed
        path.write_text(good)
        daemon.send_signal(signal.SIGHUP)
        notify_socket.receive_until("RELOADING=1")
        fixed = _status_with_ready(notify_socket)
        assert fixed.startswith("STATUS=1/1 sources up"), fixed
        _stop(daemon)
    finally:
        daemon.kill()


def _status_with_ready(notify_socket: NotifyReceiver) -> str:
    """The STATUS= sent along with the next READY=1."""
    notify_socket.receive_until("READY=1")
    lines = notify_socket.messages[-1].split("\n")
    return next(line for line in lines if line.startswith("STATUS="))
