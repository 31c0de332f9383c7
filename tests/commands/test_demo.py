"""`demo` writes its config as a file and loads it as the daemon loads any: the file holds
what the demo runs with, and `config check` takes it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from monitor.commands.demo import DEMO_SECRET, write_demo_config
from monitor.config import AccountRule, SinkType, load_config
from monitor.testing import DEMO_DOMAIN, DEMO_TOKEN
from tests.helpers.commands import cli


@pytest.mark.parametrize("name", ["state", 'odd "dir" \\ with ü and #'])
def test_the_demo_config_loads_and_config_check_takes_it(tmp_path: Path, name: str) -> None:
    directory = tmp_path / name
    directory.mkdir()
    path = write_demo_config(
        directory, "http://127.0.0.1:1", "127.0.0.1:0", "http://127.0.0.1:2/hook"
    )
    assert path.parent == directory
    config = load_config(path, env={})
    (source,) = config.sources
    assert (source.name, source.base_url) == ("demo", "http://127.0.0.1:1")
    assert source.token.reveal() == DEMO_TOKEN
    assert (source.capacity_endpoint, source.account_endpoint, source.features_endpoint) == (
        True,
        True,
        True,
    )
    poll = config.poll
    assert (poll.interval, poll.timeout, poll.jitter, poll.stale_after) == (
        timedelta(seconds=15),
        timedelta(seconds=5),
        timedelta(0),
        timedelta(minutes=1),
    )
    assert poll.account_interval == poll.features_interval == timedelta(minutes=1)
    thresholds = config.thresholds
    assert (thresholds.warning, thresholds.critical, thresholds.plan_warning) == (
        timedelta(hours=72),
        timedelta(hours=24),
        timedelta(days=7),
    )
    assert (thresholds.min_usable_capacity, thresholds.min_credits) == (22, 100)
    assert (config.metrics.host, config.metrics.port) == ("127.0.0.1", 0)
    assert config.alerts.state_dir == directory
    (sink,) = config.sinks
    assert (sink.name, sink.type, sink.url.reveal()) == (
        "demo-receiver",
        SinkType.WEBHOOK,
        "http://127.0.0.1:2/hook",
    )
    assert sink.secret is not None and sink.secret.reveal() == DEMO_SECRET
    assert config.accounts == (AccountRule(f"urgent@{DEMO_DOMAIN}", labels=(("team", "studio"),)),)
    checked = cli("config", "check", str(path))
    assert checked.returncode == 0, checked.stderr
    assert DEMO_SECRET not in checked.stdout
    assert DEMO_TOKEN not in checked.stdout
