"""A real Prometheus (the Debian package) for the end-to-end tests, configured from the shipped
example scrape config and rules, and a small client for its HTTP API."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.e2e.servers import ServerProcess, free_port
from tests.helpers.grafana import GRAFANA

RULES = GRAFANA / "prometheus-rules.yml"
EXAMPLE_CONFIG = GRAFANA / "prometheus-scrape.yml"
JOB = "pixverse-monitor"


class PromQLError(AssertionError):
    """Prometheus answered a query with an error."""


def config_from_example(targets: Sequence[str], alertmanager: str | None) -> dict[str, Any]:
    """The shipped example config with these targets, every second, and the shipped rules."""
    config: dict[str, Any] = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(RULES)]
    (job,) = config["scrape_configs"]
    assert job["job_name"] == JOB
    job["scrape_interval"] = "1s"
    job["scrape_timeout"] = "1s"
    job["static_configs"] = [{"targets": list(targets)}]
    if alertmanager is None:
        del config["alerting"]
    else:
        config["alerting"]["alertmanagers"][0]["static_configs"] = [{"targets": [alertmanager]}]
    return config


class Prometheus:
    """A running Prometheus: its URL and its API."""

    def __init__(self, process: ServerProcess, url: str) -> None:
        self.process = process
        self.url = url
        self._client = httpx.Client(base_url=url, timeout=10)

    @classmethod
    def start(
        cls,
        binary: str,
        workdir: Path,
        targets: Sequence[str],
        alertmanager: str | None = None,
    ) -> Prometheus:
        workdir.mkdir(parents=True, exist_ok=True)
        config_path = workdir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config_from_example(targets, alertmanager)))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        process = ServerProcess(
            "prometheus",
            [
                binary,
                f"--config.file={config_path}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                f"--web.external-url={url}/",  # generatorURL; the hostname by default
                # New, changed and resolved alerts go out at once anyway; firing ones are
                # re-sent every second instead of every minute.
                "--rules.alert.resend-delay=1s",
                "--log.level=info",
            ],
            workdir / "prometheus.log",
            cwd=workdir,
        )
        prometheus = cls(process, url)
        try:
            process.wait_http_ok(f"{prometheus.url}/-/ready")
        except BaseException:
            prometheus.stop()
            raise
        return prometheus

    def stop(self) -> None:
        self._client.close()
        self.process.stop()

    def api(self, path: str, **params: Any) -> Any:
        """GET /api/v1/{path}; the `data` of a success, PromQLError otherwise."""
        response = self._client.get(f"/api/v1/{path}", params=params)
        body = response.json()
        if body.get("status") != "success":
            raise PromQLError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query at the current time: its result series."""
        data = self.api("query", query=expr)
        return list(data["result"]) if data["resultType"] in ("vector", "matrix") else [data]

    def query_range(self, expr: str, seconds: float, step: float = 1.0) -> list[dict[str, Any]]:
        """A range query over the last `seconds`: its result series."""
        end = time.time()
        data = self.api("query_range", query=expr, start=end - seconds, end=end, step=step)
        return list(data["result"])

    def label_values(self, label: str, selector: str = "") -> list[str]:
        params = {"match[]": selector} if selector else {}
        return list(self.api(f"label/{label}/values", **params))

    def firing_alerts(self) -> list[dict[str, Any]]:
        return [a for a in self.api("alerts")["alerts"] if a["state"] == "firing"]

    def rules(self) -> list[dict[str, Any]]:
        return [rule for group in self.api("rules")["groups"] for rule in group["rules"]]

    def targets(self) -> list[dict[str, Any]]:
        return list(self.api("targets")["activeTargets"])
