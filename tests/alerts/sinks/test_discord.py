"""The discord sink against a Discord webhook on loopback that checks the execute-webhook
body against Discord's documented limits, and answers 429 as Discord does."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from monitor.config.model import SinkConfig, SinkType
from monitor.errors import DeliveryOutcome
from tests.alerts.test_delivery import run
from tests.helpers import LogCapture
from tests.helpers.bursts import HOSTILE, burst, hostile_plan
from tests.helpers.chatapis import DISCORD_MARKUP, FakeDiscord, discord_errors, render_markdown
from tests.helpers.sinks import sink_config

WEBHOOK_TOKEN = "canaryDiscordWebhookToken-9f8e7d6c5b4a"
LINK = "http://monitor.test:9877/"


@pytest.fixture
def discord() -> Iterator[FakeDiscord]:
    with FakeDiscord("112233445566778899", WEBHOOK_TOKEN) as server:
        yield server


def discord_sink(discord: FakeDiscord) -> SinkConfig:
    return sink_config("chat", discord.url, SinkType.DISCORD)


def seen(message: dict[str, object]) -> list[tuple[str, list[str]]]:
    """Every text of the message as a reader sees it, with the markup Discord would act on."""
    # The one link of the message is the monitor's own: to its status page.
    content = str(message["content"])
    assert content.count("](") == 1 and content.count(f"[status page](<{LINK}>)") == 1
    texts = [content.replace(f"[status page](<{LINK}>)", "status page")]
    for embed in message["embeds"]:  # type: ignore[attr-defined]
        texts += [embed["title"], embed["description"]]
        texts += [field["value"] for field in embed.get("fields", [])]
    return [render_markdown(text, DISCORD_MARKUP) for text in texts]


@pytest.mark.anyio
async def test_one_alert_is_content_and_an_embed_with_mentions_off(discord: FakeDiscord) -> None:
    (event,) = burst(1, account="ana_b@x.io")
    await run(
        [discord_sink(discord)],
        [event],
        lambda h: h.count("chat", DeliveryOutcome.DELIVERED),
    )
    (message,) = discord.messages
    assert discord.problems == []
    assert message["wait"] is True  # answered with the message or the error
    assert message["allowed_mentions"] == {"parse": []}
    content, _ = render_markdown(message["content"], DISCORD_MARKUP)
    title, tail = content.split("\n")
    assert title == "🚨 CRITICAL: PixverseTokenExpiringSoon ana_b@x.io"
    assert tail == f"Every alert on the [status page](<{LINK}>)."  # a link, its preview off
    (embed,) = message["embeds"]
    assert embed["title"] == "🚨 CRITICAL · PixverseTokenExpiringSoon"
    assert embed["url"] == LINK
    description, markup = render_markdown(embed["description"], DISCORD_MARKUP)
    assert markup == []
    assert description.startswith("ana_b@x.io · source main · team studio\nToken expires in ")
    assert "at 2027-01-16 08:00 UTC" in description
    assert embed["fields"] == [{"name": "Job slots at stake", "value": "4", "inline": True}]


@pytest.mark.anyio
async def test_a_burst_of_1000_is_one_message_within_the_embed_limits(
    discord: FakeDiscord,
) -> None:
    await run(
        [discord_sink(discord)],
        burst(1000),
        lambda h: h.count("chat", DeliveryOutcome.DELIVERED),
    )
    (message,) = discord.messages
    assert discord_errors(message) == []
    shown = len(message["embeds"])
    assert 5 <= shown <= 10
    content, _ = render_markdown(message["content"], DISCORD_MARKUP)
    assert content.startswith("🚨 PixVerse: 500 critical, 500 warning firing\n")
    assert f"…and {1000 - shown} more: {500 - shown} critical, 500 warning." in content
    assert all(e["title"].startswith("🚨 CRITICAL") for e in message["embeds"])


@pytest.mark.anyio
async def test_hostile_upstream_text_arrives_as_text_and_pings_no_one(
    discord: FakeDiscord,
) -> None:
    await run(
        [discord_sink(discord)],
        [hostile_plan()],
        lambda h: h.count("chat", DeliveryOutcome.DELIVERED),
    )
    (message,) = discord.messages  # the fake refuses what is over Discord's limits
    assert discord.problems == []
    assert message["allowed_mentions"] == {"parse": []}
    texts = seen(message)
    assert all(markup == [] for _, markup in texts), texts
    flat = HOSTILE.replace("\n", " ")
    assert sum(text.count(flat[:200]) for text, _ in texts) >= 4  # name, label, plan, title


@pytest.mark.anyio
async def test_a_429_waits_as_long_as_retry_after_says(discord: FakeDiscord) -> None:
    discord.rate_limit(retry_after=1.2)  # its header says 1: the body's float is the answer
    harness = await run(
        [discord_sink(discord)],
        burst(1),
        lambda h: h.count("chat", DeliveryOutcome.DELIVERED),
        backoff_cap=3.0,
    )
    assert discord.answers == [429, 200]
    assert discord.arrivals[1] - discord.arrivals[0] >= 1.2
    assert harness.failures("chat") == {"http_429": 1}


@pytest.mark.anyio
async def test_an_unknown_webhook_is_dropped_saying_why(
    discord: FakeDiscord, logs: LogCapture
) -> None:
    sink = sink_config("chat", discord.url.replace(WEBHOOK_TOKEN, "deleted"), SinkType.DISCORD)
    harness = await run([sink], burst(1), lambda h: h.count("chat", DeliveryOutcome.DROPPED))
    assert discord.answers == [404]
    assert harness.failures("chat") == {"http_4xx": 1}
    (failed,) = logs.events("notification.failed")
    assert failed["error"] == "HTTP 404: Unknown Webhook (10015)"
