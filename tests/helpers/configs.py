"""Config files under a test's tmp_path, with the token in a file as in production; and the
config text of a daemon run as a process, with sources and sinks of any number."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import orjson

from monitor.config.load import load_config
from monitor.config.model import Config

API_TOKEN = "useapi-SECRET-token-5f2b9c"


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
