"""The status page and /api/v1/status served by a daemon polling the fake upstream: the page
shows what its JSON twin says, both sit behind the same credentials as /metrics with the
headers a browser needs, and their links (and the notifications') use the external URL."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest

from monitor.config.load import load_config
from monitor.exposition import ACCOUNT_KEYS
from monitor.service.daemon import Daemon
from monitor.testing.fakeapi import FakeAccount, FakeUpstream
from monitor.testing.fakeclock import FakeClock
from monitor.testing.fakefeatures import FakePlan
from monitor.testing.receiver import WebhookReceiver
from tests.helpers import API_TOKEN, DAY, HOUR, ConfigWriter, async_eventually
from tests.helpers.inprocess import first_poll, running, scrape
from tests.helpers.statuspage import PageReader, disagreements

CSP = "default-src 'none'; style-src 'unsafe-inline'"
RULES = """
[[accounts]]
match = "*@studio.io"
labels = { team = "studio" }
"""


def accounts(now: float) -> list[FakeAccount]:
    return [
        FakeAccount("ok@studio.io", now + 20 * DAY, max_jobs=8, executing=3),
        FakeAccount("warn@x.io", now + 2 * DAY + 3 * HOUR, max_jobs=2),
        FakeAccount("crit@studio.io", now + 5 * HOUR, max_jobs=4),
        FakeAccount("expired@x.io", now - 3 * HOUR, max_jobs=1),
        FakeAccount("unknown@x.io", None, max_jobs=3),
        FakeAccount("noplan@x.io", now + 9 * DAY, plan=None),
        FakeAccount("lapsed@x.io", now + 8 * DAY, plan=FakePlan(expired_member=1)),
        FakeAccount("soon@x.io", now + 61 + 59, max_jobs=5),  # 59 s left once 61 s went by
    ]


async def plans_read(daemon: Daemon, count: int) -> None:
    async def done() -> bool:
        (source,) = daemon.snapshot.sources
        plans = source.plans
        return len(plans.plans) + len(plans.unknown_plans) >= count and bool(plans.subscription)

    await async_eventually(done, what="every plan and the subscription read")


@pytest.mark.anyio
async def test_the_page_shows_what_its_json_twin_says(configs: ConfigWriter) -> None:
    now = float(int(time.time()))
    clock = FakeClock(now)  # both bodies of one moment: the same time left to the second
    with FakeUpstream(API_TOKEN, accounts(now)) as fake:
        path = configs.for_upstream(fake.base_url, RULES, interval="1m")
        config = load_config(path, env={})
        async with running(Daemon(config, clock=clock)) as daemon:
            await first_poll(daemon)
            clock.advance(61)  # the first round of /features is spread over a poll interval
            await daemon.poll("main")
            await plans_read(daemon, 8)
            page = await scrape(daemon, "/")
            twin = await scrape(daemon, "/api/v1/status")
    assert page.status_code == twin.status_code == 200
    assert twin.headers["content-type"] == "application/json"
    document: dict[str, Any] = twin.json()
    assert disagreements(page.text, document) == []

    (source,) = document["sources"]
    assert [a["account"] for a in source["accounts"]] == [
        "expired@x.io",
        "soon@x.io",
        "crit@studio.io",
        "warn@x.io",
        "unknown@x.io",
        "lapsed@x.io",
        "noplan@x.io",
        "ok@studio.io",
    ]
    assert all(tuple(a) == ACCOUNT_KEYS for a in source["accounts"])
    by_name = {a["account"]: a for a in source["accounts"]}
    assert by_name["ok@studio.io"]["labels"] == {"team": "studio"}
    assert by_name["noplan@x.io"]["plan_error"] == "unknown account"
    assert (source["up"], source["stale"], source["outcome"]) == (True, False, "success")
    assert source["subscription"]["active"] is True
    assert source["totals"]["accounts"] == {
        "ok": 3,
        "warning": 1,
        "critical": 2,
        "expired": 1,
        "unknown": 1,
    }
    assert document["status"] == "critical"
    names = {(a["labels"]["alertname"], a["labels"].get("account")) for a in document["alerts"]}
    assert ("PixverseTokenExpired", "expired@x.io") in names
    studio = next(a for a in document["alerts"] if a["labels"].get("account") == "crit@studio.io")
    assert studio["labels"]["team"] == "studio"

    reader = PageReader(page.text)
    rows = {r["Account"]: r for r in reader.rows("accounts")}
    assert rows["ok@studio.io"]["Labels"] == "team=studio"
    assert rows["ok@studio.io"]["Exec/avail"] == "3/5"
    assert rows["lapsed@x.io"]["Plan ends"].endswith("(lapsed)")
    assert rows["noplan@x.io"]["Plan"] == "unknown account"
    assert rows["warn@x.io"]["Time left"] == "2d 2h"  # a minute of the clock went by
    assert len(reader.rows("alerts")) == len(document["alerts"])
    assert "useapi.net subscription: active, renewed 2025-04-05" in reader.words()


@pytest.mark.anyio
async def test_the_page_needs_the_credentials_of_metrics_and_says_what_it_is(
    fake: FakeUpstream, configs: ConfigWriter, tmp_path: Path
) -> None:
    web = tmp_path / "web.yml"
    hashed = bcrypt.hashpw(b"right", bcrypt.gensalt(4)).decode()
    web.write_text(f"basic_auth_users:\n  prometheus: '{hashed}'\n")
    path = configs.for_upstream(fake.base_url, metrics=f'web_config_file = "{web}"')
    async with running(Daemon(load_config(path, env={}))) as daemon:
        base = f"http://127.0.0.1:{daemon.metrics_port}"
        async with httpx.AsyncClient() as client:
            for target in ("/", "/api/v1/status", "/metrics"):
                refused = await client.get(base + target)
                assert refused.status_code == 401, target
                assert refused.headers["x-content-type-options"] == "nosniff"
                wrong = await client.get(base + target, auth=("prometheus", "wrong"))
                assert wrong.status_code == 401, target
            assert (await client.get(base + "/healthz")).status_code == 200
            page = await client.get(base + "/", auth=("prometheus", "right"))
            twin = await client.get(base + "/api/v1/status", auth=("prometheus", "right"))
            metrics = await client.get(base + "/metrics", auth=("prometheus", "right"))
    assert page.status_code == twin.status_code == metrics.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == CSP
    for response in (page, twin, metrics):
        assert response.headers["x-content-type-options"] == "nosniff"
    assert '<meta http-equiv="refresh" content="60">' in page.text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page.text
    tags = {tag for tag, _ in PageReader(page.text).tags}
    assert not tags & {"script", "link", "img", "iframe", "object", "embed", "form"}
    for tag, attributes in PageReader(page.text).tags:
        assert not any(name.startswith("on") for name in attributes), (tag, attributes)


EXTERNAL = "https://ops.example/pixverse"


@pytest.mark.anyio
async def test_links_and_notifications_point_at_the_external_url(
    configs: ConfigWriter, now: float
) -> None:
    with (
        FakeUpstream(API_TOKEN, [FakeAccount("gone@x.io", now - HOUR)]) as fake,
        WebhookReceiver() as receiver,
    ):
        receiver.respond(503)  # the first attempt fails: the page says so, and why
        sink = f'[[sinks]]\nname = "ops"\nurl = "{receiver.url}/hook"\n'
        path = configs.for_upstream(fake.base_url, sink, metrics=f'external_url = "{EXTERNAL}/"')
        config = load_config(path, env={})
        async with running(Daemon(config, retry_backoff=(0.05, 0.1))) as daemon:
            await async_eventually(
                lambda: _true(receiver.accepted()), timeout=10, what="a notification"
            )

            async def recorded() -> bool:
                twin = (await scrape(daemon, "/api/v1/status")).json()
                (sink,) = twin["notifications"]
                # Two alerts (expired, and expiring soon as critical) of one poll: one
                # notification, retried, then delivered.
                return len(sink["deliveries"]) >= 2

            await async_eventually(recorded, what="three deliveries on the page")
            page = await scrape(daemon, "/")
            twin = (await scrape(daemon, "/api/v1/status")).json()
    for payload in [r.json() for r in receiver.accepted()]:
        assert payload["externalURL"] == EXTERNAL
        assert payload["alerts"][0]["generatorURL"].startswith(EXTERNAL + "/")
    assert twin["external_url"] == EXTERNAL
    reader = PageReader(page.text)
    links = [a.get("href") for tag, a in reader.tags if tag == "a"]
    assert links and all(str(link).startswith(EXTERNAL + "/") for link in links)
    assert f"{EXTERNAL}/api/v1/status" in links
    (sink,) = twin["notifications"]
    assert sink["sink"] == "ops"
    outcomes = [(d["outcome"], d["reason"], d["why"]) for d in sink["deliveries"]]
    assert ("retried", "http_5xx", "HTTP 503") in outcomes
    assert ("delivered", None, None) in outcomes
    # Two alerts of different names: no name in common (null), and counted.
    assert {(d["about"]["alertname"], d["about"]["alerts"]) for d in sink["deliveries"]} == {
        (None, 2)
    }
    assert len(outcomes) == 2
    shown = [(r["Outcome"], r["Why"]) for r in reader.rows("deliveries")]
    assert shown == [(o, f"{r}: {w}" if r else "") for o, r, w in outcomes]


async def _true(value: object) -> bool:
    return bool(value)


OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def documented_example() -> dict[str, Any]:
    """The JSON example of docs/operations.md, "`/api/v1/status`"."""
    text = OPERATIONS.read_text()
    section = text[text.index("### `/api/v1/status`") :]
    start = section.index("```json\n") + len("```json\n")
    return json.loads(section[start : section.index("\n```", start)])


def shape(value: object) -> object:
    """The keys of every object, the first element standing for a list, values left out.
    Maps whose keys are data (a subscription's services, labels) stand as their first value."""
    if isinstance(value, dict):
        if "PixVerse API" in value:
            return {"<service>": shape(value["PixVerse API"])}
        return {key: shape(item) for key, item in value.items() if key != "labels"}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return None


@pytest.mark.anyio
async def test_the_documented_json_has_the_shape_of_the_real_one(
    configs: ConfigWriter, now: float
) -> None:
    accounts = [FakeAccount("sooner@studio.io", now + 2 * DAY)]
    with FakeUpstream(API_TOKEN, accounts) as fake, WebhookReceiver() as receiver:
        receiver.respond(503)
        sink = f'[[sinks]]\nname = "ops"\nurl = "{receiver.url}"\n'
        config = load_config(configs.for_upstream(fake.base_url, RULES + sink), env={})
        async with running(Daemon(config)) as daemon:
            await first_poll(daemon)
            await plans_read(daemon, 1)

            async def delivered() -> object:
                twin = (await scrape(daemon, "/api/v1/status")).json()
                return twin if len(twin["notifications"][0]["deliveries"]) >= 2 else None

            real = await async_eventually(delivered, what="a retried delivery")
    documented = documented_example()
    assert shape(documented) == shape(real)
    # `labels` holds names of the configuration's choosing; what the daemon sets is fixed.
    assert set(real["alerts"][0]["labels"]) == set(documented["alerts"][0]["labels"])
    account = real["sources"][0]["accounts"][0]
    assert account["labels"] == documented["sources"][0]["accounts"][0]["labels"]
