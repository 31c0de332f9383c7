"""sd_notify over a real AF_UNIX datagram socket: paths, abstract names, and failures."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.service.systemd import (
    MAX_STATUS_CHARS,
    Lifecycle,
    Notifier,
    notify_address,
    watchdog_interval,
)
from tests.helpers import LogCapture, async_eventually


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify.sock")
    sock.bind(path)
    sock.settimeout(5)
    yield sock, path
    sock.close()


def test_messages_reach_a_path_socket(notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": path})
    assert notifier.enabled
    notifier.ready("1/1 sources up")
    notifier.status("polling\nagain")
    notifier.watchdog()
    notifier.reloading()
    notifier.stopping()
    notifier.close()
    got = [sock.recv(4096).decode() for _ in range(5)]
    assert got[0] == "READY=1\nSTATUS=1/1 sources up"
    assert got[1] == "STATUS=polling again"  # one line, whatever the caller passed
    assert got[2] == "WATCHDOG=1"
    reloading, monotonic = got[3].split("\n")
    assert reloading == "RELOADING=1"
    assert monotonic.startswith("MONOTONIC_USEC=") and int(monotonic.split("=")[1]) > 0
    assert got[4] == "STOPPING=1"


def test_messages_reach_an_abstract_socket() -> None:
    name = f"pixverse-monitor-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(5)
        notifier = Notifier.from_environ({"NOTIFY_SOCKET": f"@{name}"})
        notifier.ready()
        notifier.status("x" * 1000)
        assert sock.recv(4096) == b"READY=1"
        assert sock.recv(4096) == b"STATUS=" + b"x" * MAX_STATUS_CHARS
        notifier.close()


@pytest.mark.parametrize(
    ("value", "address"),
    [
        (None, None),
        ("", None),
        ("/run/systemd/notify", "/run/systemd/notify"),
        ("@abstract", b"\0abstract"),
        ("vsock:2:1234", None),
        ("relative/path", None),
    ],
)
def test_notify_address(value: str | None, address: str | bytes | None) -> None:
    env = {} if value is None else {"NOTIFY_SOCKET": value}
    assert notify_address(env) == address


def test_without_a_socket_every_call_is_a_no_op() -> None:
    notifier = Notifier.from_environ({})
    assert not notifier.enabled
    notifier.ready("x")
    notifier.watchdog()
    notifier.stopping()
    notifier.close()


def test_a_vanished_socket_is_logged_not_raised(tmp_path: Path, logs: LogCapture) -> None:
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    notifier.watchdog()
    (failed,) = logs.events("sdnotify.failed")
    assert failed["message"] == "WATCHDOG=1"
    notifier.close()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "junk"}, None),
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4242"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),
    ],
)
def test_watchdog_interval_is_half_the_timeout_for_this_process(
    env: dict[str, str], expected: float | None
) -> None:
    assert watchdog_interval(env, pid=4242) == expected


@pytest.mark.anyio
async def test_ready_is_sent_by_the_deadline_when_polls_are_slow(
    notify_socket: tuple[socket.socket, str], logs: LogCapture
) -> None:
    sock, path = notify_socket
    lifecycle = Lifecycle(
        Notifier.from_environ({"NOTIFY_SOCKET": path}), watchdog_seconds=None, ready_timeout=0.05
    )

    lifecycle.start(lambda: "0/1 sources up")
    lifecycle.reloading()  # not ready yet: systemd is still starting us, so nothing sent
    lifecycle.polled("still polling", every_source_polled=False)
    await asyncio.sleep(0)
    assert not lifecycle.ready
    await async_eventually(lambda: _true(lifecycle.ready), what="READY by the deadline")
    lifecycle.polled("1/1 sources up", every_source_polled=True)  # READY only once
    lifecycle.stopping()
    lifecycle.close()

    got = [sock.recv(4096).decode() for _ in range(4)]
    assert got == [
        "STATUS=still polling",
        "READY=1\nSTATUS=0/1 sources up",
        "STATUS=1/1 sources up",
        "STOPPING=1",
    ]
    assert logs.events("daemon.ready_before_first_poll")


async def _true(value: bool) -> bool:
    return value
