"""Fixtures of the end-to-end tests: a webhook receiver, a real Alertmanager routing to it, the
daemon as a process, and a real Prometheus scraping it with the shipped rules.

They are module-scoped: a test module starts one stack and its tests share it. A module
provides a `daemon` fixture (its own scenario, usually built with `daemon_process` and
`tests.helpers.configs.config_text`); `prometheus` then scrapes that daemon and alerts to
`alertmanager`. Every process is stopped at the end of the module, whatever happened.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from monitor.testing.receiver import WebhookReceiver
from tests.e2e.alertmanager import Alertmanager
from tests.e2e.prometheus import Prometheus
from tests.helpers import require_binary
from tests.helpers.daemonprocess import DaemonProcess

StartDaemon = Callable[..., DaemonProcess]


@pytest.fixture(scope="module")
def prometheus_binary() -> str:
    return require_binary("prometheus")


@pytest.fixture(scope="module")
def alertmanager_binary() -> str:
    # Debian calls it prometheus-alertmanager; upstream's tarball, alertmanager.
    for name in ("prometheus-alertmanager", "alertmanager"):
        path = shutil.which(name)
        if path is not None:
            return path
    return require_binary("prometheus-alertmanager")


@pytest.fixture(scope="module")
def e2e_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture(scope="module")
def alertmanager(
    alertmanager_binary: str, e2e_dir: Path, receiver: WebhookReceiver
) -> Iterator[Alertmanager]:
    """Alertmanager on a free port; `.delivered()` is what it POSTed to the receiver."""
    alertmanager = Alertmanager.start(alertmanager_binary, e2e_dir / "alertmanager", receiver)
    try:
        yield alertmanager
    finally:
        alertmanager.stop()


@pytest.fixture(scope="module")
def daemon_process(e2e_dir: Path) -> Iterator[StartDaemon]:
    """Starts `python -m monitor run --config FILE` with the given config text."""
    started: list[DaemonProcess] = []

    def start(config: str, name: str = "daemon") -> DaemonProcess:
        path = e2e_dir / f"{name}.toml"
        path.write_text(config)
        daemon = DaemonProcess(path, e2e_dir, name=name)
        started.append(daemon)
        return daemon

    try:
        yield start
    finally:
        for daemon in started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                daemon.stop()
            daemon.kill()


@pytest.fixture(scope="module")
def prometheus(
    prometheus_binary: str,
    e2e_dir: Path,
    daemon: DaemonProcess,
    alertmanager: Alertmanager,
) -> Iterator[Prometheus]:
    """Prometheus scraping the module's `daemon` every second with the shipped rules."""
    prometheus = Prometheus.start(
        prometheus_binary, e2e_dir / "prometheus", [daemon.address], alertmanager.address
    )
    try:
        yield prometheus
    finally:
        prometheus.stop()
