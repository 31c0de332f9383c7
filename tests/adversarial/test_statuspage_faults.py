"""The status page under attack: hostile text in every field it shows (emails, plan names,
labels, source and sink names, alert and error texts, the external URL) stays text in the
page and whole in its JSON; 10,000 accounts cut the page at 200 and leave the JSON complete;
a burst of concurrent loads costs one render per snapshot and second."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import orjson
import pytest

from monitor.alerts import DeliveryRecord, FiringAlert, Subject
from monitor.alerts.alert import Alert, AlertName
from monitor.alerts.recent import short_why
from monitor.config import AccountLabel, AccountRule, Policy, Severity, Thresholds
from monitor.config.load import load_config
from monitor.errors import DeliveryFailure, DeliveryOutcome, Outcome
from monitor.evaluate import evaluate
from monitor.exposition import InternalMetrics, MetricsRenderer
from monitor.snapshot import Criteria, PlanSnapshot, Snapshot, SourceSnapshot
from monitor.testing.fakeapi import FakeAccount, FakeUpstream
from monitor.testing.fakeclock import FakeClock
from monitor.testing.fakefeatures import FakePlan
from monitor.upstream import Plan
from monitor.upstream.parse import Account, ExpirySource
from monitor.web import Endpoints, HttpServer
from monitor.web.statuspage import (
    MAX_ROWS,
    PageFacts,
    PageInputs,
    PageRenderer,
    build_view,
    status_document,
)
from tests.helpers import API_TOKEN, DAY, HOUR, ConfigWriter
from tests.helpers.inprocess import driven, scrape
from tests.helpers.statuspage import PageReader, disagreements

NOW = 1_800_000_000.0
HOSTILE = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "</td></tr></table><h1>forged</h1>",
    "</style><style>body{display:none}</style>",
    "{{ 7*7 }}{% raw %}",
    "&lt;b&gt;already escaped&lt;/b&gt;",
    "<!-- open comment",
    "\u202eevil\u202c right-to-left",
)
# The elements the template writes; hostile text must add none.
TEMPLATE_TAGS = {
    "html",
    "head",
    "meta",
    "title",
    "style",
    "body",
    "header",
    "h1",
    "h2",
    "h3",
    "p",
    "div",
    "section",
    "span",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "a",
    "footer",
}


def forged_elements(html: str) -> list[str]:
    """Elements and attributes the template never writes, and a second h1."""
    reader = PageReader(html)
    tags = [tag for tag, _ in reader.tags]
    wrong = [tag for tag in tags if tag not in TEMPLATE_TAGS]
    if tags.count("h1") != 1 or tags.count("style") != 1:
        wrong.append(f"{tags.count('h1')} h1, {tags.count('style')} style")
    allowed = {"charset", "name", "content", "http-equiv", "lang", "class", "data-label", "scope"}
    for tag, attributes in reader.tags:
        wrong += [f"{tag}[{name}]" for name in attributes if name not in allowed | {"href"}]
    return wrong


def hostile_snapshot() -> tuple[Snapshot, PageInputs]:
    rules = tuple(AccountRule(f"{i}-*", labels=(("team", text),)) for i, text in enumerate(HOSTILE))
    thresholds = Thresholds(timedelta(hours=72), timedelta(hours=24), 0)
    policy = Policy(rules, thresholds)
    accounts = [
        Account(f"{i}-{text}@x.io", text, text, NOW + (i - 2) * DAY, ExpirySource.EXPIRE_TIME, 4)
        for i, text in enumerate(HOSTILE)
    ]
    plans = {a.email: Plan(HOSTILE[i], {}, NOW + DAY, 2, False) for i, a in enumerate(accounts)}
    sources = tuple(
        SourceSnapshot(
            name,
            evaluate(accounts, None, thresholds, AccountLabel.EMAIL, NOW, policy=policy),
            True,
            Outcome.SUCCESS,
            NOW - 5,
            0.1,
            plans=PlanSnapshot(plans=plans),
        )
        for name in HOSTILE[:2]
    )
    alerts = [
        FiringAlert(
            Alert(AlertName.EXPIRED, Severity.CRITICAL, HOSTILE[0], text, text, text, {}),
            NOW - HOUR,
            NOW,
            Severity.CRITICAL,
        )
        for text in HOSTILE
    ]
    subject = Subject("firing", "PixverseTokenExpired", "critical", HOSTILE[1], HOSTILE[2])
    deliveries = {
        sink: tuple(
            DeliveryRecord(
                NOW - 10,
                sink,
                subject,
                DeliveryOutcome.DROPPED,
                DeliveryFailure.HTTP_4XX,
                short_why(text),
            )
            for text in HOSTILE
        )
        for sink in HOSTILE
    }
    facts = PageFacts("1.0", 'https://ops.example/"><script>x</script>', HOSTILE, "email")
    return Snapshot(sources, NOW, Criteria(0, 900.0)), PageInputs(alerts, deliveries, facts)


def test_hostile_text_in_every_field_stays_text() -> None:
    snapshot, inputs = hostile_snapshot()
    view = build_view(snapshot, inputs, NOW)
    html = PageRenderer().render(view).decode()
    document = orjson.loads(status_document(view, NOW))
    assert forged_elements(html) == []
    assert "49" not in html  # nothing is evaluated as a template
    assert "&amp;lt;b&amp;gt;" in html  # escaped once more, shown as written
    words = PageReader(html).words()
    for text in HOSTILE:
        assert " ".join(text.split()) in words, text
    assert disagreements(html, document) == []
    # The JSON keeps every value whole.
    names = [s["name"] for s in document["sources"]]
    assert names == list(HOSTILE[:2])
    labels = {a["account"]: a["labels"]["team"] for a in document["sources"][0]["accounts"]}
    assert sorted(labels.values()) == sorted(HOSTILE)
    plans = {a["plan"] for a in document["sources"][0]["accounts"]}
    assert plans == set(HOSTILE)
    assert [n["sink"] for n in document["notifications"]] == list(HOSTILE)
    assert {a["summary"] for a in document["alerts"]} == set(HOSTILE)
    links = [a["href"] for tag, a in PageReader(html).tags if tag == "a"]
    assert all(str(link).startswith('https://ops.example/"><script>x</script>/') for link in links)


@pytest.mark.anyio
async def test_a_daemon_shows_hostile_names_from_upstream_and_config_as_text(
    configs: ConfigWriter, now: float
) -> None:
    email, plan, label = HOSTILE[0] + "@y", HOSTILE[2], HOSTILE[1]
    accounts = [FakeAccount(email, now + HOUR, plan=FakePlan(name=plan))]
    source_name, sink_name = HOSTILE[3], HOSTILE[4]
    with FakeUpstream(API_TOKEN, accounts) as fake:
        text = f"""
[[sources]]
name = {orjson.dumps(source_name).decode()}
base_url = "{fake.base_url}"
token_file = "{configs.token_file}"

[poll]
interval = "1h"
jitter = 0

[metrics]
listen = "127.0.0.1:0"

[alerts]
state_dir = "{configs.dir / "state"}"

[[sinks]]
name = {orjson.dumps(sink_name).decode()}
url = "http://127.0.0.1:1/hook"

[[accounts]]
match = "*@y"
labels = {{ team = {orjson.dumps(label).decode()} }}
"""
        config = load_config(configs.write(text), env={})
        async with driven(config) as (daemon, _):
            page = (await scrape(daemon, "/")).text
            document = (await scrape(daemon, "/api/v1/status")).json()
    assert forged_elements(page) == []
    (source,) = document["sources"]
    assert source["name"] == source_name
    (account,) = source["accounts"]
    assert (account["account"], account["labels"]) == (email, {"team": label})
    assert document["notifications"][0]["sink"] == sink_name
    words = PageReader(page).words()
    for shown in (email, source_name, sink_name, f"team={label}"):
        assert shown in words, shown


def many_accounts(count: int) -> Snapshot:
    thresholds = Thresholds(timedelta(hours=72), timedelta(hours=24), 0)
    accounts = [
        Account(
            f"u{i:05d}@x.io",
            "",
            "",
            NOW + (i % 300 - 20) * HOUR,
            ExpirySource.EXPIRE_TIME,
            1 + i % 8,
        )
        for i in range(count)
    ]
    evaluation = evaluate(accounts, None, thresholds, AccountLabel.EMAIL, NOW)
    source = SourceSnapshot("main", evaluation, True, Outcome.SUCCESS, NOW - 5, 0.5)
    return Snapshot((source,), NOW, Criteria(0, 900.0))


def test_ten_thousand_accounts_cut_the_page_not_the_json() -> None:
    snapshot = many_accounts(10_000)
    inputs = PageInputs((), {}, PageFacts("1.0", ""))
    view = build_view(snapshot, inputs, NOW)
    html = PageRenderer().render(view)
    document = orjson.loads(status_document(view, NOW))
    rows = PageReader(html.decode()).rows("accounts")
    assert len(rows) == MAX_ROWS
    assert "and 9,800 more, less urgent" in PageReader(html.decode()).words()
    # What a page costs is bounded by the cut, whatever the number of accounts.
    assert len(html) < 200 * 1024
    (source,) = document["sources"]
    assert len(source["accounts"]) == 10_000
    assert len({a["account"] for a in source["accounts"]}) == 10_000
    # The 200 shown are the 200 most urgent of the JSON's order.
    assert [r["Account"] for r in rows] == [a["account"] for a in source["accounts"][:MAX_ROWS]]
    assert {r["State"] for r in rows} == {"expired"}  # 700 are: the 200 expired longest


async def load(port: int, path: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.get(f"http://127.0.0.1:{port}{path}")


@pytest.mark.anyio
async def test_a_burst_of_page_loads_costs_one_render_per_snapshot_and_second() -> None:
    clock = FakeClock(NOW + 0.25)
    snapshot = many_accounts(300)
    renderer = MetricsRenderer(InternalMetrics())
    endpoints = Endpoints(lambda: snapshot, lambda: 900.0, renderer, clock)
    server = HttpServer(endpoints.handle, "127.0.0.1", 0)
    await server.start()
    try:
        bodies = endpoints.bodies
        paths = ["/", "/api/v1/status", "/metrics"] * 40
        answers = await asyncio.gather(*(load(server.port, p) for p in paths))
        renders = {path: body.renders for path, body in bodies.items()}
        clock.advance(1.0)  # the next second: a new body each
        await load(server.port, "/")
        again = bodies["/"].renders
    finally:
        await server.close()
    assert all(a.status_code == 200 for a in answers)
    assert renders == {"/": 1, "/api/v1/status": 1, "/metrics": 1}
    pages = {a.content for a, p in zip(answers, paths, strict=True) if p == "/"}
    assert len(pages) == 1  # every load of the second got the one body
    assert again == 2
