"""The ntfy sink against an ntfy server on loopback that takes a publish as ntfy does: the
headers it reads (Title, Priority, Tags, Click, RFC 2047 decoded), a protected topic's Bearer
token, its 4,096-byte message limit, and its 429 answer."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from monitor.alerts.engine import AlertStatus, Reason
from monitor.config.model import SinkConfig, SinkType
from monitor.errors import DeliveryOutcome
from monitor.secret import Secret
from tests.alerts.test_delivery import T0, run
from tests.helpers.bursts import burst
from tests.helpers.ntfy import MESSAGE_LIMIT, FakeNtfy
from tests.helpers.sinks import sink_config

TOKEN = "tk_ntfyTESTtoken0123456789abcdef"


def ntfy_sink(url: str, token: str | None = TOKEN) -> SinkConfig:
    sink = sink_config("push", url, SinkType.NTFY)
    return replace(sink, token=Secret(token) if token else None)


@pytest.fixture
def ntfy() -> Iterator[FakeNtfy]:
    with FakeNtfy(token=TOKEN) as server:
        yield server


@pytest.mark.anyio
async def test_one_alert_is_a_push_with_title_priority_tags_and_a_link(ntfy: FakeNtfy) -> None:
    (event,) = burst(1, account="ünïcode+ß@x.io")
    harness = await run(
        [ntfy_sink(ntfy.url("pixverse-alerts"))],
        [event],
        lambda h: h.count("push", DeliveryOutcome.DELIVERED),
    )
    (message,) = ntfy.messages
    assert ntfy.problems == []
    assert message["topic"] == "pixverse-alerts"
    # Not ASCII: sent as RFC 2047 encoded words, read back by ntfy as written.
    assert message["title"] == "CRITICAL: PixverseTokenExpiringSoon ünïcode+ß@x.io"
    assert message["headers"]["title"].startswith("=?UTF-8?B?")
    assert message["priority"] == 5
    assert message["tags"] == ["rotating_light"]
    assert message["click"] == "http://monitor.test:9877/"
    text = message["message"]
    assert text.startswith("🚨 CRITICAL · PixverseTokenExpiringSoon\nünïcode+ß@x.io · source main")
    assert (
        "team studio" in text and "Token expires in " in text and "at 2027-01-16 08:00 UTC" in text
    )
    assert text.endswith("All alerts: http://monitor.test:9877/")
    assert message["headers"]["content-type"] == "text/plain; charset=utf-8"
    assert harness.count("push", DeliveryOutcome.RETRIED) == 0


@pytest.mark.anyio
async def test_a_burst_of_200_is_one_push_within_4096_bytes(ntfy: FakeNtfy) -> None:
    await run(
        [ntfy_sink(ntfy.url("pixverse-alerts"))],
        burst(200),
        lambda h: h.count("push", DeliveryOutcome.DELIVERED),
    )
    (message,) = ntfy.messages
    assert ntfy.problems == []  # never an attachment
    text = message["message"]
    assert len(text.encode()) <= MESSAGE_LIMIT
    assert message["title"] == "PixVerse: 100 critical, 100 warning firing"
    assert (message["priority"], message["tags"]) == (5, ["rotating_light"])
    shown = text.count(" · PixverseTokenExpiringSoon\n")
    assert 5 <= shown <= 20
    assert f"…and {200 - shown} more: " in text
    # The most urgent first: 100 critical ones, so no warning is detailed.
    assert "WARNING" not in text.split("…and")[0]


@pytest.mark.anyio
async def test_warnings_are_high_and_resolutions_default_priority(ntfy: FakeNtfy) -> None:
    warning, resolved = burst(2)[1], burst(1)[0]
    resolved = replace(
        resolved, status=AlertStatus.RESOLVED, reason=Reason.RESOLVED, ends_at_unix=T0
    )
    await run(
        [ntfy_sink(ntfy.url("t"))],
        [[warning], [resolved]],
        lambda h: h.count("push", DeliveryOutcome.DELIVERED) == 2,
    )
    assert [(m["priority"], m["tags"]) for m in ntfy.messages] == [
        (4, ["warning"]),
        (3, ["white_check_mark"]),
    ]


@pytest.mark.anyio
async def test_a_429_is_waited_out_as_ntfy_asks(ntfy: FakeNtfy) -> None:
    ntfy.rate_limit(retry_after="1")
    harness = await run(
        [ntfy_sink(ntfy.url("t"))],
        burst(1),
        lambda h: h.count("push", DeliveryOutcome.DELIVERED),
        backoff_cap=3.0,
    )
    assert ntfy.answers == [429, 200]
    assert harness.failures("push") == {"http_429": 1}
    assert len(ntfy.messages) == 1


@pytest.mark.anyio
async def test_a_wrong_token_is_refused_and_dropped(ntfy: FakeNtfy) -> None:
    harness = await run(
        [ntfy_sink(ntfy.url("t"), token="tk_wrong_token_000000000000000")],
        burst(1),
        lambda h: h.count("push", DeliveryOutcome.DROPPED),
    )
    assert ntfy.answers == [401] and ntfy.messages == []
    assert harness.failures("push") == {"http_4xx": 1}
