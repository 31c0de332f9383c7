"""What a reload changes, as a diff of two configurations (pure): what is added, removed and
rebuilt, and which settings changed (tests/service/test_daemon_reload.py has the daemon
applying it)."""

from __future__ import annotations

from pathlib import Path

from monitor.config.load import load_config
from monitor.config.model import Config
from monitor.service.reload import diff_configs
from tests.helpers import ConfigWriter


def load(path: Path) -> Config:
    return load_config(path, env={})


def test_the_diff_of_an_unchanged_config_is_empty(configs: ConfigWriter) -> None:
    config = load(configs.for_sources([("main", "http://a.test")]))
    diff = diff_configs(config, load(configs.dir / "config.toml"))
    assert diff.added == diff.removed == diff.new_clients == diff.changed == ()
    assert not diff.reschedule and not diff.rebind


def test_the_diff_names_what_changed(configs: ConfigWriter) -> None:
    old = load(
        configs.for_sources(
            [("kept", "http://a.test"), ("moved", "http://a.test"), ("gone", "http://a.test")],
        )
    )
    new = load(
        configs.for_sources(
            [("kept", "http://a.test"), ("moved", "http://b.test"), ("fresh", "http://a.test")],
            poll='interval = "10m"\njitter = 0',
            thresholds='warning = "48h"',
            listen="127.0.0.1:9999",
        )
    )
    diff = diff_configs(old, new)
    assert diff.added == ("fresh",)
    assert diff.removed == ("gone",)
    assert diff.new_clients == ("moved",)
    assert diff.reschedule and diff.rebind
    assert set(diff.changed) == {
        "sources.fresh",
        "sources.gone",
        "sources.moved.base_url",
        "poll.interval",
        "poll.stale_after",  # its default follows the interval
        "thresholds.warning",
        "metrics.port",
    }


def test_a_new_token_or_timeout_means_new_clients(configs: ConfigWriter) -> None:
    old = load(configs.for_sources([("main", "http://a.test")]))
    configs.token_file.write_text("a-rotated-token\n")
    rotated = load(configs.dir / "config.toml")
    diff = diff_configs(old, rotated)
    assert diff.new_clients == ("main",)
    assert diff.changed == ("sources.main.token",)
    assert "a-rotated-token" not in repr(diff)
    slower = load(configs.for_sources([("main", "http://a.test")], timeout="9s"))
    assert diff_configs(rotated, slower).new_clients == ("main",)
