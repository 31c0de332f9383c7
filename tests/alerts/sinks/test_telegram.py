"""The telegram sink against a Bot API on loopback that takes sendMessage as Telegram does:
the token in the path, the chat and forum topic, the HTML parse mode with only the tags and
entities Telegram reads, 4,096 characters after parsing, and its 429 and 400 answers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from monitor.config.model import SinkConfig, SinkType
from monitor.errors import DeliveryOutcome
from monitor.secret import MASK, Secret
from tests.alerts.test_delivery import run
from tests.helpers import LogCapture
from tests.helpers.bursts import HOSTILE, burst, hostile_plan
from tests.helpers.chatapis import TELEGRAM_LIMIT, FakeBotApi
from tests.helpers.sinks import sink_config

TOKEN = "7012345678:AAHcanaryTelegramBotTokenXYZ0123456"
CHAT = "-1001234567890"
LINK = "http://monitor.test:9877/"


@pytest.fixture
def api() -> Iterator[FakeBotApi]:
    with FakeBotApi(TOKEN, {CHAT: {42}}) as server:
        yield server


def telegram_sink(api: FakeBotApi, *, chat: str = CHAT, thread: int | None = None) -> SinkConfig:
    sink = sink_config("phones", f"{api.base}/bot{TOKEN}/sendMessage", SinkType.TELEGRAM)
    display = f"{api.base}/bot{MASK}/sendMessage"
    return replace(sink, url_display=display, chat_id=chat, message_thread_id=thread)


@pytest.mark.anyio
async def test_one_alert_is_one_html_message_to_the_chat_and_topic(api: FakeBotApi) -> None:
    (event,) = burst(1, account="ana+<b>@x.io")
    await run(
        [telegram_sink(api, thread=42)],
        [event],
        lambda h: h.count("phones", DeliveryOutcome.DELIVERED),
    )
    (message,) = api.messages
    assert api.problems == []
    assert (message["chat_id"], message["message_thread_id"]) == (CHAT, 42)
    assert message["disable_web_page_preview"] is True
    text = message["text"]
    assert text.startswith("🚨 CRITICAL: PixverseTokenExpiringSoon ana+<b>@x.io\n\n")
    assert (
        "🚨 CRITICAL · PixverseTokenExpiringSoon\nana+<b>@x.io · source main · team studio\n"
        in text
    )
    assert "Token expires in " in text and "at 2027-01-16 08:00 UTC" in text
    assert "Job slots at stake: 4" in text
    assert "ana+&lt;b&gt;@x.io" in message["html"]  # escaped, read back as written
    assert message["links"] == [(LINK, "All alerts on the status page")]
    assert "ana+<b>@x.io" in message["bold"]


@pytest.mark.anyio
async def test_a_burst_of_1000_is_one_message_within_4096_characters(api: FakeBotApi) -> None:
    await run(
        [telegram_sink(api)],
        burst(1000),
        lambda h: h.count("phones", DeliveryOutcome.DELIVERED),
    )
    (message,) = api.messages
    text = message["text"]
    assert len(text.encode("utf-16-le")) // 2 <= TELEGRAM_LIMIT
    assert text.startswith("🚨 PixVerse: 500 critical, 500 warning firing\n")
    shown = text.count(" · PixverseTokenExpiringSoon\n")
    assert 5 <= shown <= 20
    assert f"…and {1000 - shown} more: {500 - shown} critical, 500 warning." in text
    assert "WARNING ·" not in text  # the most urgent first: 500 critical ones
    assert message["links"] == [(LINK, "All alerts on the status page")]


@pytest.mark.anyio
async def test_hostile_upstream_text_arrives_as_text(api: FakeBotApi) -> None:
    await run(
        [telegram_sink(api)],
        [hostile_plan()],
        lambda h: h.count("phones", DeliveryOutcome.DELIVERED),
    )
    (message,) = api.messages  # the fake refuses any tag or entity Telegram would
    assert api.problems == []
    text = message["text"]
    flat = HOSTILE.replace("\n", " ")
    assert flat[:200] in text  # the name, the plan, the label: as written, cut short
    assert text.count(flat[:200]) >= 3
    assert len(text.encode("utf-16-le")) // 2 <= TELEGRAM_LIMIT
    assert message["links"] == [(LINK, "All alerts on the status page")]
    assert "<script>" not in message["html"]


@pytest.mark.anyio
async def test_a_429_waits_as_long_as_retry_after_says(api: FakeBotApi) -> None:
    api.rate_limit(retry_after=1)
    harness = await run(
        [telegram_sink(api)],
        burst(1),
        lambda h: h.count("phones", DeliveryOutcome.DELIVERED),
        backoff_cap=3.0,
    )
    assert api.answers == [429, 200]
    waited = api.arrivals[1] - api.arrivals[0]
    assert waited >= 1.0  # the backoff alone would have been 0.05 s
    assert harness.failures("phones") == {"http_429": 1}


@pytest.mark.anyio
async def test_chat_not_found_is_dropped_saying_why_and_the_token_never_shows(
    api: FakeBotApi, logs: LogCapture
) -> None:
    harness = await run(
        [telegram_sink(api, chat="-1009999999999")],
        burst(1),
        lambda h: h.count("phones", DeliveryOutcome.DROPPED),
    )
    assert api.answers == [400]  # not retried
    assert harness.failures("phones") == {"http_4xx": 1}
    (failed,) = logs.events("notification.failed")
    assert failed["error"] == "HTTP 400: Bad Request: chat not found"
    assert failed["will_retry"] is False
    # httpx logged the request (the fixture logs at debug level), its URL masked.
    assert f'"HTTP Request: POST {MASK} \\"HTTP/1.1 400 Bad Request' in logs.text
    assert TOKEN not in logs.text and TOKEN.split(":")[1] not in logs.text


@pytest.mark.anyio
async def test_a_wrong_token_is_refused_and_dropped(api: FakeBotApi) -> None:
    sink = telegram_sink(api)
    wrong = replace(sink, url=Secret(f"{api.base}/bot1:wrongwrongwrongwrong/sendMessage"))
    harness = await run([wrong], burst(1), lambda h: h.count("phones", DeliveryOutcome.DROPPED))
    assert api.answers == [401] and api.messages == []
    assert harness.failures("phones") == {"http_4xx": 1}
