"""The TLS settings the HTTP clients share: the CA bundle loaded once per process, and only
for a client that may speak TLS."""

from __future__ import annotations

import ssl

from monitor.upstream import verified_tls
from monitor.upstream.connections import tls_for


def test_every_https_client_shares_one_verifying_context() -> None:
    first = tls_for("https://api.useapi.net")
    assert first is tls_for("HTTPS://other.example:8443/v2") is verified_tls()
    assert first.verify_mode is ssl.CERT_REQUIRED
    assert first.check_hostname
    assert first.cert_store_stats()["x509_ca"] > 0


def test_an_http_client_loads_no_bundle_and_would_trust_no_one() -> None:
    """An http:// source never speaks TLS; were it ever to, nothing would pass unverified."""
    context = tls_for("http://127.0.0.1:9878")
    assert context is not verified_tls()
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 0
