"""`notify-test` on a host installed as docs/install.md says: it sends to the sinks and never
needs, nor reads, the useapi.net token; a warning by default, ending by itself within seconds;
`--dry-run` prints what each sink would get, secrets masked."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from monitor.testing.receiver import WebhookReceiver


def test_notify_test_needs_no_token(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    with WebhookReceiver() as receiver:
        # As the shipped config: no token_file or token_env, and here no token anywhere.
        config.write_text(
            f"""
[[sources]]
name = "default"

[alerts]
state_dir = "{tmp_path / "state"}"

[[sinks]]
name = "ops"
type = "webhook"
url = "{receiver.url}/hook"
"""
        )
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("USEAPI_TOKEN", "CREDENTIALS_DIRECTORY")
        }
        result = subprocess.run(
            [sys.executable, "-m", "monitor", "notify-test", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "ops (webhook http://127.0.0.1" in result.stdout
        (got,) = receiver.accepted()
    assert got.json()["commonLabels"]["alertname"] == "PixverseMonitorTest"
    # The same config is still refused by the commands that do call useapi.net.
    check = subprocess.run(
        [sys.executable, "-m", "monitor", "check", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert check.returncode == 3
    assert "no useapi.net token" in check.stdout


SLACK_PATH = "/services/T0TEST/B0TEST/notifyTestSlackSecret"
AM_PASSWORD = "am-PASSWORD-notify-test"
HMAC_KEY = "hmac-KEY-notify-test"


def _config(tmp_path: Path, receiver: WebhookReceiver) -> Path:
    (tmp_path / "hmac").write_text(HMAC_KEY)
    am = receiver.url.replace("http://", f"http://am:{AM_PASSWORD}@")
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[metrics]
external_url = "https://monitor.example.com/"

[alerts]
state_dir = "{tmp_path / "state"}"

[[sinks]]
name = "ops"
url = "{receiver.url}/hook"
secret_file = "{tmp_path / "hmac"}"

[[sinks]]
name = "chat"
type = "slack"
url = "{receiver.url}{SLACK_PATH}"
min_severity = "critical"
matchers = ['team="nobody"']

[[sinks]]
name = "am"
type = "alertmanager"
url = "{am}"
"""
    )
    return config


def _notify_test(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "USEAPI_TOKEN"}
    return subprocess.run(
        [sys.executable, "-m", "monitor", "notify-test", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def test_the_test_alert_is_a_warning_by_default_and_reaches_every_sink(tmp_path: Path) -> None:
    """Every sink, whatever its min_severity and matchers: it is a test of the sink."""
    with WebhookReceiver() as receiver:
        done = _notify_test(_config(tmp_path, receiver))
        assert done.returncode == 0, done.stdout + done.stderr
        by_path = {r.path: r for r in receiver.accepted()}
        assert set(by_path) == {"/hook", SLACK_PATH, "/api/v2/alerts"}
        hook = by_path["/hook"].json()
        assert hook["commonLabels"]["severity"] == "warning"
        (posted,) = by_path["/api/v2/alerts"].json()
        assert posted["labels"]["severity"] == "warning"
        # It ends by itself within seconds: Alertmanager never keeps it for minutes.
        ends = datetime.fromisoformat(posted["endsAt"]).timestamp()
        starts = datetime.fromisoformat(posted["startsAt"]).timestamp()
        assert 0 < ends - starts <= 15
        chat = by_path[SLACK_PATH].json()
        assert chat["text"].startswith(":warning: WARNING: PixverseMonitorTest source notify-test")
        critical = _notify_test(
            _config(tmp_path, receiver), "--severity", "critical", "--sink", "am"
        )
        assert critical.returncode == 0
        (again,) = receiver.accepted()[-1].json()
        assert again["labels"]["severity"] == "critical"
        assert _notify_test(_config(tmp_path, receiver), "--severity", "info").returncode == 2


def test_a_dry_run_prints_each_request_with_secrets_masked_and_sends_nothing(
    tmp_path: Path,
) -> None:
    with WebhookReceiver() as receiver:
        done = _notify_test(_config(tmp_path, receiver), "--dry-run")
        assert done.returncode == 0, done.stderr
        assert receiver.received == []
    out = done.stdout
    assert "== ops (webhook http://127.0.0.1" in out and "would send 1 request(s)" in out
    assert f"POST {receiver.url}/…" in out  # the URL as config check shows it
    assert "X-Pixverse-Monitor-Signature: t=" in out
    # Alertmanager's URL carries a password: shown without it, the API path kept.
    assert f"POST {receiver.url}/api/v2/alerts" in out
    assert '"alertname":"PixverseMonitorTest"' in out
    # Links point where people reach the monitor: [metrics] external_url.
    assert '"externalURL":"https://monitor.example.com"' in out
    assert "<https://monitor.example.com/|status page>" in out
    for secret in (SLACK_PATH, AM_PASSWORD, HMAC_KEY, "notifyTestSlackSecret"):
        assert secret not in out + done.stderr
