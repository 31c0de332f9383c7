"""The URLs of an apprise sink: read from its `url_file`, one a line, each a secret (an
Apprise URL carries its service's credential), each checked by Apprise itself at load."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from monitor.config.smtp import ReadSecret
from monitor.config.table import Table
from monitor.secret import MIN_MASKED_LENGTH, Secret

MAX_URLS = 32
INSTALL_HINT = "pip install 'pixverse-monitor[apprise]'"


def read_apprise_urls(
    table: Table, read_secret: ReadSecret, url_file: Path | None
) -> tuple[Secret, ...]:
    """The URLs of `url_file`: blank lines and `#` comments skipped; ConfigError naming
    `type` when Apprise is not installed, `url_file` when a line is not a URL it knows."""
    if table.has("url"):
        raise table.error("url", "an apprise sink reads its URLs from url_file (they are secrets)")
    if url_file is None:
        raise table.error("url_file", "is required: a file with one Apprise URL a line")
    try:
        import apprise  # noqa: PLC0415 - an optional extra, needed only by an apprise sink
    except ImportError:
        raise table.error("type", f"needs the apprise package: {INSTALL_HINT}") from None
    text = read_secret(table.key("url_file"), url_file).reveal()
    urls: list[Secret] = []
    for number, line in enumerate(text.splitlines(), start=1):
        url = line.strip()
        if not url or url.startswith("#"):
            continue
        secret = Secret(url)
        _remember_parts(url)  # before Apprise sees it: whatever it logs is masked
        if len(urls) == MAX_URLS:
            raise table.error("url_file", f"at most {MAX_URLS} URLs")
        if apprise.Apprise.instantiate(url, suppress_exceptions=True) is None:
            shown = scheme_of(url)
            raise table.error("url_file", f"line {number}: not a URL Apprise knows ({shown})")
        urls.append(secret)
    if not urls:
        raise table.error("url_file", "holds no URL")
    return tuple(urls)


def scheme_of(url: str) -> str:
    """An Apprise URL as it may be shown: its scheme alone ("tgram://…")."""
    scheme, sep, _ = url.partition("://")
    if not sep or not scheme.isascii() or not scheme.replace("+", "").isalnum():
        return "…"
    return f"{scheme[:16]}://…"


def apprise_display(urls: tuple[Secret, ...]) -> str:
    """The URLs of an apprise sink, for people: their schemes."""
    return ", ".join(scheme_of(url.reveal()) for url in urls)


def _remember_parts(url: str) -> None:
    """Apprise URLs hold their credential anywhere: a bot token as the host (`tgram://`), a
    webhook token in the path, a password or a key in the query. Each part that could be one
    is masked in every log line, however the service's library writes its request."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return
    userinfo, _, host = parts.netloc.rpartition("@")
    pieces = [userinfo, *parts.path.split("/")]
    name = host.partition(":")[0]
    if "." not in name and name != "localhost" and not host.startswith("["):
        pieces.append(host)  # not a host name: a token
    pieces += [value for _, value in parse_qsl(parts.query)]
    for piece in pieces:
        if len(piece) >= MIN_MASKED_LENGTH:
            Secret(piece)
