"""Addresses in the configuration: listen addresses, and http(s) URLs checked as the HTTP
client will read them and shown with their path and query elided."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from monitor.errors import ConfigError


def redact_url(url: str) -> str:
    """Scheme and host of a URL, the rest elided: safe to log and print."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    rest = "/…" if (parts.path.strip("/") or parts.query) else ""
    return f"{parts.scheme}://{host}{rest}"


def check_http_url(key: str, url: str) -> None:
    """An http(s) URL that the HTTP client will accept as it is. Checked with httpx's own
    parser, which also encodes the host (IDNA): a URL that passes here cannot fail later.
    The messages never repeat the URL: it may carry a credential."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(key, f"not a valid URL: {_without(url, str(exc))}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(key, "must be an http:// or https:// URL with a host")
    if port is not None and not 1 <= port <= 65535:
        raise ConfigError(key, f"port must be 1..65535, got {port}")
    try:
        host = httpx.URL(url).host  # decoding the host is where IDNA errors show
    except (httpx.InvalidURL, ValueError) as exc:  # IDNA errors are UnicodeErrors
        raise ConfigError(key, f"not a valid URL: {_without(url, str(exc))}") from None
    if not host:
        raise ConfigError(key, "must be an http:// or https:// URL with a host")


def check_external_url(key: str, url: str) -> str:
    """Where people reach the monitor: an http(s) URL with no credential in it (it is shown on
    the page and sent with every notification), no query and no fragment (paths are added to
    it); returned without a trailing slash."""
    check_http_url(key, url)
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        raise ConfigError(key, "must not carry a user or password: it is shown to everyone")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise ConfigError(key, "must not have a query or fragment: paths are added to it")
    return url.rstrip("/")


def _without(url: str, text: str) -> str:
    return text.replace(url, "the URL")


def parse_listen(key: str, text: str) -> tuple[str, int]:
    """HOST:PORT, [IPv6]:PORT or :PORT (every interface) to (host, port)."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ConfigError(key, f"expected HOST:PORT such as 127.0.0.1:9877, got {text!r}")
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise ConfigError(key, f"port must be 0..65535, got {port}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ConfigError(key, f"write IPv6 addresses in brackets, e.g. [::1]:9877; got {text!r}")
    return host, port
