"""Applies the web config to the metrics server: the TLS context of each new connection and
basic auth of each request. Like the exporter toolkit it follows the file as it changes: any
change to it, or to a certificate, key or CA file it names, is picked up on the next
connection or request (a stat per file, a re-read only on change).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

from monitor.errors import ConfigError, WebConfigError
from monitor.web.basicauth import BasicAuth
from monitor.web.messages import Request, Verdict
from monitor.web.tls import server_context
from monitor.web.webconfig import WebConfig, parse_web_config

log = structlog.get_logger(__name__)

CONFIG_KEY = "metrics.web_config_file"
# (path, mtime_ns, size, inode), or (path,) for a file that cannot be stat'ed.
FileStamp = tuple[str, ...] | tuple[str, int, int, int]


def _stamp(paths: tuple[Path, ...]) -> tuple[FileStamp, ...]:
    stamps: list[FileStamp] = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            stamps.append((str(path),))
            continue
        stamps.append((str(path), st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(stamps)


@dataclass(frozen=True)
class LoadedWebConfig:
    """A web config file read and validated, with its TLS context built."""

    path: Path
    config: WebConfig
    ssl_context: ssl.SSLContext | None
    stamp: tuple[FileStamp, ...]  # of the file and the files it names, taken before reading

    def current_stamp(self) -> tuple[FileStamp, ...]:
        return _stamp((self.path, *self.config.files))


def load_web_config(path: Path) -> LoadedWebConfig:
    """Read, validate and build; WebConfigError (a ConfigError) names the file and the key."""
    (file_stamp,) = _stamp((path,))
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise WebConfigError(path, "", f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise WebConfigError(path, "", "not UTF-8 text") from None
    config = parse_web_config(text, path)
    stamp = (file_stamp, *_stamp(config.files))
    context = server_context(config.tls, path) if config.tls is not None else None
    return LoadedWebConfig(path, config, context, stamp)


def as_config_error(exc: WebConfigError) -> ConfigError:
    """The error as the main config reports it: under metrics.web_config_file, naming the file
    and the web config key."""
    return ConfigError(CONFIG_KEY, str(exc))


class WebGuard:
    """The web config in force. Never raises once built: a bad change is logged and the last
    good config stays; `on_reload(ok)` hears of every re-read."""

    def __init__(
        self,
        loaded: LoadedWebConfig | None,
        *,
        on_reload: Callable[[bool], None] | None = None,
    ) -> None:
        self._loaded = loaded
        self._on_reload = on_reload
        self._failed_stamp: tuple[FileStamp, ...] | None = None
        self._auth = BasicAuth()

    def replace(self, loaded: LoadedWebConfig | None) -> None:
        """Put a config read elsewhere (a SIGHUP reload) in force."""
        self._loaded = loaded
        self._failed_stamp = None
        self._auth.forget()

    def ssl_context(self) -> ssl.SSLContext | None:
        """The context for a new connection; None serves plain HTTP."""
        self._refresh()
        return self._loaded.ssl_context if self._loaded is not None else None

    async def authorize(self, request: Request) -> Verdict:
        """ALLOW when no users are configured, or the Authorization header names one of them
        with the right password; BUSY when the client has too many checks waiting."""
        self._refresh()
        users = self._loaded.config.users if self._loaded is not None else {}
        if not users:
            return Verdict.ALLOW
        return await self._auth.check(
            users, request.headers.get("authorization"), request.peer_address
        )

    def _refresh(self) -> None:
        loaded = self._loaded
        if loaded is None:
            return
        stamp = loaded.current_stamp()
        if stamp in (loaded.stamp, self._failed_stamp):
            return
        try:
            new = load_web_config(loaded.path)
        except WebConfigError as exc:
            # Logged once per change of the files, not once per request.
            self._failed_stamp = stamp
            log.error(
                "webconfig.reload_failed",
                file=str(exc.path),
                key=exc.key,
                problem=exc.problem,
                kept="the previous web config",
            )
            self._report(ok=False)
            return
        self.replace(new)
        log.info(
            "webconfig.reloaded",
            file=str(new.path),
            tls=new.ssl_context is not None,
            users=len(new.config.users),
        )
        self._report(ok=True)

    def _report(self, *, ok: bool) -> None:
        if self._on_reload is not None:
            self._on_reload(ok)
