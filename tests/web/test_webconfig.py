"""The exporter-toolkit web config: what parses, and errors that name the file and the key."""

from __future__ import annotations

from pathlib import Path

import bcrypt
import pytest

from monitor.web.webconfig import (
    ClientAuth,
    TlsVersion,
    WebConfig,
    WebConfigError,
    parse_web_config,
)

PATH = Path("/etc/pixverse-monitor/web.yml")
# Cost 4: the cheapest bcrypt, so the tests stay fast; production hashes use 10 or more.
HASH = bcrypt.hashpw(b"s3cret-pass", bcrypt.gensalt(4)).decode()


def test_empty_file_means_plain_http_without_auth() -> None:
    assert parse_web_config("", PATH) == WebConfig()
    assert parse_web_config("# nothing\n", PATH) == WebConfig()


def test_full_config_with_paths_relative_to_the_file() -> None:
    config = parse_web_config(
        f"""
tls_server_config:
  cert_file: tls/server.crt
  key_file: /secure/server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.pem
  min_version: TLS13
  max_version: TLS13
http_server_config:
  http2: false
basic_auth_users:
  prometheus: {HASH}
  grafana: '{HASH.replace("$2b$", "$2y$")}'
""",
        PATH,
    )
    tls = config.tls
    assert tls is not None
    assert tls.cert_file == Path("/etc/pixverse-monitor/tls/server.crt")
    assert tls.key_file == Path("/secure/server.key")
    assert tls.client_ca_file == Path("/etc/pixverse-monitor/ca.pem")
    assert tls.client_auth is ClientAuth.REQUIRE_AND_VERIFY_CLIENT_CERT
    assert (tls.min_version, tls.max_version) == (TlsVersion.TLS13, TlsVersion.TLS13)
    assert set(config.users) == {"prometheus", "grafana"}
    assert config.users["prometheus"].reveal() == HASH
    assert config.files == (tls.cert_file, tls.key_file, tls.client_ca_file)
    # The hashes are held as secrets: not in the repr of the config.
    assert HASH not in repr(config)


def test_tls_defaults_follow_the_toolkit() -> None:
    config = parse_web_config("tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n", PATH)
    assert config.tls is not None
    assert config.tls.client_auth is ClientAuth.NO_CLIENT_CERT
    assert config.tls.min_version is TlsVersion.TLS12
    assert config.tls.max_version is None
    assert config.users == {}


def test_tls_section_without_certificate_is_plain_http() -> None:
    config = parse_web_config("tls_server_config:\n  min_version: TLS13\n", PATH)
    assert config.tls is None


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("tls_server_config: [1]", "tls_server_config", "expected a mapping"),
        ("surprise: 1", "surprise", "unknown key"),
        ("tls_server_config:\n  cert_fil: a", "tls_server_config.cert_fil", "unknown key"),
        ("tls_server_config:\n  cert_file: a.crt", "tls_server_config.key_file", "required"),
        ("tls_server_config:\n  key_file: a.key", "tls_server_config.cert_file", "required"),
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS14",
            "tls_server_config.min_version",
            "must be one of TLS10, TLS11, TLS12, TLS13",
        ),
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS13\n"
            "  max_version: TLS12",
            "tls_server_config.max_version",
            "older than min_version",
        ),
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Maybe",
            "tls_server_config.client_auth_type",
            "must be one of NoClientCert",
        ),
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n"
            "  client_auth_type: RequireAndVerifyClientCert",
            "tls_server_config.client_ca_file",
            "required with RequireAndVerifyClientCert",
        ),
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: ca.pem",
            "tls_server_config.client_auth_type",
            "does not verify client certificates",
        ),
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n"
            "  client_auth_type: RequestClientCert",
            "tls_server_config.client_auth_type",
            "RequestClientCert is not supported",
        ),
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n"
            "  client_auth_type: RequireAnyClientCert",
            "tls_server_config.client_auth_type",
            "without verifying them",
        ),
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [TLS_AES_128]",
            "tls_server_config.cipher_suites",
            "not supported",
        ),
        ("tls_server_config:\n  cert_file: 7", "tls_server_config.cert_file", "expected str"),
        ("http_server_config:\n  headers: {X-A: b}", "http_server_config.headers", "unknown"),
        ("http_server_config:\n  http2: yes please", "http_server_config.http2", "expected bool"),
        ("basic_auth_users:\n  alice: plaintext-password", "basic_auth_users.alice", "bcrypt"),
        ("basic_auth_users:\n  alice: 12", "basic_auth_users.alice", "bcrypt"),
        (f"basic_auth_users:\n  'a:b': {HASH}", "basic_auth_users.a:b", "without ':'"),
        ("basic_auth_users: [alice]", "basic_auth_users", "expected a mapping"),
        # YAML keys need not be strings, nor of one type: still an error naming the key.
        ("1: a\nsurprise: b\n2.5: c", "1", "unknown key"),
        ("http_server_config:\n  2: x\n  http2: true", "http_server_config.2", "unknown key"),
    ],
)
def test_errors_name_the_file_and_the_key(text: str, key: str, problem: str) -> None:
    with pytest.raises(WebConfigError) as caught:
        parse_web_config(text, PATH)
    assert caught.value.key == key
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"{PATH}: {key}: ")


def test_a_file_that_is_not_a_mapping_names_the_file() -> None:
    with pytest.raises(WebConfigError) as caught:
        parse_web_config("- a\n- b", PATH)
    assert str(caught.value) == f"{PATH}: expected a mapping, got a list"


@pytest.mark.parametrize(
    "text",
    [
        "basic_auth_users:\n  alice: x\n  alice: y\n",
        "tls_server_config:\n  cert_file: a\n  cert_file: b\n",
        "tls_server_config: {cert_file: [unclosed\n",
        "\tbad: indent",
    ],
)
def test_invalid_yaml_and_duplicate_keys_are_errors(text: str) -> None:
    with pytest.raises(WebConfigError) as caught:
        parse_web_config(text, PATH)
    assert str(caught.value).startswith(f"{PATH}: not valid YAML")


def test_a_password_pasted_instead_of_a_hash_is_not_echoed() -> None:
    with pytest.raises(WebConfigError) as caught:
        parse_web_config("basic_auth_users:\n  alice: hunter2-plaintext\n", PATH)
    assert "hunter2" not in str(caught.value)
    assert "hunter2" not in repr(caught.value)
