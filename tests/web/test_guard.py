"""TLS and basic auth on the metrics server, with real HTTPS requests and a test CA."""

from __future__ import annotations

import asyncio
import base64
import errno
import os
import ssl
import subprocess
import sys
from pathlib import Path

import bcrypt
import httpx
import pytest

from monitor.config.load import load_config
from monitor.secret import Secret
from monitor.service.daemon import Daemon
from monitor.testing.fakeapi import FakeUpstream
from monitor.web.basicauth import BasicAuth, parse_basic
from monitor.web.guard import load_web_config
from monitor.web.messages import Verdict
from monitor.web.webconfig import WebConfigError
from tests.helpers import ConfigWriter, LogCapture, async_eventually
from tests.helpers.certs import TestCA
from tests.helpers.inprocess import running

PASSWORD = "correct horse battery staple"
OTHER_PASSWORD = "second-password-4f1e"


def bcrypt_hash(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()


@pytest.fixture
def ca(tmp_path: Path) -> TestCA:
    return TestCA(tmp_path)


def write_atomically(path: Path, text: str) -> None:
    """As editors and config management do: a new file renamed over the old one."""
    temporary = path.with_name(path.name + ".new")
    temporary.write_text(text)
    os.replace(temporary, path)


def web_yaml(
    ca: TestCA | None = None,
    *,
    tls: str = "",
    users: dict[str, str] | None = None,
) -> str:
    lines = []
    if ca is not None:
        lines += ["tls_server_config:", "  cert_file: server.crt", "  key_file: server.key"]
        lines += [f"  {line}" for line in tls.splitlines() if line]
    if users:
        lines.append("basic_auth_users:")
        lines += [f"  {user}: '{hashed}'" for user, hashed in users.items()]
    return "\n".join(lines) + "\n"


def client_context(
    ca: TestCA, client: tuple[Path, Path] | None = None, *, max_tls12: bool = False
) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca.cert_file)
    if client is not None:
        context.load_cert_chain(*client)
    if max_tls12:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    return context


async def get(
    daemon: Daemon,
    path: str = "/metrics",
    *,
    context: ssl.SSLContext | None = None,
    auth: tuple[str, str] | None = None,
    method: str = "GET",
) -> httpx.Response:
    scheme = "https" if context is not None else "http"
    async with httpx.AsyncClient(verify=context or True, timeout=5) as client:
        return await client.request(
            method, f"{scheme}://127.0.0.1:{daemon.metrics_port}{path}", auth=auth
        )


async def peer_serial(daemon: Daemon, context: ssl.SSLContext) -> int:
    _, writer = await asyncio.open_connection(
        "127.0.0.1", daemon.metrics_port, ssl=context, server_hostname="localhost"
    )
    try:
        certificate = writer.get_extra_info("peercert")
        return int(certificate["serialNumber"], 16)
    finally:
        writer.close()


async def reload_metric_is(
    daemon: Daemon,
    value: int,
    *,
    context: ssl.SSLContext,
    auth: tuple[str, str] | None = None,
) -> None:
    """/metrics is the body of its second (shared by that second's scrapes), so a reload
    shows in it within a second."""

    async def shown() -> bool:
        response = await get(daemon, context=context, auth=auth)
        return f"pixverse_monitor_config_last_reload_successful {value}" in response.text

    await async_eventually(shown, timeout=3, what=f"the reload metric to say {value}")


@pytest.fixture
def web_file(tmp_path: Path) -> Path:
    return tmp_path / "web.yml"


def daemon_with(configs: ConfigWriter, fake: FakeUpstream, web: Path) -> Daemon:
    config = configs.load(fake.base_url, metrics=f'web_config_file = "{web}"')
    return Daemon(config, environ={})


@pytest.mark.anyio
async def test_tls_serves_https_with_the_configured_certificate(
    fake: FakeUpstream, configs: ConfigWriter, ca: TestCA, web_file: Path
) -> None:
    server = ca.server()
    web_file.write_text(web_yaml(ca))

    async with running(daemon_with(configs, fake, web_file)) as daemon:
        context = client_context(ca)
        response = await get(daemon, context=context)
        assert response.status_code == 200
        assert "pixverse_monitor_build_info" in response.text
        assert await peer_serial(daemon, context) == server.serial
        # A client that does not trust the test CA refuses the server ...
        with pytest.raises(httpx.ConnectError):
            await get(daemon, context=ssl.create_default_context())
        # ... and plain HTTP gets no answer from a TLS port.
        with pytest.raises(httpx.TransportError):
            await get(daemon)
        # The server still serves after those failed handshakes.
        assert (await get(daemon, "/healthz", context=context)).status_code == 200


@pytest.mark.anyio
async def test_min_version_refuses_older_clients(
    fake: FakeUpstream, configs: ConfigWriter, ca: TestCA, web_file: Path
) -> None:
    ca.server()
    web_file.write_text(web_yaml(ca, tls="min_version: TLS13"))

    async with running(daemon_with(configs, fake, web_file)) as daemon:
        assert (await get(daemon, context=client_context(ca))).status_code == 200
        with pytest.raises(httpx.ConnectError):
            await get(daemon, context=client_context(ca, max_tls12=True))


@pytest.mark.anyio
async def test_require_and_verify_client_cert(
    fake: FakeUpstream, configs: ConfigWriter, ca: TestCA, web_file: Path, tmp_path: Path
) -> None:
    ca.server()
    good = ca.client()
    stranger = TestCA(tmp_path, "Stranger CA").client("stranger")
    web_file.write_text(
        web_yaml(
            ca,
            tls=f"client_auth_type: RequireAndVerifyClientCert\nclient_ca_file: {ca.cert_file}",
        )
    )

    async with running(daemon_with(configs, fake, web_file)) as daemon:
        with_good = client_context(ca, (good.cert_file, good.key_file))
        assert (await get(daemon, context=with_good)).status_code == 200
        for context in (
            client_context(ca),  # no certificate at all
            client_context(ca, (stranger.cert_file, stranger.key_file)),
        ):
            with pytest.raises(httpx.TransportError):
                await get(daemon, context=context)
        assert (await get(daemon, context=with_good)).status_code == 200


@pytest.mark.anyio
async def test_verify_client_cert_if_given(
    fake: FakeUpstream, configs: ConfigWriter, ca: TestCA, web_file: Path, tmp_path: Path
) -> None:
    ca.server()
    good = ca.client()
    stranger = TestCA(tmp_path, "Stranger CA").client("stranger")
    web_file.write_text(
        web_yaml(ca, tls="client_auth_type: VerifyClientCertIfGiven\nclient_ca_file: test-ca.crt")
    )

    async with running(daemon_with(configs, fake, web_file)) as daemon:
        assert (await get(daemon, context=client_context(ca))).status_code == 200
        with_good = client_context(ca, (good.cert_file, good.key_file))
        assert (await get(daemon, context=with_good)).status_code == 200
        with pytest.raises(httpx.TransportError):
            await get(daemon, context=client_context(ca, (stranger.cert_file, stranger.key_file)))


@pytest.mark.anyio
async def test_basic_auth_over_tls(
    fake: FakeUpstream, configs: ConfigWriter, ca: TestCA, web_file: Path, logs: LogCapture
) -> None:
    ca.server()
    hashed = bcrypt_hash(PASSWORD)
    web_file.write_text(web_yaml(ca, users={"prometheus": hashed}))

    async with running(daemon_with(configs, fake, web_file)) as daemon:
        context = client_context(ca)
        for path in ("/metrics", "/readyz", "/", "/nope"):
            response = await get(daemon, path, context=context)
            assert response.status_code == 401, path
            assert response.headers["www-authenticate"].startswith('Basic realm="')
        head = await get(daemon, context=context, method="HEAD")
        assert head.status_code == 401
        for user, password in (
            ("prometheus", "wrong"),
            ("nobody", PASSWORD),
            ("prometheus", PASSWORD.upper()),
            ("prometheus", ""),
            ("prometheus", "x" * 100),  # beyond bcrypt's 72 bytes
        ):
            response = await get(daemon, context=context, auth=(user, password))
            assert response.status_code == 401, (user, password)
        good = ("prometheus", PASSWORD)
        response = await get(daemon, context=context, auth=good)
        assert response.status_code == 200
        assert "pixverse_monitor_config_last_reload_successful 1" in response.text
        assert (await get(daemon, context=context, auth=good)).status_code == 200
        # /healthz stays open so that probes need no credentials; it tells nothing.
        health = await get(daemon, "/healthz", context=context)
        assert (health.status_code, health.text) == (200, "ok\n")

    assert PASSWORD not in logs.text
    assert hashed not in logs.text
    assert "BEGIN" not in logs.text


@pytest.mark.anyio
async def test_basic_auth_without_tls(
    fake: FakeUpstream, configs: ConfigWriter, web_file: Path
) -> None:
    web_file.write_text(web_yaml(users={"prometheus": bcrypt_hash(PASSWORD)}))

    async with running(daemon_with(configs, fake, web_file)) as daemon:
        assert (await get(daemon)).status_code == 401
        assert (await get(daemon, auth=("prometheus", PASSWORD))).status_code == 200


@pytest.mark.anyio
async def test_web_config_changes_apply_to_the_next_request(
    fake: FakeUpstream, configs: ConfigWriter, ca: TestCA, web_file: Path, logs: LogCapture
) -> None:
    first = ca.server()
    web_file.write_text(web_yaml(ca, users={"prometheus": bcrypt_hash(PASSWORD)}))

    async with running(daemon_with(configs, fake, web_file)) as daemon:
        context = client_context(ca)
        old, new = ("prometheus", PASSWORD), ("prometheus", OTHER_PASSWORD)
        assert (await get(daemon, context=context, auth=old)).status_code == 200
        # A new password: the old one stops working, the new one works, no restart.
        write_atomically(web_file, web_yaml(ca, users={"prometheus": bcrypt_hash(OTHER_PASSWORD)}))
        assert (await get(daemon, context=context, auth=old)).status_code == 401
        assert (await get(daemon, context=context, auth=new)).status_code == 200
        # A broken file: logged, the last good one stays, and the reload metric says so.
        write_atomically(web_file, "basic_auth_users: [oops\n")
        assert (await get(daemon, context=context, auth=new)).status_code == 200
        await reload_metric_is(daemon, 0, context=context, auth=new)
        # A renewed certificate at the same paths serves the next connection.
        second = ca.server()
        assert second.serial != first.serial
        write_atomically(web_file, web_yaml(ca, users={"prometheus": bcrypt_hash(OTHER_PASSWORD)}))
        assert await peer_serial(daemon, context) == second.serial
        await reload_metric_is(daemon, 1, context=context, auth=new)

    (failed,) = logs.events("webconfig.reload_failed")  # once, not once per request
    assert failed["file"] == str(web_file)
    assert "not valid YAML" in failed["problem"]
    assert len(logs.events("webconfig.reloaded")) == 2


@pytest.mark.anyio
async def test_certificate_rotation_alone_is_picked_up(
    fake: FakeUpstream, configs: ConfigWriter, ca: TestCA, web_file: Path
) -> None:
    ca.server()
    web_file.write_text(web_yaml(ca))

    async with running(daemon_with(configs, fake, web_file)) as daemon:
        context = client_context(ca)
        await peer_serial(daemon, context)
        renewed = ca.server("renewed")
        os.replace(renewed.key_file, web_file.parent / "server.key")
        os.replace(renewed.cert_file, web_file.parent / "server.crt")

        async def rotated() -> bool:
            return await peer_serial(daemon, context) == renewed.serial

        await async_eventually(rotated, what="the renewed certificate to be served")


@pytest.mark.anyio
async def test_enabling_tls_needs_no_restart(
    fake: FakeUpstream, configs: ConfigWriter, ca: TestCA, web_file: Path
) -> None:
    web_file.write_text("")

    async with running(daemon_with(configs, fake, web_file)) as daemon:
        assert (await get(daemon)).status_code == 200
        ca.server()
        write_atomically(web_file, web_yaml(ca))
        assert (await get(daemon, context=client_context(ca))).status_code == 200


# -- errors at start-up -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setup", "key", "problem"),
    [
        ("missing-file", "", "cannot read"),
        ("missing-cert", "tls_server_config.cert_file", "cannot read"),
        ("mismatched-key", "tls_server_config.key_file", "does not match"),
        ("garbage-cert", "tls_server_config.cert_file", "cannot load the certificate"),
        ("garbage-ca", "tls_server_config.client_ca_file", "no usable CA"),
    ],
)
def test_bad_tls_files_are_config_errors_naming_file_and_key(
    ca: TestCA, web_file: Path, tmp_path: Path, setup: str, key: str, problem: str
) -> None:
    server = ca.server()
    other = ca.server("other")
    tls = ""
    if setup == "missing-cert":
        server.cert_file.unlink()
    elif setup == "mismatched-key":
        os.replace(other.key_file, server.key_file)
    elif setup == "garbage-cert":
        server.cert_file.write_text(
            "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n"
        )
    elif setup == "garbage-ca":
        (tmp_path / "ca.pem").write_text("not a certificate\n")
        tls = "client_auth_type: VerifyClientCertIfGiven\nclient_ca_file: ca.pem"
    if setup != "missing-file":
        web_file.write_text(web_yaml(ca, tls=tls))
    with pytest.raises(WebConfigError) as caught:
        load_web_config(web_file)
    assert caught.value.key == key
    assert problem in caught.value.problem
    assert str(web_file) in str(caught.value)
    assert server.key_text()[40:80] not in str(caught.value)


def test_run_and_config_check_exit_2_on_a_bad_web_config(
    fake: FakeUpstream, configs: ConfigWriter, web_file: Path
) -> None:
    web_file.write_text("tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n")
    path = configs.for_upstream(fake.base_url, metrics=f'web_config_file = "{web_file}"')
    for args in (["run", "--config", str(path)], ["config", "check", str(path)]):
        result = subprocess.run(
            [sys.executable, "-m", "monitor", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 2, result
        assert (
            f"config error: metrics.web_config_file: {web_file}: tls_server_config.cert_file: "
            "cannot read" in result.stderr
        )
    # `check` polls without serving anything: the web config (and its key) is not its business.
    assert load_config(path, env={}).metrics.web_config_file == web_file


# -- basic auth details -------------------------------------------------------------------


def _header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (_header("a", "b"), ("a", b"b")),
        (_header("a", "b:c"), ("a", b"b:c")),
        (_header("ü", "ß"), ("ü", "ß".encode())),
        ("basic " + base64.b64encode(b"a:b").decode(), ("a", b"b")),
        ("Bearer abc", None),
        ("Basic !!!", None),
        ("Basic " + base64.b64encode(b"no-colon").decode(), None),
        ("Basic " + base64.b64encode(b"\xff:x").decode(), None),
        ("", None),
    ],
)
def test_parse_basic(header: str, expected: tuple[str, bytes] | None) -> None:
    assert parse_basic(header) == expected


@pytest.mark.anyio
async def test_successes_are_cached_failures_are_not(bcrypt_hashes: list[bytes]) -> None:
    hashed = bcrypt_hash(PASSWORD)
    users = {"prometheus": Secret(hashed)}
    auth = BasicAuth()

    assert await auth.check(users, _header("prometheus", PASSWORD)) is Verdict.ALLOW
    assert await auth.check(users, _header("prometheus", PASSWORD)) is Verdict.ALLOW
    assert len(bcrypt_hashes) == 1
    assert await auth.check(users, _header("prometheus", "wrong")) is Verdict.DENY
    assert await auth.check(users, _header("prometheus", "wrong")) is Verdict.DENY
    assert len(bcrypt_hashes) == 3
    # An unknown user still costs a bcrypt (no enumeration by timing) and never passes.
    assert await auth.check(users, _header("stranger", PASSWORD)) is Verdict.DENY
    assert len(bcrypt_hashes) == 4 and bcrypt_hashes[-1] != hashed.encode()
    # A changed hash is a different cache entry: the old password no longer passes.
    changed = {"prometheus": Secret(bcrypt_hash(OTHER_PASSWORD))}
    assert await auth.check(changed, _header("prometheus", PASSWORD)) is Verdict.DENY
    assert await auth.check(changed, _header("prometheus", OTHER_PASSWORD)) is Verdict.ALLOW
    # A removed user is refused even though its success is cached.
    assert await auth.check({}, _header("prometheus", PASSWORD)) is Verdict.DENY


@pytest.mark.anyio
async def test_cache_is_bounded_and_holds_no_plaintext(bcrypt_hashes: list[bytes]) -> None:
    users = {f"u{i}": Secret(bcrypt_hash(f"pw{i}")) for i in range(3)}
    auth = BasicAuth(max_cached=2)

    for i in range(3):
        assert await auth.check(users, _header(f"u{i}", f"pw{i}")) is Verdict.ALLOW
    assert len(auth.remembered) == 2
    cached = b"".join(auth.remembered)
    for i in range(3):
        assert f"pw{i}".encode() not in cached
    assert await auth.check(users, _header("u0", "pw0")) is Verdict.ALLOW  # evicted: checked again
    assert len(bcrypt_hashes) == 4


def test_a_file_vanishing_during_the_load_is_a_config_error(
    ca: TestCA, web_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = ca.server()
    web_file.write_text(web_yaml(ca))

    # As if the certificate were removed between the readability check and the load.
    def vanished(self: ssl.SSLContext, *args: object, **kwargs: object) -> None:
        server.cert_file.unlink()
        raise FileNotFoundError(errno.ENOENT, "No such file or directory")

    monkeypatch.setattr(ssl.SSLContext, "load_cert_chain", vanished)
    with pytest.raises(WebConfigError) as caught:
        load_web_config(web_file)
    assert caught.value.key == "tls_server_config.cert_file"
    assert "cannot read" in caught.value.problem


@pytest.mark.anyio
async def test_a_certificate_removed_at_runtime_keeps_the_loaded_one(
    fake: FakeUpstream, configs: ConfigWriter, ca: TestCA, web_file: Path, logs: LogCapture
) -> None:
    server = ca.server()
    web_file.write_text(web_yaml(ca))

    async with running(daemon_with(configs, fake, web_file)) as daemon:
        context = client_context(ca)
        assert (await get(daemon, context=context)).status_code == 200
        server.cert_file.unlink()
        assert (await get(daemon, context=context)).status_code == 200
        await reload_metric_is(daemon, 0, context=context)
        assert await peer_serial(daemon, context) == server.serial

    (failed,) = logs.events("webconfig.reload_failed")
    assert failed["key"] == "tls_server_config.cert_file"
