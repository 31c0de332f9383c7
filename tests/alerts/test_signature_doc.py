"""The signature check docs/notifications.md gives receivers, run as written against a request
the daemon really signed (`notify-test`, through a webhook sink with `secret_file`): it
accepts it, refuses a changed body, another key and an old timestamp, and reads the key file
as the daemon does (UTF-8, surrounding whitespace dropped, no decoding)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from monitor.alerts.sinks import SIGNATURE_HEADER, verify_signature
from monitor.testing.receiver import Received, WebhookReceiver

DOC = Path(__file__).resolve().parents[2] / "docs" / "notifications.md"
# Non-ASCII, and surrounded by whitespace a text editor leaves: what "the key" means is
# tested, not only the happy path of a hex string.
KEY_FILE_TEXT = "  3f9a-clé-secrète \n\n"


def documented_snippet() -> dict[str, Any]:
    """The Python block right after `<!-- verify-signature -->`, executed."""
    text = DOC.read_text(encoding="utf-8")
    (code,) = re.findall(r"<!-- verify-signature -->\n```python\n(.*?)```", text, re.DOTALL)
    namespace: dict[str, Any] = {"__name__": "receiver"}
    exec(compile(code, str(DOC), "exec"), namespace)
    return namespace


def signed_request(tmp_path: Path) -> tuple[Path, Received]:
    """What a webhook receiver gets from `notify-test` with `secret_file` set."""
    key_file = tmp_path / "hook-key"
    key_file.write_text(KEY_FILE_TEXT, encoding="utf-8")
    config = tmp_path / "config.toml"
    with WebhookReceiver() as receiver:
        config.write_text(
            f"""
[alerts]
state_dir = "{tmp_path / "state"}"

[[sinks]]
name = "signed"
type = "webhook"
url = "{receiver.url}/hook"
secret_file = "hook-key"
"""
        )
        env = {k: v for k, v in os.environ.items() if k not in ("USEAPI_TOKEN",)}
        result = subprocess.run(
            [sys.executable, "-m", "monitor", "notify-test", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        (received,) = receiver.accepted()
    return key_file, received


def test_the_documented_check_verifies_a_request_the_daemon_signed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snippet = documented_snippet()
    read_key, verify = snippet["read_key"], snippet["verify"]
    key_file, received = signed_request(tmp_path)
    header = received.headers[SIGNATURE_HEADER.lower()]
    body = received.body
    key = read_key(str(key_file))
    assert key == "3f9a-clé-secrète".encode()  # stripped, UTF-8, not decoded

    assert verify(key, header, body) is True
    changed = body.replace(b"PixverseMonitorTest", b"PixverseMonitorTesT")
    assert verify(key, header, changed) is False
    assert verify(key + b"x", header, body) is False
    assert verify(KEY_FILE_TEXT.encode(), header, body) is False  # the whitespace is not key
    assert verify(key, header.replace("t=", "t=1"), body) is False
    assert verify(key, "v1=" + header.split("v1=")[1], body) is False  # no timestamp
    # A replay, six minutes later: refused by the tolerance of 5 minutes.
    sent = int(re.search(r"t=(\d+)", header).group(1))  # type: ignore[union-attr]
    monkeypatch.setattr(snippet["time"], "time", lambda: sent + 360.0)
    assert verify(key, header, body) is False
    assert verify(key, header, body, tolerance_seconds=600) is True

    # The project's own verify_signature, as the doc says to call it, agrees.
    assert verify_signature(key.decode(), header, body, sent + 1.0) is True
    assert verify_signature(key.decode(), header, body, sent + 360.0) is False
