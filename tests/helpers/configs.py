"""Config files under a test's tmp_path, with the token in a file as in production; and the
config text of a daemon run as a process, with sources and sinks of any number."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import orjson

from monitor.config.load import load_config
from monitor.config.model import Config

API_TOKEN = "useapi-SECRET-token-5f2b9c"

# Every key set, each table in every shape it takes (a token from a file and from the
# environment, every sink type with its files, a rule with everything): what a test of every
# key loads, and config check prints. Its files are `every_key_files`; TOKEN in the env.
EVERY_KEY = """
[[sources]]
name = "a"
token_file = "token"
capacity_endpoint = false
account_endpoint = false
features_endpoint = false
[[sources]]
name = "b"
token_env = "TOKEN"
[poll]
interval = "1m"
timeout = "5s"
jitter = "1s"
stale_after = "10m"
max_response_bytes = 4096
account_interval = "2h"
features_interval = "3h"
[thresholds]
warning = "48h"
critical = "12h"
min_usable_capacity = 3
plan_warning = "3d"
min_credits = 7
[metrics]
listen = "127.0.0.1:9000"
account_label = "hash"
web_config_file = "web.yml"
external_url = "https://monitor.example"
[alerts]
repeat_interval = "1h"
state_dir = "/var/lib/x"
[[sinks]]
name = "hook"
url_file = "url"
secret_file = "key"
min_severity = "critical"
send_resolved = false
timeout = "3s"
group_wait = "30s"
matchers = ['team="a"', 'alertname=~"PixversePlan.*"']
[[sinks]]
name = "am"
type = "alertmanager"
url = "http://am:9093"
resolve_grace = "1m"
[[sinks]]
name = "push"
type = "ntfy"
url = "https://ntfy.example/topic"
token_file = "key"
[[sinks]]
name = "mail"
type = "email"
smtp_host = "smtp.example.com"
smtp_port = 2525
tls = "tls"
username = "alerts"
password_file = "key"
ca_file = "ca.pem"
from = "alerts@example.com"
to = ["a@example.com", "b@example.com"]
[[sinks]]
name = "phones"
type = "telegram"
bot_token_file = "bot"
chat_id = -1001234567890
message_thread_id = 42
api_url = "https://telegram.example/api"
[[accounts]]
match = "*@x.io"
ignore = true
warning = "12h"
critical = "2h"
plan_warning = "14d"
min_credits = 5
labels = { team = "a" }
"""


def every_key_files(ca_pem: str) -> dict[str, str]:
    """The files EVERY_KEY names, by name, their contents recognisable as secrets."""
    return {
        "token": "SECRETtoken1",
        "url": "https://hooks.example.com/SECRETurl123",
        "key": "SECRETkey123",
        "ca.pem": ca_pem,
        "bot": "123456:SECRETbotTOKENabcdefghijkl",
    }


class ConfigWriter:
    """Writes config files under tmp_path, with the token in a file as in production."""

    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path
        self.token_file = tmp_path / "useapi-token"
        self.token_file.write_text(API_TOKEN + "\n")

    def write(self, text: str, name: str = "config.toml") -> Path:
        path = self.dir / name
        path.write_text(text)
        return path

    def for_upstream(
        self,
        base_url: str,
        extra: str = "",
        *,
        poll: str = "",
        timeout: str = "2s",
        metrics: str = "",
        interval: str = "1h",
    ) -> Path:
        return self.write(
            f"""
[[sources]]
name = "main"
base_url = "{base_url}"
token_file = "{self.token_file}"

[poll]
interval = "{interval}"
timeout = "{timeout}"
jitter = 0
{poll}

[metrics]
listen = "127.0.0.1:0"
{metrics}

[alerts]
state_dir = "{self.dir / "state"}"
{extra}
"""
        )

    def for_sources(
        self,
        sources: list[tuple[str, str]],
        *,
        poll: str = 'interval = "1h"\njitter = 0',
        thresholds: str = "",
        listen: str = "127.0.0.1:0",
        timeout: str = "2s",
        metrics: str = "",
        extra: str = "",
    ) -> Path:
        """config.toml with a source for each (name, base_url), all with this token file."""
        blocks = "\n".join(
            f'[[sources]]\nname = "{name}"\nbase_url = "{url}"\ntoken_file = "{self.token_file}"\n'
            for name, url in sources
        )
        return self.write(
            f"""{blocks}
[poll]
timeout = "{timeout}"
{poll}

[thresholds]
{thresholds}

[metrics]
listen = "{listen}"
{metrics}

[alerts]
state_dir = "{self.dir / "state"}"
{extra}
"""
        )

    def load(self, base_url: str, extra: str = "", *, poll: str = "", metrics: str = "") -> Config:
        return load_config(self.for_upstream(base_url, extra, poll=poll, metrics=metrics), env={})


def config_text(
    sources: Sequence[tuple[str, str, Path]],
    *,
    state_dir: Path,
    poll_interval: str = "1s",
    min_usable_capacity: int = 0,
    min_credits: int = 0,
    sinks: Sequence[Mapping[str, str | bool]] = (),
) -> str:
    """A daemon config: `sources` are (name, base_url, token_file); metrics on a free port."""
    lines: list[str] = []
    for name, base_url, token_file in sources:
        lines += [
            "[[sources]]",
            f"name = {_toml(name)}",
            f"base_url = {_toml(base_url)}",
            f"token_file = {_toml(str(token_file))}",
            "",
        ]
    lines += [
        "[poll]",
        f"interval = {_toml(poll_interval)}",
        'timeout = "2s"',
        "jitter = 0",
        "",
        "[thresholds]",
        f"min_usable_capacity = {min_usable_capacity}",
        f"min_credits = {min_credits}",
        "",
        "[metrics]",
        'listen = "127.0.0.1:0"',
        "",
        "[alerts]",
        f"state_dir = {_toml(str(state_dir))}",
        "",
    ]
    for sink in sinks:
        lines += ["[[sinks]]", *(f"{key} = {_toml(value)}" for key, value in sink.items()), ""]
    return "\n".join(lines)


def _toml(value: str | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return orjson.dumps(value).decode()  # a JSON string is a TOML basic string
