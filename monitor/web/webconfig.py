"""The Prometheus exporter-toolkit web config file (TLS and basic auth for /metrics): parsing and
validation. Pure: takes the file's text and path, returns plain values or a WebConfigError.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from monitor.config import FileFormat, Table
from monitor.errors import WebConfigError
from monitor.secret import Secret

if TYPE_CHECKING:
    import yaml

_E = TypeVar("_E", bound=StrEnum)

# $2a$, $2b$ or $2y$, a two-digit cost, 22 characters of salt and 31 of hash.
_BCRYPT = re.compile(r"^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$")


class ClientAuth(StrEnum):
    """`client_auth_type`, spelled as in Go's crypto/tls and the exporter toolkit."""

    NO_CLIENT_CERT = "NoClientCert"
    REQUEST_CLIENT_CERT = "RequestClientCert"
    REQUIRE_ANY_CLIENT_CERT = "RequireAnyClientCert"
    VERIFY_CLIENT_CERT_IF_GIVEN = "VerifyClientCertIfGiven"
    REQUIRE_AND_VERIFY_CLIENT_CERT = "RequireAndVerifyClientCert"


class TlsVersion(StrEnum):
    TLS10 = "TLS10"
    TLS11 = "TLS11"
    TLS12 = "TLS12"
    TLS13 = "TLS13"


# Python's ssl module verifies every client certificate it asks for, so these two modes (which
# take any certificate unverified) cannot be offered; refusing beats silently verifying.
_UNSUPPORTED_CLIENT_AUTH = {ClientAuth.REQUEST_CLIENT_CERT, ClientAuth.REQUIRE_ANY_CLIENT_CERT}
_VERIFYING_CLIENT_AUTH = {
    ClientAuth.VERIFY_CLIENT_CERT_IF_GIVEN,
    ClientAuth.REQUIRE_AND_VERIFY_CLIENT_CERT,
}
# Toolkit keys this server does not implement: refused by name rather than ignored, since
# each of them would weaken or change what the operator asked for.
_UNSUPPORTED_TLS_KEYS = (
    "cert",
    "key",
    "client_ca",
    "cipher_suites",
    "curve_preferences",
    "prefer_server_cipher_suites",
    "client_allowed_sans",
)


@dataclass(frozen=True, slots=True)
class TlsSettings:
    cert_file: Path
    key_file: Path
    client_auth: ClientAuth
    client_ca_file: Path | None
    min_version: TlsVersion
    max_version: TlsVersion | None  # None: the newest the library speaks


@dataclass(frozen=True, slots=True)
class WebConfig:
    """What the web config asks for: TLS or not, and the users allowed in (bcrypt hashes)."""

    tls: TlsSettings | None = None
    users: Mapping[str, Secret] = field(default_factory=dict)

    @property
    def files(self) -> tuple[Path, ...]:
        """The files this config names; a change to any of them means reading it again."""
        if self.tls is None:
            return ()
        names = (self.tls.cert_file, self.tls.key_file, self.tls.client_ca_file)
        return tuple(p for p in names if p is not None)


@functools.cache
def _strict_loader() -> type[yaml.SafeLoader]:
    """SafeLoader that refuses duplicate keys, as the toolkit's strict YAML decoding does.
    PyYAML is imported by the first web config read, not by every daemon."""
    import yaml  # noqa: PLC0415

    class StrictLoader(yaml.SafeLoader):
        pass

    def mapping_without_duplicates(loader: StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return loader.construct_mapping(node)

    StrictLoader.add_constructor(
        yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping_without_duplicates
    )
    return StrictLoader


def parse_web_config(text: str, path: Path) -> WebConfig:
    """Validate the YAML `text` of the web config at `path`; relative file names in it are
    relative to the directory of `path`, as in the toolkit."""
    import yaml  # noqa: PLC0415 - as in _strict_loader

    try:
        data = yaml.load(text, Loader=_strict_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise WebConfigError(path, "", f"not valid YAML: {exc}") from None
    if data is None:
        return WebConfig()
    if not isinstance(data, dict):
        raise WebConfigError(path, "", f"expected a mapping, got {_kind(data)}")
    top = Table(data, "", _yaml_format(path))
    tls = _tls(top.table("tls_server_config"), path.parent)
    http = top.table("http_server_config")
    http.get("http2", bool, True)  # we speak HTTP/1.1 only; allowing HTTP/2 changes nothing
    http.finish()
    users = _users(top.table("basic_auth_users"))
    top.finish()
    return WebConfig(tls, users)


def _yaml_format(path: Path) -> FileFormat:
    """The web config's errors name the file, and speak of YAML's mappings and lists."""

    def error(key: str, problem: str) -> WebConfigError:
        return WebConfigError(path, key, problem)

    return FileFormat(
        expected=lambda kind: "a mapping" if kind is dict else kind.__name__,
        found=_kind,
        error=error,
    )


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _tls(table: Table, base_dir: Path) -> TlsSettings | None:
    for key in _UNSUPPORTED_TLS_KEYS:
        if table.get(key, object, None) not in (None, "", [], False):
            raise table.error(key, "is not supported by pixverse-monitor")
    cert_file = table.optional_path("cert_file", base_dir)
    key_file = table.optional_path("key_file", base_dir)
    client_auth_text = table.string("client_auth_type", "")
    client_ca_file = table.optional_path("client_ca_file", base_dir)
    min_text = table.string("min_version", "")
    max_text = table.string("max_version", "")
    table.finish()
    if not (cert_file or key_file or client_auth_text or client_ca_file):
        return None  # as in the toolkit: no certificate configured means plain HTTP
    if cert_file is None:
        raise table.error("cert_file", "is required when TLS is configured")
    if key_file is None:
        raise table.error("key_file", "is required when TLS is configured")
    client_auth = _choice(table, "client_auth_type", ClientAuth, client_auth_text)
    client_auth = client_auth or ClientAuth.NO_CLIENT_CERT
    if client_auth in _UNSUPPORTED_CLIENT_AUTH:
        raise table.error(
            "client_auth_type",
            f"{client_auth.value} is not supported: it accepts client certificates without "
            "verifying them, which Python's ssl module cannot do; use VerifyClientCertIfGiven "
            "or RequireAndVerifyClientCert with client_ca_file",
        )
    if client_auth in _VERIFYING_CLIENT_AUTH and client_ca_file is None:
        raise table.error("client_ca_file", f"is required with {client_auth.value}")
    if client_ca_file is not None and client_auth is ClientAuth.NO_CLIENT_CERT:
        raise table.error(
            "client_auth_type",
            "client_ca_file is set but client_auth_type does not verify client certificates; "
            "set VerifyClientCertIfGiven or RequireAndVerifyClientCert",
        )
    min_version = _choice(table, "min_version", TlsVersion, min_text) or TlsVersion.TLS12
    max_version = _choice(table, "max_version", TlsVersion, max_text)
    if max_version is not None and _order(max_version) < _order(min_version):
        raise table.error("max_version", f"{max_version.value} is older than min_version")
    return TlsSettings(cert_file, key_file, client_auth, client_ca_file, min_version, max_version)


def _order(version: TlsVersion) -> int:
    return list(TlsVersion).index(version)


def _choice(table: Table, key: str, enum: type[_E], text: str) -> _E | None:
    if not text:
        return None
    try:
        return enum(text)
    except ValueError:
        allowed = ", ".join(e.value for e in enum)
        raise table.error(key, f"must be one of {allowed}; got {text!r}") from None


def _users(table: Table) -> dict[str, Secret]:
    users: dict[str, Secret] = {}
    for user in table.names():
        if not isinstance(user, str) or not user or ":" in user:
            raise table.error(user, "a user name must be a non-empty string without ':'")
        hashed = table.get(user, object, None)
        # Never echo the value: it is a password hash, or worse, a password pasted by mistake.
        if not isinstance(hashed, str) or not _BCRYPT.match(hashed):
            raise table.error(user, "expected a bcrypt hash ($2a$, $2b$ or $2y$, 60 characters)")
        users[user] = Secret(hashed)
    return users
