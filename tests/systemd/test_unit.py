"""The shipped systemd unit and example files: systemd-analyze verify and security, and the
examples load as they are."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from monitor.config.load import load_config
from monitor.web.webconfig import parse_web_config
from tests.helpers import require_binary

ROOT = Path(__file__).resolve().parents[2]
SYSTEMD = ROOT / "systemd"
UNIT = SYSTEMD / "pixverse-monitor.service"
INSTALLED_BINARY = "/opt/pixverse-monitor/bin/pixverse-monitor"
# The unit promises an exposure of at most 2.0 (docs/install.md); systemd-analyze's
# threshold is x10.
MAX_EXPOSURE = 2.0


def _analyze(*args: str) -> subprocess.CompletedProcess[str]:
    binary = require_binary("systemd-analyze", package="systemd")
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, check=False)


def _unit_for_verify(tmp_path: Path) -> Path:
    """The unit with ExecStart pointed at this interpreter: verify checks that it exists."""
    text = UNIT.read_text()
    assert f"ExecStart={INSTALLED_BINARY} run " in text
    copy = tmp_path / UNIT.name
    copy.write_text(text.replace(INSTALLED_BINARY, f"{sys.executable} -m monitor"))
    return copy


def test_unit_verifies_without_any_warning(tmp_path: Path) -> None:
    result = _analyze("verify", "--man=no", str(_unit_for_verify(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert result.stdout + result.stderr == "", result.stdout + result.stderr


def test_unit_exposure_is_within_the_promised_level(tmp_path: Path) -> None:
    result = _analyze(
        "security",
        "--offline=yes",
        f"--threshold={int(MAX_EXPOSURE * 10)}",
        "--no-pager",
        str(_unit_for_verify(tmp_path)),
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    exposure = float(match.group(1))
    assert exposure <= MAX_EXPOSURE, result.stdout
    assert result.returncode == 0, result.stdout + result.stderr


def test_unit_has_what_the_docs_promise() -> None:
    settings = [
        line.strip()
        for line in UNIT.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    for expected in (
        "Type=notify",
        "Restart=on-failure",
        "RestartPreventExitStatus=2",  # `run` exits 2 on a bad config: no restart loop
        "ExecReload=/bin/sh -c 'kill -HUP \"$MAINPID\"'",
        "LoadCredential=useapi-token:/etc/pixverse-monitor/useapi-token",
        "DynamicUser=yes",
        "StateDirectory=pixverse-monitor",
    ):
        assert expected in settings, expected
    assert any(s.startswith("WatchdogSec=") for s in settings)
    # ProcSubset=pid hides /proc/stat, and prometheus_client then drops every process_* metric.
    assert not any(s.startswith("ProcSubset=") for s in settings)


def test_the_dynamic_user_is_not_named_like_the_tokens_group() -> None:
    """docs/install.md makes a static group `pixverse-monitor` for the token's readers. A
    DynamicUser= named like it (by default, after the unit) fails to start: 217/USER."""
    install = (ROOT / "docs" / "install.md").read_text()
    (group,) = set(re.findall(r"groupadd --system ([\w-]+)", install))
    settings = dict(
        line.strip().split("=", 1)
        for line in UNIT.read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    )
    assert settings.get("DynamicUser") == "yes"
    user = settings.get("User", UNIT.stem)
    assert user != group
    assert settings.get("Group", user) != group


def test_example_config_loads_as_the_unit_runs_it(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "useapi-token").write_text("token-from-systemd-credentials\n")
    env = {"CREDENTIALS_DIRECTORY": str(credentials), "STATE_DIRECTORY": "/var/lib/x"}
    config = load_config(SYSTEMD / "config.toml", env=env)
    (source,) = config.sources
    assert source.token.reveal() == "token-from-systemd-credentials"
    assert source.token_origin == f"credential {credentials / 'useapi-token'}"
    assert str(config.alerts.state_dir) == "/var/lib/x"
    assert config.metrics.web_config_file is None


def test_example_web_config_parses() -> None:
    path = Path("/etc/pixverse-monitor/web-config.yml")
    config = parse_web_config((SYSTEMD / "web-config.yml").read_text(), path)
    assert config.tls is not None
    assert config.tls.cert_file == Path("/etc/pixverse-monitor/tls/cert.pem")
    assert config.tls.key_file == Path("/run/credentials/pixverse-monitor.service/tls-key")
    assert config.users == {}  # no default account shipped


# What a minimal Debian (debootstrap --variant=minbase) has: the Essential packages. /bin/kill
# is not among them (procps).
ESSENTIAL_BINARIES = {"/bin/sh", "/usr/bin/env"}


def test_nothing_the_unit_runs_needs_a_binary_a_minimal_debian_lacks() -> None:
    commands = [
        line.split("=", 1)[1].strip()
        for line in UNIT.read_text().splitlines()
        if re.match(r"Exec\w*=", line.strip())
    ]
    assert commands
    for command in commands:
        binary = command.lstrip("-@:+!").split()[0]
        assert binary == INSTALLED_BINARY or binary in ESSENTIAL_BINARIES, command
