"""The teams sink against a Teams Workflows webhook on loopback that checks the message and
its Adaptive Card against the subset the sink sends (version 1.4 at most) and the 28 KB
limit, and answers 429 as Teams does."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import orjson
import pytest

from monitor.config.model import SinkConfig, SinkType
from monitor.errors import DeliveryOutcome
from tests.alerts.test_delivery import run
from tests.helpers import LogCapture
from tests.helpers.bursts import HOSTILE, HUGE, burst, hostile_plan
from tests.helpers.chatapis import TEAMS_MARKUP, FakeTeams, render_markdown, teams_texts
from tests.helpers.sinks import sink_config

SIG = "canaryTeamsWorkflowSig-0a9b8c7d6e5f"
LINK = "http://monitor.test:9877/"


@pytest.fixture
def teams() -> Iterator[FakeTeams]:
    with FakeTeams(SIG) as server:
        yield server


def teams_sink(teams: FakeTeams) -> SinkConfig:
    return sink_config("office", teams.url, SinkType.TEAMS)


def card_of(message: dict[str, object]) -> dict[str, object]:
    return message["attachments"][0]["content"]  # type: ignore[index,no-any-return]


@pytest.mark.anyio
async def test_one_alert_is_one_adaptive_card(teams: FakeTeams) -> None:
    (event,) = burst(1, account="ana_b@x.io")
    await run(
        [teams_sink(teams)],
        [event],
        lambda h: h.count("office", DeliveryOutcome.DELIVERED),
    )
    (message,) = teams.messages
    card = card_of(message)
    assert card["version"] == "1.4"
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "Open the status page", "url": LINK}
    ]
    texts = [render_markdown(text, TEAMS_MARKUP) for text in teams_texts(message)]
    assert all(markup == [] for _, markup in texts)
    assert [text for text, _ in texts][:3] == [
        "🚨 CRITICAL: PixverseTokenExpiringSoon ana_b@x.io",
        "🚨 CRITICAL · PixverseTokenExpiringSoon",
        "ana_b@x.io · source main · team studio",
    ]
    assert texts[3][0].startswith("Token expires in ")
    assert texts[3][0].endswith(", at 2027-01-16 08:00 UTC")
    assert "Job slots at stake: 4" in [text for text, _ in texts]


@pytest.mark.anyio
async def test_a_burst_of_1000_is_one_card_within_28_kb(teams: FakeTeams) -> None:
    await run(
        [teams_sink(teams)],
        burst(1000),
        lambda h: h.count("office", DeliveryOutcome.DELIVERED),
    )
    (message,) = teams.messages  # the fake refuses a card over 28 KB or outside the subset
    assert len(orjson.dumps(message)) <= 28 * 1024
    texts = teams_texts(message)
    shown = sum(1 for text in texts if text.startswith("🚨 **CRITICAL**"))
    assert shown == 20  # at most 20 alerts, whatever room there is
    assert texts[-1] == "…and 980 more: 480 critical, 500 warning. All of them on the status page."


@pytest.mark.anyio
async def test_hostile_upstream_text_arrives_as_text(teams: FakeTeams) -> None:
    await run(
        [teams_sink(teams)],
        [hostile_plan()],
        lambda h: h.count("office", DeliveryOutcome.DELIVERED),
    )
    (message,) = teams.messages
    texts = [render_markdown(text, TEAMS_MARKUP) for text in teams_texts(message)]
    assert all(markup == [] for _, markup in texts), texts
    flat = HOSTILE.replace("\n", " ")
    assert sum(text.count(flat[:200]) for text, _ in texts) >= 4  # title, name, label, plan


@pytest.mark.anyio
async def test_a_429_waits_as_long_as_retry_after_says(teams: FakeTeams) -> None:
    teams.rate_limit(retry_after=1)
    harness = await run(
        [teams_sink(teams)],
        burst(1),
        lambda h: h.count("office", DeliveryOutcome.DELIVERED),
        backoff_cap=3.0,
    )
    assert teams.answers == [429, 202]
    assert teams.arrivals[1] - teams.arrivals[0] >= 1.0
    assert harness.failures("office") == {"http_429": 1}


@pytest.mark.anyio
async def test_a_wrong_signature_is_dropped_saying_why(teams: FakeTeams, logs: LogCapture) -> None:
    sink = sink_config("office", teams.url.replace(SIG, "revoked"), SinkType.TEAMS)
    harness = await run([sink], burst(1), lambda h: h.count("office", DeliveryOutcome.DROPPED))
    assert teams.answers == [401]
    assert harness.failures("office") == {"http_4xx": 1}
    (failed,) = logs.events("notification.failed")
    assert failed["error"] == "HTTP 401: unauthorized"


@pytest.mark.anyio
async def test_long_names_fill_the_card_up_to_28_kb_and_count_the_rest(teams: FakeTeams) -> None:
    await run(
        [teams_sink(teams)],
        [replace(hostile_plan(f"{i} {HUGE}"), id=f"h{i}") for i in range(30)],
        lambda h: h.count("office", DeliveryOutcome.DELIVERED),
    )
    (message,) = teams.messages  # the fake refuses a message over 28 KB
    texts = teams_texts(message)
    shown = sum(1 for text in texts if text.startswith("🚨 **CRITICAL**"))
    assert 1 <= shown < 20
    assert texts[-1].startswith(f"…and {30 - shown} more: ")
