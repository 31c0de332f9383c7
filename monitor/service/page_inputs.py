"""What the status page is fed beyond the snapshot: where people reach the monitor, the
firing alerts, the recent deliveries of each sink and a few facts of the configuration."""

from __future__ import annotations

import socket

from monitor import __version__
from monitor.alerts import Alerting
from monitor.config import Config
from monitor.web import PageFacts, PageInputs


def external_url(config: Config, *, tls: bool, port: int) -> str:
    """Where people reach this monitor: `metrics.external_url`, else the listen address (the
    host's name when it listens on every interface) with the port it got."""
    if config.metrics.external_url is not None:
        return config.metrics.external_url
    host = config.metrics.host
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - comparing, not binding
        host = socket.getfqdn()
    if ":" in host:
        host = f"[{host}]"
    return f"{'https' if tls else 'http'}://{host}:{port}"


def page_inputs(config: Config, alerting: Alerting) -> PageInputs:
    """At each render of the page: cheap, as the URL was worked out at start-up or reload."""
    sinks = tuple(s.name for s in config.sinks)
    label = config.metrics.account_label.value
    facts = PageFacts(__version__, alerting.external_url, sinks, label)
    recent = {name: alerting.recent.of(name) for name in sinks}
    return PageInputs(alerting.firing(), recent, facts)
