"""A real Alertmanager (the Debian package) for the end-to-end tests, routing every alert to a
webhook receiver on loopback within a second."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import yaml

from monitor.testing.receiver import WebhookReceiver
from tests.e2e.servers import ServerProcess, free_port

RECEIVER_PATH = "/alertmanager"
RECEIVER_NAME = "e2e-webhook"


def config(webhook_url: str) -> dict[str, Any]:
    return {
        "route": {
            "receiver": RECEIVER_NAME,
            "group_by": ["..."],  # every alert a group of its own
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": RECEIVER_NAME,
                "webhook_configs": [{"url": webhook_url, "send_resolved": True}],
            }
        ],
    }


class Alertmanager:
    """A running Alertmanager: its URL, its API and what its webhook receiver got."""

    def __init__(self, process: ServerProcess, url: str, receiver: WebhookReceiver) -> None:
        self.process = process
        self.url = url
        self.receiver = receiver

    @property
    def address(self) -> str:
        """host:port, as Prometheus's alerting config wants it."""
        return self.url.removeprefix("http://")

    @classmethod
    def start(cls, binary: str, workdir: Path, receiver: WebhookReceiver) -> Alertmanager:
        workdir.mkdir(parents=True, exist_ok=True)
        config_path = workdir / "alertmanager.yml"
        config_path.write_text(yaml.safe_dump(config(receiver.url + RECEIVER_PATH)))
        port = free_port()
        process = ServerProcess(
            "alertmanager",
            [
                binary,
                f"--config.file={config_path}",
                f"--storage.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",  # no clustering, no gossip port
                "--log.level=info",
            ],
            workdir / "alertmanager.log",
            cwd=workdir,
        )
        alertmanager = cls(process, f"http://127.0.0.1:{port}", receiver)
        try:
            process.wait_http_ok(f"{alertmanager.url}/-/ready")
        except BaseException:
            alertmanager.stop()
            raise
        return alertmanager

    def stop(self) -> None:
        self.process.stop()

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts Alertmanager holds (GET /api/v2/alerts)."""
        response = httpx.get(f"{self.url}/api/v2/alerts", timeout=10)
        response.raise_for_status()
        alerts: list[dict[str, Any]] = response.json()
        return alerts

    def delivered(self) -> list[dict[str, Any]]:
        """Every alert Alertmanager has POSTed to the webhook receiver, in order."""
        return self.receiver.alerts(RECEIVER_PATH)
