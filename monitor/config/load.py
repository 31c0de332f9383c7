"""Reading the config file: TOML to the model, every error naming its key, and token lookup."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from monitor.config.addresses import check_external_url, check_http_url, parse_listen
from monitor.config.model import (
    DEFAULT_ACCOUNT_INTERVAL,
    DEFAULT_FEATURES_INTERVAL,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_PLAN_WARNING,
    DEFAULT_STATE_DIR,
    MAX_NAME_LENGTH,
    MIN_POLL_INTERVAL,
    MIN_REPEAT_INTERVAL,
    AccountLabel,
    AlertsConfig,
    Config,
    MetricsConfig,
    PollConfig,
    SinkConfig,
    SourceConfig,
    Thresholds,
)
from monitor.config.policy import read_rule
from monitor.config.sinks import read_sink
from monitor.config.table import MISSING, Table
from monitor.errors import ConfigError
from monitor.secret import Secret
from monitor.timefmt import format_duration

DEFAULT_CONFIG_PATH = Path("/etc/pixverse-monitor/config.toml")
DEFAULT_BASE_URL = "https://api.useapi.net"
CREDENTIAL_NAME = "useapi-token"


def default_config_path(env: Mapping[str, str]) -> Path:
    return Path(env.get("PIXVERSE_MONITOR_CONFIG") or DEFAULT_CONFIG_PATH)


def load_config(
    path: Path, env: Mapping[str, str] | None = None, *, read_tokens: bool = True
) -> Config:
    """Read, parse and validate a config file; raise ConfigError naming the key at fault.

    `read_tokens` False leaves every useapi.net token unread (and unrequired): for commands
    that never call useapi.net, such as `notify-test`."""
    env = os.environ if env is None else env
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError("", f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError("", f"config file {path} is not UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"config file {path} is not valid TOML: {exc}") from None
    return parse_config(data, env=env, base_dir=path.parent, path=path, read_tokens=read_tokens)


def parse_config(
    data: Mapping[str, Any],
    *,
    env: Mapping[str, str],
    base_dir: Path = Path(),
    path: Path | None = None,
    read_text: Callable[[Path], str] | None = None,
    read_tokens: bool = True,
) -> Config:
    """Validate an already-decoded TOML document. Files it names are read with `read_text`.
    With `path`, a token may also come from `useapi-token` beside it (see `_Loader._token`)."""
    beside = path.parent / CREDENTIAL_NAME if path is not None else None
    loader = _Loader(env, base_dir, read_text or _read_text, beside, read_tokens=read_tokens)
    top = Table(dict(data), "")
    sources = loader.sources(top.array_of_tables("sources"))
    poll = loader.poll(top.table("poll"))
    thresholds = loader.thresholds(top.table("thresholds"))
    metrics = loader.metrics(top.table("metrics"))
    alerts = loader.alerts(top.table("alerts"))
    sinks = loader.sinks(top.array_of_tables("sinks"))
    accounts = tuple(read_rule(t, thresholds) for t in top.array_of_tables("accounts"))
    top.finish()
    return Config(sources, poll, thresholds, metrics, alerts, sinks, path, accounts)


def _read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


class _Loader:
    """Builds each section; holds what reading secrets needs."""

    def __init__(
        self,
        env: Mapping[str, str],
        base_dir: Path,
        read_text: Callable[[Path], str],
        token_beside_config: Path | None = None,
        *,
        read_tokens: bool = True,
    ):
        self._env = env
        self._base_dir = base_dir
        self._read_text = read_text
        self._token_beside_config = token_beside_config
        self._read_tokens = read_tokens

    def _read_secret(self, key: str, path: Path, why: str = "") -> Secret:
        """The file's text, stripped of surrounding whitespace; `why`, when set, is added to
        any error to say why this file was read at all."""
        why = f" ({why})" if why else ""
        try:
            text = self._read_text(path).strip()
        except OSError as exc:
            raise ConfigError(key, f"cannot read {path}: {exc.strerror or exc}{why}") from None
        except UnicodeDecodeError:
            raise ConfigError(key, f"{path} is not UTF-8 text{why}") from None
        if not text:
            raise ConfigError(key, f"{path} is empty{why}")
        return Secret(text)

    def sources(self, tables: list[Table]) -> tuple[SourceConfig, ...]:
        if not tables:
            tables = [Table({}, "sources[0]")]
        sources: list[SourceConfig] = []
        for table in tables:
            source = self._source(table, default_name="default" if len(tables) == 1 else None)
            if any(s.name == source.name for s in sources):
                raise ConfigError(table.key("name"), f"duplicate source name {source.name!r}")
            sources.append(source)
        return tuple(sources)

    def _source(self, table: Table, default_name: str | None) -> SourceConfig:
        table.reject_inline_secret("token", "token_file or token_env")
        name = table.name("name", default_name or MISSING, longest=MAX_NAME_LENGTH)
        base_url = _http_url(table, "base_url", DEFAULT_BASE_URL).rstrip("/")
        token_file = table.optional_path("token_file", self._base_dir)
        token_env = table.string("token_env", "") or None
        capacity_endpoint = table.get("capacity_endpoint", bool, True)
        account_endpoint = table.get("account_endpoint", bool, True)
        features_endpoint = table.get("features_endpoint", bool, True)
        table.finish()
        token, origin = self._token(table, name, token_file, token_env)
        return SourceConfig(
            name=name,
            base_url=base_url,
            token=token,
            token_origin=origin,
            token_file=token_file,
            token_env=token_env,
            capacity_endpoint=capacity_endpoint,
            account_endpoint=account_endpoint,
            features_endpoint=features_endpoint,
        )

    def _token(
        self, table: Table, name: str, token_file: Path | None, token_env: str | None
    ) -> tuple[Secret, str]:
        """The token and where it came from, looked up in this order: `token_file`;
        `token_env`; with neither, $CREDENTIALS_DIRECTORY/useapi-token (the unit's
        LoadCredential=), then $USEAPI_TOKEN, then `useapi-token` beside the config file (the
        file LoadCredential= copies, so that root can run `check` on the host)."""
        if token_file and token_env:
            raise ConfigError(table.key("token_env"), "set token_file or token_env, not both")
        if not self._read_tokens:
            return Secret(""), "not read (not needed by this command)"
        if token_file:
            return self._read_secret(table.key("token_file"), token_file), f"file {token_file}"
        if token_env:
            value = self._env.get(token_env, "").strip()
            if not value:
                raise ConfigError(
                    table.key("token_env"), f"environment variable {token_env} is unset or empty"
                )
            return Secret(value), f"environment variable {token_env}"
        credentials = self._env.get("CREDENTIALS_DIRECTORY", "")
        if credentials:
            path = Path(credentials) / CREDENTIAL_NAME
            try:
                return self._read_secret(table.key("token_file"), path), f"credential {path}"
            except ConfigError:
                pass  # fall through to $USEAPI_TOKEN, as documented
        value = self._env.get("USEAPI_TOKEN", "").strip()
        if value:
            return Secret(value), "environment variable USEAPI_TOKEN"
        beside = self._token_beside_config
        if beside is not None and beside.exists():
            # Present but unreadable (not root) or empty: say so, naming the file and why it
            # was read. No key of the config file names it, so the error names none.
            why = (
                f"the useapi.net token of source {name!r}, read from beside the config file "
                "because the source sets neither token_file nor token_env"
            )
            return self._read_secret("", beside, why), f"file {beside}"
        where = f", or {beside}" if beside is not None else ""
        raise ConfigError(
            table.key("token_file"),
            "no useapi.net token: set token_file or token_env, or provide "
            f"$CREDENTIALS_DIRECTORY/{CREDENTIAL_NAME}, $USEAPI_TOKEN{where}",
        )

    def poll(self, table: Table) -> PollConfig:
        # Settings that would page (or spin) by themselves are refused, not obeyed.
        interval = table.duration("interval", "5m", at_least=MIN_POLL_INTERVAL)
        timeout = table.duration("timeout", "15s")
        jitter = table.duration("jitter", "10s", positive=False)
        if jitter >= interval:
            raise ConfigError(table.key("jitter"), "must be shorter than poll.interval")
        # The longest a healthy schedule goes between two successes: a poll started a whole
        # jitter late that takes its whole timeout.
        slowest = interval + jitter + timeout
        stale_after = table.duration(
            "stale_after", format_duration(default_stale_after(interval, jitter, timeout))
        )
        if stale_after < slowest:
            raise ConfigError(
                table.key("stale_after"),
                "must be at least poll.interval + poll.jitter + poll.timeout "
                f"({format_duration(slowest)}), or a healthy source is reported down; "
                f"got {format_duration(stale_after)}",
            )
        max_bytes = table.get("max_response_bytes", int, DEFAULT_MAX_RESPONSE_BYTES)
        if max_bytes < 1024:
            raise ConfigError(table.key("max_response_bytes"), "must be at least 1024")
        account_interval, features_interval = (
            table.duration(name, format_duration(default), at_least=MIN_POLL_INTERVAL)
            for name, default in (
                ("account_interval", DEFAULT_ACCOUNT_INTERVAL),
                ("features_interval", DEFAULT_FEATURES_INTERVAL),
            )
        )
        table.finish()
        return PollConfig(
            interval, timeout, jitter, stale_after, max_bytes, account_interval, features_interval
        )

    def thresholds(self, table: Table) -> Thresholds:
        warning = table.duration("warning", "72h")
        critical = table.duration("critical", "24h")
        minimum = table.get("min_usable_capacity", int, 0)
        plan_warning = table.duration("plan_warning", format_duration(DEFAULT_PLAN_WARNING))
        min_credits = table.get("min_credits", int, 0)
        if critical >= warning:
            raise ConfigError(table.key("critical"), "must be shorter than thresholds.warning")
        for name, value in (("min_usable_capacity", minimum), ("min_credits", min_credits)):
            if value < 0:
                raise ConfigError(table.key(name), "must be >= 0")
        table.finish()
        return Thresholds(warning, critical, minimum, plan_warning, min_credits)

    def metrics(self, table: Table) -> MetricsConfig:
        listen = table.string("listen", "127.0.0.1:9877")
        host, port = parse_listen(table.key("listen"), listen)
        label = table.choice("account_label", AccountLabel, AccountLabel.EMAIL)
        # Read by whoever serves it (the daemon, `config check`), not here: `check` never needs
        # it, and its TLS key may be readable by the service alone.
        web_config = table.optional_path("web_config_file", self._base_dir)
        external = table.string("external_url", "")
        if external:
            external = check_external_url(table.key("external_url"), external)
        table.finish()
        return MetricsConfig(host, port, label, web_config, external or None)

    def alerts(self, table: Table) -> AlertsConfig:
        # Shorter would flood the sinks with repeats.
        repeat = table.duration("repeat_interval", "4h", at_least=MIN_REPEAT_INTERVAL)
        default_dir = self._env.get("STATE_DIRECTORY", "").split(":")[0] or str(DEFAULT_STATE_DIR)
        state_dir = Path(table.string("state_dir", default_dir))
        if not state_dir.is_absolute():
            state_dir = self._base_dir / state_dir
        table.finish()
        return AlertsConfig(repeat, state_dir)

    def sinks(self, tables: list[Table]) -> tuple[SinkConfig, ...]:
        sinks: list[SinkConfig] = []
        for table in tables:
            sink = read_sink(table, self._read_secret, self._base_dir)
            if any(s.name == sink.name for s in sinks):
                raise ConfigError(table.key("name"), f"duplicate sink name {sink.name!r}")
            sinks.append(sink)
        return tuple(sinks)


def default_stale_after(interval: timedelta, jitter: timedelta, timeout: timedelta) -> timedelta:
    """Three polls' worth (15m at the default 5m), or, when a poll's timeout is long next to
    its interval, the slowest healthy gap between two successes plus one more interval, so
    that the default never pages by itself."""
    return max(3 * interval, 2 * interval + jitter + timeout)


def _http_url(table: Table, name: str, default: str = MISSING) -> str:
    url = table.string(name, default)
    check_http_url(table.key(name), url)
    return url
