"""Waiting for a condition with a deadline (never a bare sleep), and binaries CI must have."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn

import httpx
import pytest


def require_binary(
    name: str, package: str = "prometheus prometheus-alertmanager", also_in: Sequence[str] = ()
) -> str:
    """The path of `name`, on $PATH or in one of the directories `also_in` (where a package
    puts what is not meant for $PATH, such as /usr/lib/nagios/plugins); skip when missing
    locally, fail under CI (CI=true)."""
    search = os.pathsep.join([os.environ.get("PATH", os.defpath), *also_in])
    path = shutil.which(name, path=search)
    if path is None:
        _missing(f"{name} is not installed (Debian: apt-get install -y {package})")
    return path


def require_root(why: str) -> None:
    """Skip unless running as root (fail under CI, which runs as root)."""
    if os.geteuid() != 0:
        _missing(f"{why} needs root")


def _missing(message: str) -> NoReturn:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}; CI must provide it")
    pytest.skip(message)


def eventually(
    predicate: Callable[[], Any],
    timeout: float = 5.0,
    what: str = "condition",
    *,
    interval: float = 0.02,
) -> Any:
    """Poll `predicate` every `interval` seconds until it returns something truthy; fail after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def http_status(port: int, path: str) -> int | None:
    """The status of GET http://127.0.0.1:port/path; None while nothing answers."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2).status_code
    except httpx.HTTPError:
        return None


async def async_eventually(
    predicate: Callable[[], Awaitable[Any]], timeout: float = 5.0, what: str = "condition"
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)
