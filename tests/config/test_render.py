"""`config check`'s TOML: every string escaped so that the output parses back to the same
configuration, whatever characters names, paths, URLs and variable names hold.

Equal means equal dataclasses: the secrets (the useapi.net tokens, the sink URLs and HMAC keys)
are printed only as masked comments, so they come back from the same files and environment the
first load read them from, which the test supplies again, as `config check` on a host would.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from monitor.config import (
    AccountRule,
    AlertsConfig,
    Config,
    MetricsConfig,
    PollConfig,
    SinkConfig,
    SourceConfig,
    Thresholds,
    model,
    parse_config,
    parse_matcher,
    render_config,
)
from monitor.config.policy import RESERVED_LABELS
from monitor.errors import ConfigError
from monitor.timefmt import format_duration
from tests.config.test_load import documented_keys, reference_block
from tests.helpers.certs import self_signed
from tests.helpers.configs import EVERY_KEY, every_key_files

BASE_DIR = Path("/etc/pixverse-monitor")
CONFIG_PATH = BASE_DIR / "config.toml"

# Characters that a careless TOML writer gets wrong, mixed into arbitrary text.
NASTY = "\x00\x01\x08\t\n\x0b\x0c\r\x1b\x1f\x7f\"'\\#=[]{}.,:/ \u0085\u2028\ufeff\U0001f600"
odd_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)) | st.sampled_from(NASTY),
    min_size=1,
    max_size=12,
)
name = odd_text.filter(lambda s: bool(s.strip()))
secret = st.from_regex(r"SECRET[A-Za-z0-9]{6}", fullmatch=True)


class World:
    """The files and environment a config is read with; the same for both loads."""

    def __init__(self) -> None:
        self.files: dict[Path, str] = {}
        self.env: dict[str, str] = {}

    def read_text(self, path: Path) -> str:
        try:
            return self.files[path]
        except KeyError:
            raise FileNotFoundError(2, "No such file or directory", str(path)) from None

    def parse(self, data: Mapping[str, Any]) -> Config:
        return parse_config(
            data, env=self.env, base_dir=BASE_DIR, path=CONFIG_PATH, read_text=self.read_text
        )


@st.composite
def paths(draw: st.DrawFn) -> str:
    parts = draw(st.lists(name.filter(lambda s: "/" not in s and "\x00" not in s), max_size=3))
    relative = "/".join([p for p in parts if p not in (".", "..")] or ["x"])
    return relative if draw(st.booleans()) else "/" + relative


@st.composite
def http_urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["http", "https"]))
    host = draw(
        st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\.[a-z]{2,6}){0,2}", fullmatch=True)
    )
    port = draw(st.none() | st.integers(1, 65535))
    path = draw(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=10))
    return f"{scheme}://{host}{f':{port}' if port else ''}/{path}"


durations = st.timedeltas(min_value=timedelta(milliseconds=1), max_value=timedelta(days=400))


def spelled(draw: st.DrawFn, delta: timedelta) -> object:
    """A duration as a person might write it: integer seconds, seconds with a fraction (to
    the microsecond), or the config's own spelling."""
    whole, micros = divmod(delta // timedelta(microseconds=1), 1_000_000)
    way = draw(st.sampled_from(["integer", "fraction", "canonical"]))
    if way == "integer" and micros == 0:
        return whole
    if way == "fraction":
        return f"{whole}.{micros:06d}s"
    return format_duration(delta)


def maybe(draw: st.DrawFn, table: dict[str, Any], key: str, value: object) -> None:
    """Set the key, or leave it to its default."""
    if draw(st.booleans()):
        table[key] = value


label_names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,8}", fullmatch=True).filter(
    lambda n: not n.startswith("__") and n not in RESERVED_LABELS
)


@st.composite
def account_rules(draw: st.DrawFn) -> dict[str, Any]:
    """An [[accounts]] table: odd globs and label values, overrides that are valid merged."""
    rule: dict[str, Any] = {"match": draw(odd_text | st.just(""))}
    maybe(draw, rule, "ignore", draw(st.booleans()))
    if draw(st.booleans()):
        critical = draw(durations)
        rule["critical"] = spelled(draw, critical)
        rule["warning"] = spelled(draw, critical + draw(durations))
    maybe(draw, rule, "plan_warning", spelled(draw, draw(durations)))
    maybe(draw, rule, "min_credits", draw(st.integers(0, 2**63 - 1)))
    labels = draw(st.dictionaries(label_names, odd_text, max_size=3))
    if labels:
        rule["labels"] = labels
    return rule


def _escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _regex_ok(value: str) -> bool:
    try:
        parse_matcher(f'x=~"{_escaped(value)}"')
    except ValueError:
        return False
    return True


GROUP_WAITS = [timedelta(0), timedelta(seconds=30), timedelta(minutes=10)]

# Matchers as people write them: quoted or bare, any value a quoted one may hold.
matchers = st.builds(
    lambda label, op, value: f'{label}{op}"{_escaped(value)}"',
    st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True),
    st.sampled_from(["=", "!=", "=~", "!~"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12).filter(_regex_ok),
)


@st.composite
def documents(draw: st.DrawFn, world: World) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    sources = []
    for source_name in draw(st.lists(name, min_size=1, max_size=3, unique=True)):
        source: dict[str, Any] = {"name": source_name}
        maybe(draw, source, "base_url", draw(http_urls()).rstrip("/") or "http://h")
        how = draw(st.sampled_from(["file", "env", "implicit"]))
        if how == "file":
            path = draw(paths())
            source["token_file"] = path
            world.files[BASE_DIR / path] = f"  {draw(secret)}\n"
        elif how == "env":
            variable = draw(name)
            source["token_env"] = variable
            world.env[variable] = draw(secret)
        else:
            world.env["USEAPI_TOKEN"] = draw(secret)
        maybe(draw, source, "capacity_endpoint", draw(st.booleans()))
        maybe(draw, source, "account_endpoint", draw(st.booleans()))
        maybe(draw, source, "features_endpoint", draw(st.booleans()))
        sources.append(source)
    doc["sources"] = sources

    interval = draw(st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=2)))
    jitter = draw(st.timedeltas(min_value=timedelta(0), max_value=interval * 0.99))
    timeout = draw(durations)
    # Bounded: a slack near timedelta's own limit overflows the sum, here in the generator.
    slack = draw(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)))
    stale_after = interval + jitter + timeout + slack
    poll: dict[str, Any] = {"interval": spelled(draw, interval)}
    poll["jitter"] = spelled(draw, jitter)
    poll["timeout"] = spelled(draw, timeout)
    poll["stale_after"] = spelled(draw, stale_after)
    maybe(draw, poll, "max_response_bytes", draw(st.integers(1024, 2**63 - 1)))
    every = st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=30))
    maybe(draw, poll, "account_interval", spelled(draw, draw(every)))
    maybe(draw, poll, "features_interval", spelled(draw, draw(every)))
    doc["poll"] = poll

    critical = draw(durations)
    warning = critical + draw(durations)
    doc["thresholds"] = {"warning": spelled(draw, warning), "critical": spelled(draw, critical)}
    maybe(draw, doc["thresholds"], "min_usable_capacity", draw(st.integers(0, 2**63 - 1)))
    maybe(draw, doc["thresholds"], "plan_warning", spelled(draw, draw(durations)))
    maybe(draw, doc["thresholds"], "min_credits", draw(st.integers(0, 2**63 - 1)))
    doc["accounts"] = [draw(account_rules()) for _ in range(draw(st.integers(0, 3)))]

    metrics: dict[str, Any] = {}
    host = draw(st.sampled_from(["", "127.0.0.1", "[::1]", "localhost", "0.0.0.0", "[::]"]))
    maybe(draw, metrics, "listen", f"{host}:{draw(st.integers(0, 65535))}")
    maybe(draw, metrics, "account_label", draw(st.sampled_from(["email", "username", "hash"])))
    maybe(draw, metrics, "web_config_file", draw(paths()))
    external = draw(http_urls()).split("?")[0].split("#")[0].rstrip("/")
    maybe(draw, metrics, "external_url", external)
    doc["metrics"] = metrics

    alerts: dict[str, Any] = {}
    maybe(draw, alerts, "repeat_interval", spelled(draw, draw(durations)))
    maybe(draw, alerts, "state_dir", draw(paths()))
    if draw(st.booleans()):
        world.env["STATE_DIRECTORY"] = "/" + draw(paths()).lstrip("/")
    doc["alerts"] = alerts

    sinks = []
    for sink_name in draw(st.lists(name, max_size=3, unique=True)):
        kinds = ["webhook", "slack", "alertmanager", "ntfy", "telegram", "discord", "teams"]
        kind = draw(st.sampled_from(kinds))
        url_file = draw(paths())
        if kind == "telegram":
            world.files[BASE_DIR / url_file] = "123456:" + draw(secret) + "a" * 20
            sink: dict[str, Any] = {"name": sink_name, "type": kind, "bot_token_file": url_file}
            sink["chat_id"] = draw(st.sampled_from([-1001234567890, "42", "@pixverse_alerts"]))
            maybe(draw, sink, "message_thread_id", draw(st.integers(1, 2**31)))
            maybe(draw, sink, "api_url", draw(http_urls()).rstrip("/"))
        else:
            world.files[BASE_DIR / url_file] = draw(http_urls()).rstrip("/") + "/" + draw(secret)
            sink = {"name": sink_name, "url_file": url_file}
            maybe(draw, sink, "type", kind)
        if sink.get("type", "webhook") == "webhook" and draw(st.booleans()):
            secret_file = draw(paths())
            sink["secret_file"] = secret_file
            world.files[BASE_DIR / secret_file] = draw(secret)
        if kind == "ntfy" and draw(st.booleans()):
            token_file = draw(paths())
            sink["token_file"] = token_file
            world.files[BASE_DIR / token_file] = draw(secret)
        maybe(draw, sink, "group_wait", spelled(draw, draw(st.sampled_from(GROUP_WAITS))))
        maybe(draw, sink, "min_severity", draw(st.sampled_from(["warning", "critical"])))
        maybe(draw, sink, "send_resolved", draw(st.booleans()))
        maybe(draw, sink, "timeout", spelled(draw, draw(durations)))
        maybe(draw, sink, "matchers", draw(st.lists(matchers, max_size=3)))
        sinks.append(sink)
    for sink_name in draw(st.lists(name, max_size=2, unique=True)):
        sinks.append(draw(email_sinks(world, f"mail {sink_name}")))
    doc["sinks"] = sinks
    return doc


addresses = st.builds(
    lambda local, domain, display: (
        f"{display} <{local}@{domain}>" if display else f"{local}@{domain}"
    ),
    st.from_regex(r"[a-z0-9.+_-]{1,12}", fullmatch=True).filter(
        lambda t: "." not in (t[0], t[-1]) and ".." not in t
    ),
    st.from_regex(r"[a-z0-9]{1,10}\.[a-z]{2,6}", fullmatch=True),
    st.sampled_from(["", "Ops", "pixverse-monitor", '"Billing, EU"']),
)


@st.composite
def email_sinks(draw: st.DrawFn, world: World, sink_name: str) -> dict[str, Any]:
    """An email sink: every key set or left to its default, a login with its password."""
    sink: dict[str, Any] = {
        "name": sink_name,
        "type": "email",
        "smtp_host": draw(st.from_regex(r"[a-z0-9]{1,10}(\.[a-z]{2,6}){0,2}", fullmatch=True)),
        "from": draw(addresses),
        "to": draw(st.lists(addresses, min_size=1, max_size=3)),
    }
    maybe(draw, sink, "tls", draw(st.sampled_from(["starttls", "tls", "none"])))
    maybe(draw, sink, "smtp_port", draw(st.integers(1, 65535)))
    if draw(st.booleans()):
        password_file = draw(paths())
        sink["username"] = draw(name.filter(str.isprintable))
        sink["password_file"] = password_file
        world.files[BASE_DIR / password_file] = draw(secret)
    maybe(draw, sink, "group_wait", spelled(draw, draw(st.sampled_from(GROUP_WAITS))))
    maybe(draw, sink, "matchers", draw(st.lists(matchers, max_size=2)))
    return sink


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_what_config_check_prints_loads_back_to_the_same_config(data: st.DataObject) -> None:
    world = World()
    doc = data.draw(documents(world))
    try:
        config = world.parse(doc)
    except ConfigError:
        # Two generated paths may meet (a token file where a URL file is, say): not the
        # property under test. Rare, or hypothesis would complain of too much filtering.
        reject()
    text = render_config(config)
    assert world.parse(tomllib.loads(text)) == config
    for value in (*world.env.values(), *world.files.values()):
        if "SECRET" in value:
            assert value.strip()[-12:] not in text


@pytest.mark.parametrize("char", [chr(c) for c in (*range(0x20), 0x7F)])
def test_every_control_character_is_escaped(char: str) -> None:
    world = World()
    world.env[f"TOKEN{char}VAR"] = "SECRETtoken1"
    doc = {
        "sources": [{"name": f"a{char}b", "token_env": f"TOKEN{char}VAR"}],
        "alerts": {"state_dir": f"/var/lib/x{char}y"},
    }
    config = world.parse(doc)
    text = render_config(config)
    # Only a tab may stand for itself (inside strings and comments); nothing else may.
    assert not any((ord(c) < 0x20 and c not in "\t\n") or c == "\x7f" for c in text)
    assert world.parse(tomllib.loads(text)) == config


def test_a_value_in_a_comment_cannot_add_a_line() -> None:
    world = World()
    world.env["X\n[poll]\ninterval = 1\n"] = "SECRETtoken1"
    config = world.parse({"sources": [{"token_env": "X\n[poll]\ninterval = 1\n"}]})
    text = render_config(config)
    assert "\n[poll]\ninterval = 1\n" not in text
    assert tomllib.loads(text)["poll"]["interval"] == "5m"


# -- every field of the model: a key that config check prints and the docs show --------------

# The table of each dataclass of the model; a new one fails until it is placed here.
TABLES: dict[type, str] = {
    SourceConfig: "sources",
    PollConfig: "poll",
    Thresholds: "thresholds",
    MetricsConfig: "metrics",
    AlertsConfig: "alerts",
    SinkConfig: "sinks",
    AccountRule: "accounts",
    model.EmailSettings: "sinks",
}
# Fields held under another key's name, or that are no key at all (and why).
KEY_OF: dict[tuple[type, str], str] = {
    (MetricsConfig, "host"): "listen",
    (MetricsConfig, "port"): "listen",
    (model.EmailSettings, "sender"): "from",
    (model.EmailSettings, "recipients"): "to",
}
NOT_KEYS: dict[tuple[type, str], str] = {
    (SourceConfig, "token"): "a secret: read from token_file, token_env or beside the config",
    (SourceConfig, "token_origin"): "where the token was read from, for people",
    (SinkConfig, "url_display"): "the url with its path and query masked, for people",
    (SinkConfig, "secret"): "a secret: read from secret_file",
    (SinkConfig, "token"): "a secret: read from token_file",
    (SinkConfig, "email"): "the email keys, each its own (EmailSettings)",
    (SinkConfig, "apprise_urls"): "secrets: read from an apprise sink's url_file",
    (model.EmailSettings, "password"): "a secret: read from password_file",
}


def model_keys() -> set[str]:
    """`table.key` of every field of the model that is a key of the config file."""
    tables = {f.name for f in dataclasses.fields(Config)} - {"path"}
    assert tables == set(TABLES.values()), "a table of Config is missing from TABLES"
    modelled = {cls for cls in vars(model).values() if dataclasses.is_dataclass(cls)}
    assert modelled - {Config} == set(TABLES), "a dataclass of the model is missing from TABLES"
    found: set[str] = set()
    for cls, table in TABLES.items():
        for f in dataclasses.fields(cls):
            if (cls, f.name) not in NOT_KEYS:
                found.add(f"{table}.{KEY_OF.get((cls, f.name), f.name)}")
    return found


def printed_keys(text: str) -> set[str]:
    """`table.key` of every key config check prints, as a setting or as a masked comment."""
    keys: set[str] = set()
    table = ""
    for line in text.splitlines():
        if header := re.fullmatch(r"\[\[?(\w+)\]\]?", line):
            table = header.group(1)
        elif key := re.match(r"(?:# )?(\w+)(?: =|:)", line):
            keys.add(f"{table}.{key.group(1)}")
    return keys


def test_every_key_of_the_model_is_printed_by_config_check_and_documented(tmp_path: Path) -> None:
    """Each key has three homes (the model, the loader, config check's rendering), and the
    reference of docs/configuration.md: a field added to the model fails here until
    config check prints it and the reference shows it (or it is said to be no key)."""
    world = World()
    for name, text in every_key_files(self_signed(tmp_path)[0].read_text()).items():
        world.files[BASE_DIR / name] = text
    world.env["TOKEN"] = "SECRETtoken2"
    keys = model_keys()
    printed = printed_keys(render_config(world.parse(tomllib.loads(EVERY_KEY))))
    assert keys - printed == set(), "config check does not print these"
    assert keys - documented_keys(reference_block()) == set(), "the reference lacks these"
