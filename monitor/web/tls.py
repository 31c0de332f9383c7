"""An ssl.SSLContext for the metrics server from the web config's `tls_server_config`.

Reads the certificate, key and client CA files; errors name the key and file, never their bytes.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path

from monitor.errors import WebConfigError
from monitor.web.webconfig import ClientAuth, TlsSettings, TlsVersion

_VERSIONS = {
    TlsVersion.TLS10: ssl.TLSVersion.TLSv1,
    TlsVersion.TLS11: ssl.TLSVersion.TLSv1_1,
    TlsVersion.TLS12: ssl.TLSVersion.TLSv1_2,
    TlsVersion.TLS13: ssl.TLSVersion.TLSv1_3,
}
_VERIFY_MODES = {
    ClientAuth.NO_CLIENT_CERT: ssl.CERT_NONE,
    ClientAuth.VERIFY_CLIENT_CERT_IF_GIVEN: ssl.CERT_OPTIONAL,
    ClientAuth.REQUIRE_AND_VERIFY_CLIENT_CERT: ssl.CERT_REQUIRED,
}
_KEY = "tls_server_config"


def server_context(tls: TlsSettings, web_config_path: Path) -> ssl.SSLContext:
    """A server-side context as `tls` describes; WebConfigError if a file is missing or bad."""

    def error(key: str, problem: str) -> WebConfigError:
        return WebConfigError(web_config_path, f"{_KEY}.{key}", problem)

    _check_readable(tls.cert_file, lambda problem: error("cert_file", problem))
    _check_readable(tls.key_file, lambda problem: error("key_file", problem))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.minimum_version = _VERSIONS[tls.min_version]
        if tls.max_version is not None:
            context.maximum_version = _VERSIONS[tls.max_version]
    except ValueError as exc:  # pragma: no cover - only with an OpenSSL lacking a version
        raise error("min_version", f"not available in this OpenSSL: {exc}") from None
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc):
            raise error("key_file", f"{tls.key_file} does not match {tls.cert_file}") from None
        # The reason code says what OpenSSL disliked; the files' contents never appear.
        raise error(
            "cert_file",
            f"cannot load the certificate {tls.cert_file} with the key {tls.key_file}: "
            f"{exc.reason or exc.__class__.__name__}",
        ) from None
    except OSError as exc:  # removed or replaced between the check above and the load
        raise error(
            "cert_file", f"cannot read {exc.filename or tls.cert_file}: {exc.strerror}"
        ) from None
    context.verify_mode = _VERIFY_MODES[tls.client_auth]
    if tls.client_ca_file is not None:
        path = tls.client_ca_file
        _check_readable(path, lambda problem: error("client_ca_file", problem))
        try:
            context.load_verify_locations(cafile=path)
        except ssl.SSLError as exc:
            raise error(
                "client_ca_file",
                f"{path} holds no usable CA certificate: {exc.reason or exc.__class__.__name__}",
            ) from None
        except OSError as exc:
            raise error("client_ca_file", f"cannot read {path}: {exc.strerror}") from None
    context.set_alpn_protocols(["http/1.1"])
    return context


def _check_readable(path: Path, error: Callable[[str], WebConfigError]) -> None:
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror or exc}") from None
