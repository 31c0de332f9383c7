"""Reading one `[[sinks]]` table: the keys every sink takes, and those of one type only,
refused for the others. Secrets are read from files with the loader's own reader."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from monitor.config.addresses import check_http_url, redact_url
from monitor.config.apprise_urls import apprise_display, read_apprise_urls
from monitor.config.matchers import MAX_MATCHERS, Matcher, parse_matcher
from monitor.config.model import (
    MAX_GROUP_WAIT,
    MAX_NAME_LENGTH,
    EmailSettings,
    Severity,
    SinkConfig,
    SinkType,
)
from monitor.config.smtp import ReadSecret, read_email, refuse_email_keys, smtp_display
from monitor.config.table import Table
from monitor.config.telegram_sink import read_telegram
from monitor.errors import ConfigError
from monitor.secret import Secret
from monitor.timefmt import format_duration

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
    email: EmailSettings | None = None
    apprise_urls: tuple[Secret, ...] = ()
    if kind is SinkType.EMAIL:
        email = read_email(table, read_secret, base_dir)
        for key in ("url", "url_file"):
            if table.has(key):
                raise ConfigError(table.key(key), "an email sink sends to smtp_host")
        url, display = "", smtp_display(email)
    else:
        refuse_email_keys(table)
    if telegram is not None:
        url, display = telegram.url.reveal(), telegram.url_display
    elif kind is SinkType.APPRISE:
        apprise_urls = read_apprise_urls(table, read_secret, url_file)
        url, display = "", apprise_display(apprise_urls)
    elif email is None:
        url = _http_url(table, read_secret, url_file, kind)
        display = redact_url(url)
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
        url_display=display,
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
        email=email,
        apprise_urls=apprise_urls,
    )


def _http_url(table: Table, read_secret: ReadSecret, url_file: Path | None, kind: SinkType) -> str:
    """The URL an HTTP sink posts to, from `url` or `url_file`."""
    if url_file is not None:
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
    return url


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
