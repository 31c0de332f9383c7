"""Reading one `[[sinks]]` table: the keys every sink takes, and those of one type only,
refused for the others. Secrets are read from files with the loader's own reader."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from monitor.config.addresses import check_http_url, redact_url
from monitor.config.matchers import MAX_MATCHERS, Matcher, parse_matcher
from monitor.config.model import (
    MAX_GROUP_WAIT,
    MAX_NAME_LENGTH,
    Severity,
    SinkConfig,
    SinkType,
)
from monitor.config.table import Table
from monitor.config.telegram_sink import read_telegram
from monitor.errors import ConfigError
from monitor.secret import Secret
from monitor.timefmt import format_duration

# (key, path, why): the text of a secret file, stripped; ConfigError naming `key` if not.
ReadSecret = Callable[[str, Path], Secret]

# Covers Prometheus rules that see a resolution one scrape and one evaluation after the daemon,
# at the 30s of the example scrape config or the 1m of Prometheus's defaults.
DEFAULT_RESOLVE_GRACE = "2m"


def read_sink(table: Table, read_secret: ReadSecret, base_dir: Path) -> SinkConfig:
    """One sink; ConfigError naming the key at fault."""
    table.reject_inline_secret("secret", "secret_file")
    table.reject_inline_secret("token", "token_file")
    name = table.name("name", longest=MAX_NAME_LENGTH)
    kind = table.choice("type", SinkType, SinkType.WEBHOOK)
    telegram = read_telegram(table, read_secret, base_dir) if kind is SinkType.TELEGRAM else None
    url_file = None if telegram is not None else table.optional_path("url_file", base_dir)
    if telegram is not None:
        url = telegram.url.reveal()
    elif url_file is not None:
        if table.has("url"):
            raise ConfigError(table.key("url_file"), "set url or url_file, not both")
        url = read_secret(table.key("url_file"), url_file).reveal()
        check_http_url(table.key("url_file"), url)
    else:
        url = table.string("url")
        check_http_url(table.key("url"), url)
    if kind is SinkType.NTFY and not urlsplit(url).path.strip("/"):
        where = "url_file" if url_file is not None else "url"
        raise ConfigError(table.key(where), "must be the topic's URL (https://ntfy.sh/TOPIC)")
    secret_file = _only(table, "secret_file", base_dir, kind, SinkType.WEBHOOK)
    token_file = _only(table, "token_file", base_dir, kind, SinkType.NTFY)
    min_severity = table.choice("min_severity", Severity, Severity.WARNING)
    send_resolved = table.get("send_resolved", bool, True)
    timeout = table.duration("timeout", "10s")
    resolve_grace = _resolve_grace(table, kind)
    matchers = _matchers(table)
    group_wait = table.duration("group_wait", "0s", positive=False)
    if group_wait > MAX_GROUP_WAIT:
        longest = format_duration(MAX_GROUP_WAIT)
        raise ConfigError(table.key("group_wait"), f"must be at most {longest}")
    table.finish()
    return SinkConfig(
        name=name,
        type=kind,
        url=Secret(url.rstrip("/") if kind is SinkType.ALERTMANAGER else url),
        url_display=telegram.url_display if telegram is not None else redact_url(url),
        url_file=url_file,
        secret=read_secret(table.key("secret_file"), secret_file) if secret_file else None,
        secret_file=secret_file,
        min_severity=min_severity,
        send_resolved=send_resolved,
        timeout=timeout,
        resolve_grace=resolve_grace,
        matchers=matchers,
        group_wait=group_wait,
        token=read_secret(table.key("token_file"), token_file) if token_file else None,
        token_file=token_file,
        chat_id=telegram.chat_id if telegram is not None else None,
        message_thread_id=telegram.message_thread_id if telegram is not None else None,
        bot_token_file=telegram.bot_token_file if telegram is not None else None,
        api_url=telegram.api_url if telegram is not None else None,
    )


_ONLY = {
    "secret_file": "only webhook sinks sign their requests",
    "token_file": "only ntfy sinks take an access token",
}


def _only(table: Table, name: str, base_dir: Path, kind: SinkType, owner: SinkType) -> Path | None:
    """A file key that one type takes, refused for the others."""
    path = table.optional_path(name, base_dir)
    if path is not None and kind is not owner:
        raise ConfigError(table.key(name), _ONLY[name])
    return path


def _resolve_grace(table: Table, kind: SinkType) -> timedelta:
    if kind is not SinkType.ALERTMANAGER:
        if table.has("resolve_grace"):
            raise ConfigError(table.key("resolve_grace"), "only alertmanager sinks take it")
        return timedelta(0)
    return table.duration("resolve_grace", DEFAULT_RESOLVE_GRACE, positive=False)


def _matchers(table: Table) -> tuple[Matcher, ...]:
    """`matchers`: Alertmanager matchers on the alert's labels, every one named in its error."""
    texts = table.get("matchers", list, [])
    if len(texts) > MAX_MATCHERS:
        problem = f"at most {MAX_MATCHERS} matchers, got {len(texts)}"
        raise ConfigError(table.key("matchers"), problem)
    matchers = []
    for index, text in enumerate(texts):
        key = f"{table.key('matchers')}[{index}]"
        if not isinstance(text, str):
            raise ConfigError(key, f"expected a string such as 'team=\"studio\"', got {text!r}")
        try:
            matchers.append(parse_matcher(text))
        except ValueError as exc:
            raise ConfigError(key, f"{text[:80]!r}: {exc}") from None
    return tuple(matchers)
