"""An email sink's keys: defaults by `tls`, each error naming its key (exit 2 at the CLI),
the password read from its file and masked by `config check`."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from monitor.config import parse_config, render_config
from monitor.config.model import SmtpTls
from monitor.errors import ConfigError
from tests.helpers.commands import cli

PASSWORD = "smtp-SECRET-password-41b"
BASE = {"name": "mail", "type": "email", "smtp_host": "smtp.example.com"}
ADDRESSES = {"from": "pixverse-monitor <alerts@example.com>", "to": ["billing@example.com"]}


def sink(tmp_path: Path, **keys: Any) -> dict[str, Any]:
    (tmp_path / "smtp-password").write_text(PASSWORD + "\n")
    return {**BASE, **ADDRESSES, **keys}


def load(tmp_path: Path, table: dict[str, Any]) -> Any:
    return parse_config({"sinks": [table]}, env={"USEAPI_TOKEN": "t"}, base_dir=tmp_path).sinks[0]


@pytest.mark.parametrize(
    ("tls", "port"), [(None, 587), ("starttls", 587), ("tls", 465), ("none", 25)]
)
def test_the_port_follows_tls(tmp_path: Path, tls: str | None, port: int) -> None:
    keys = {"tls": tls} if tls else {}
    email = load(tmp_path, sink(tmp_path, **keys)).email
    assert (email.tls, email.smtp_port) == (SmtpTls(tls or "starttls"), port)
    assert email.recipients == ("billing@example.com",)


def test_a_login_reads_the_password_file(tmp_path: Path) -> None:
    loaded = load(tmp_path, sink(tmp_path, username="alerts", password_file="smtp-password"))
    assert loaded.email.password.reveal() == PASSWORD
    assert loaded.url_display == "smtp://smtp.example.com:587 (starttls)"
    assert PASSWORD not in repr(loaded)


@pytest.mark.parametrize(
    ("keys", "key", "problem"),
    [
        ({"smtp_host": None}, "smtp_host", "is required"),
        ({"smtp_host": "bad host"}, "smtp_host", "is not a host name"),
        ({"tls": "ssl"}, "tls", "must be one of starttls, tls, none"),
        ({"smtp_port": 0}, "smtp_port", "from 1 to 65535"),
        ({"smtp_port": "587"}, "smtp_port", "expected an integer"),
        ({"username": "alerts"}, "password_file", "is required with username"),
        ({"password_file": "smtp-password"}, "username", "is required with password_file"),
        ({"password": "inline"}, "password", "secrets are not accepted inline"),
        ({"username": "a", "password_file": "missing"}, "password_file", "missing"),
        ({"from": None}, "from", "is required"),
        ({"from": "not an address"}, "from", "is not an email address"),
        ({"from": "a@x.io, b@x.io"}, "from", "one address per entry"),
        ({"from": "a@x.io\r\nBcc: evil@x.io"}, "from", "is not one email address"),
        ({"to": []}, "to", "needs one address or more"),
        ({"to": "billing@example.com"}, "to", "expected an array"),
        ({"to": ["ok@x.io", "nope"]}, "to[1]", "is not an email address"),
        ({"to": ["ok@x.io", 3]}, "to[1]", "expected an address"),
        ({"tls": "none", "ca_file": "ca.pem"}, "ca_file", "checks no certificate"),
        ({"ca_file": "missing.pem"}, "ca_file", "missing.pem"),
        ({"ca_file": "smtp-password"}, "ca_file", "holds no PEM certificate"),
        ({"url": "https://x.io/"}, "url", "an email sink sends to smtp_host"),
        ({"secret_file": "smtp-password"}, "secret_file", "only webhook sinks"),
        ({"colour": "red"}, "colour", "unknown key"),
    ],
)
def test_a_bad_key_is_named(tmp_path: Path, keys: dict[str, Any], key: str, problem: str) -> None:
    table = {k: v for k, v in sink(tmp_path, **keys).items() if v is not None}
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, table)
    assert caught.value.key == f"sinks[0].{key}"
    assert problem in str(caught.value)


def test_email_keys_are_refused_for_other_types(tmp_path: Path) -> None:
    table = {"name": "hook", "url": "https://x.io/hook", "smtp_host": "smtp.example.com"}
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, table)
    assert caught.value.key == "sinks[0].smtp_host"
    assert "only email sinks take it" in str(caught.value)


def test_config_check_masks_the_password_and_loads_back(tmp_path: Path) -> None:
    table = sink(tmp_path, username="alerts", password_file="smtp-password", tls="none")
    config = parse_config({"sinks": [table]}, env={"USEAPI_TOKEN": "t"}, base_dir=tmp_path)
    text = render_config(config)
    assert PASSWORD not in text
    assert "# password: ********" in text
    assert '# login and password sent unencrypted, as tls = "none" asks' in text
    again = parse_config(tomllib.loads(text), env={"USEAPI_TOKEN": "t"}, base_dir=tmp_path)
    assert again.sinks == config.sinks


def test_the_cli_exits_2_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[[sinks]]\nname = "mail"\ntype = "email"\nsmtp_host = "smtp.example.com"\n'
        'from = "alerts@example.com"\nto = ["nope"]\n'
    )
    done = cli("config", "check", str(path), env={"USEAPI_TOKEN": "t"})
    assert done.returncode == 2
    assert "sinks[0].to[0]" in done.stderr and "Traceback" not in done.stderr
