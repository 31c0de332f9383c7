"""`notify-test` on a host installed as docs/install.md says: it sends to the sinks and never
needs, nor reads, the useapi.net token."""

from __future__ import annotations

import os
import subprocess
import sys
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
