"""The apprise sink through Apprise's own `json://` scheme, against the project's webhook
receiver on loopback: the title, body and type Apprise posts, one message per URL, a failing
URL retried without sending again to the one that took it, and a URL file read at load."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.alerts.engine import AlertStatus, Reason
from monitor.config import parse_config
from monitor.config.model import SinkConfig, SinkType
from monitor.errors import ConfigError, DeliveryOutcome
from monitor.secret import Secret
from monitor.testing.receiver import WebhookReceiver
from tests.alerts.test_delivery import EXTERNAL, T0, run
from tests.helpers.bursts import burst
from tests.helpers.sinks import sink_config

try:
    import apprise  # noqa: F401
except ImportError:  # pragma: no cover - the extra is installed in CI
    if os.environ.get("CI") == "true":
        raise
    pytest.skip(
        "apprise is not installed (pip install -e '.[apprise]'); CI installs it",
        allow_module_level=True,
    )

PATH = "/apprise-canary-path-7f3e1a"


def apprise_sink(*urls: str) -> SinkConfig:
    sink = sink_config("any", "", SinkType.APPRISE)
    return replace(sink, apprise_urls=tuple(Secret(u) for u in urls))


def json_url(receiver: WebhookReceiver, path: str = PATH) -> str:
    return receiver.url.replace("http://", "json://") + path


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


@pytest.mark.anyio
async def test_a_burst_is_one_message_with_title_body_and_type(receiver: WebhookReceiver) -> None:
    await run(
        [apprise_sink(json_url(receiver))],
        burst(30),
        lambda h: h.count("any", DeliveryOutcome.DELIVERED),
    )
    (request,) = receiver.accepted(PATH)
    payload = request.json()
    assert payload["title"] == "PixVerse: 15 critical, 15 warning firing"
    assert payload["type"] == "failure"
    body = payload["message"]
    assert body.startswith("CRITICAL · PixverseTokenExpiringSoon\nu0000@x.io · source main")
    assert "Token expires in " in body and "team studio" in body
    assert len(body) <= 4000
    shown = body.count(" · PixverseTokenExpiringSoon\n")
    assert 1 <= shown <= 20
    assert f"…and {30 - shown} more: " in body
    assert body.endswith(f"All alerts: {EXTERNAL}/")


@pytest.mark.anyio
async def test_warnings_and_resolutions_have_their_type(receiver: WebhookReceiver) -> None:
    warning = burst(2)[1]
    resolved = replace(
        burst(1)[0], status=AlertStatus.RESOLVED, reason=Reason.RESOLVED, ends_at_unix=T0
    )
    await run(
        [apprise_sink(json_url(receiver))],
        [[warning], [resolved]],
        lambda h: h.count("any", DeliveryOutcome.DELIVERED) == 2,
    )
    assert [r.json()["type"] for r in receiver.accepted(PATH)] == ["warning", "success"]


@pytest.mark.anyio
async def test_a_failing_url_is_retried_alone(receiver: WebhookReceiver) -> None:
    """Two URLs: the first takes it, the second fails twice. Each URL is one request of the
    notification, recorded when it is taken: the retries go to the second URL only."""
    with WebhookReceiver() as failing:
        failing.respond(500, times=2)
        harness = await run(
            [apprise_sink(json_url(receiver), json_url(failing))],
            burst(1),
            lambda h: h.count("any", DeliveryOutcome.DELIVERED),
        )
    assert len(receiver.received) == 1
    assert [r.answered for r in failing.received] == [500, 500, 200]
    assert harness.failures("any") == {"apprise_failed": 2}
    failed = [r.why for r in harness.delivery.recent.of("any") if r.why]
    assert failed == ["URL 2 of 2: Apprise could not deliver it (its log says why)"] * 2


@pytest.mark.anyio
async def test_no_answer_within_the_timeout_is_a_timeout() -> None:
    """A service that never answers: the thread is left to Apprise's own timeouts, the
    attempt ends at the sink's."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        sink = replace(
            apprise_sink(f"json://127.0.0.1:{port}/hang"), timeout=timedelta(seconds=0.3)
        )
        harness = await run([sink], burst(1), lambda h: h.count("any", DeliveryOutcome.RETRIED))
    assert harness.failures("any").get("timeout", 0) >= 1


def test_the_url_file_is_read_at_load(tmp_path: Path) -> None:
    urls = tmp_path / "urls"
    urls.write_text(
        "# the team's channels\n\njson://127.0.0.1:9/hook-path-secret-123\n  tgram://123456789:AAHtokenSECRET/-100123\n"
    )
    doc = {"sinks": [{"name": "any", "type": "apprise", "url_file": str(urls)}]}
    (sink,) = parse_config(doc, env={"USEAPI_TOKEN": "t"}).sinks
    assert [u.reveal() for u in sink.apprise_urls] == [
        "json://127.0.0.1:9/hook-path-secret-123",
        "tgram://123456789:AAHtokenSECRET/-100123",
    ]
    assert sink.url_display == "json://…, tgram://…"
    assert "SECRET" not in repr(sink)


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("", "sinks[0].url_file", "is empty"),
        ("# only a comment\n", "sinks[0].url_file", "holds no URL"),
        (
            "json://h/x\nnotascheme://secret-here\n",
            "sinks[0].url_file",
            "line 2: not a URL Apprise knows (notascheme://…)",
        ),
    ],
)
def test_a_bad_url_file_names_the_key(tmp_path: Path, text: str, key: str, problem: str) -> None:
    urls = tmp_path / "urls"
    urls.write_text(text)
    doc = {"sinks": [{"name": "any", "type": "apprise", "url_file": str(urls)}]}
    with pytest.raises(ConfigError) as caught:
        parse_config(doc, env={"USEAPI_TOKEN": "t"})
    assert caught.value.key == key
    assert problem in str(caught.value)
    assert "secret-here" not in str(caught.value)


def test_an_inline_url_is_refused(tmp_path: Path) -> None:
    doc = {"sinks": [{"name": "any", "type": "apprise", "url": "json://h/x"}]}
    with pytest.raises(ConfigError) as caught:
        parse_config(doc, env={"USEAPI_TOKEN": "t"})
    assert caught.value.key == "sinks[0].url"


def test_without_apprise_installed_the_error_names_the_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    urls = tmp_path / "urls"
    urls.write_text("json://h/x\n")
    monkeypatch.setitem(sys.modules, "apprise", None)  # import apprise fails
    doc = {"sinks": [{"name": "any", "type": "apprise", "url_file": str(urls)}]}
    with pytest.raises(ConfigError) as caught:
        parse_config(doc, env={"USEAPI_TOKEN": "t"})
    assert caught.value.key == "sinks[0].type"
    assert "pip install 'pixverse-monitor[apprise]'" in str(caught.value)
