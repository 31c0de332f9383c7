"""The status page in a real browser: headless Chromium loads it from a daemon (a process on
loopback) polling the fake upstream, with hostile text in emails and plan names. The DOM it
builds shows every account with its state and time left, and the hostile text as text, never
as elements (the page has no script, and its CSP allows none: tests/web/test_statuspage.py).
Nothing on it is wider than a 375 px screen, even an email with no room to break. Screenshots,
desktop and 375 px wide, are kept in test-artifacts/statuspage/ (ignored by git; CI prints the
path)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.testing.fakeapi import FakeAccount, FakeUpstream
from monitor.testing.fakefeatures import FakePlan
from tests.helpers import API_TOKEN, DAY, HOUR, ConfigWriter, eventually
from tests.helpers.browser import ARTIFACTS, DESKTOP, PHONE, Chromium
from tests.helpers.daemonprocess import DaemonProcess
from tests.helpers.statuspage import PageReader, disagreements

pytestmark = pytest.mark.browser

HOSTILE_EMAIL = "x<script>alert(1)</script>@y"
HOSTILE_PLANS = (
    "<img src=x onerror=alert(2)>",
    "</td></tr></table><h1>pwned</h1>",
    "Plan & \"quotes\" 'too'",
)
# No room to break a line in: it must wrap anyway on a phone.
LONG_EMAIL = "an-account-with-a-very-long-local-part-that-never-ends@a-long-domain.example"
# Half past the minute: a second or two between the page and its JSON changes no word.
MID = 30 * 60 + 30


def scenario(now: float) -> list[FakeAccount]:
    return [
        FakeAccount(HOSTILE_EMAIL, now + 5 * HOUR + MID, max_jobs=4),
        FakeAccount("a@plans.io", now + 20 * DAY + MID, plan=FakePlan(name=HOSTILE_PLANS[0])),
        FakeAccount("b@plans.io", now + 2 * DAY + MID, plan=FakePlan(name=HOSTILE_PLANS[1])),
        FakeAccount("c@plans.io", now - 3 * HOUR - MID, plan=FakePlan(name=HOSTILE_PLANS[2])),
        FakeAccount("unknown@x.io", None, max_jobs=2),
        FakeAccount("team@studio.io", now + 9 * DAY + MID, max_jobs=8, executing=5),
        FakeAccount("noplan@x.io", now + 40 * DAY + MID, plan=None),
        FakeAccount(LONG_EMAIL, now + 50 * DAY + MID),
    ]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Any]]]:
    """The page's URL on a running daemon, and its JSON twin once every plan was read."""
    directory = tmp_path_factory.mktemp("browser")
    now = time.time()
    with FakeUpstream(API_TOKEN, scenario(now)) as fake:
        rules = '[[accounts]]\nmatch = "*@studio.io"\nlabels = { team = "<b>studio</b>" }\n'
        config = ConfigWriter(directory).for_upstream(fake.base_url, rules, interval="2s")
        daemon = DaemonProcess(config, directory)
        url = f"http://127.0.0.1:{daemon.port}/"
        try:

            def every_plan_read() -> dict[str, Any] | None:
                document: dict[str, Any] = httpx.get(url + "api/v1/status", timeout=5).json()
                accounts = document["sources"][0]["accounts"]
                known = [a for a in accounts if a["plan"] is not None or a["plan_error"]]
                return document if len(known) == len(accounts) == 8 else None

            # The first round of /features is spread over one poll interval.
            document = eventually(every_plan_read, timeout=30, what="every plan read")
            yield url, document
        finally:
            daemon.stop()


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Chromium:
    return Chromium(tmp_path_factory.mktemp("chromium-profile"))


def test_the_dom_shows_every_account_its_state_and_time_left(
    served: tuple[str, dict[str, Any]], chromium: Chromium
) -> None:
    url, document = served
    dom = chromium.dom(url)
    assert disagreements(dom, document) == []
    rows = {r["Account"]: r for r in PageReader(dom).rows("accounts")}
    assert rows["team@studio.io"]["Labels"] == "team=<b>studio</b>"
    assert rows["team@studio.io"]["Exec/avail"] == "5/3"
    assert rows["noplan@x.io"]["Plan"] == "unknown account"
    assert [r["State"] for r in rows.values()] == [
        "expired",
        "critical",
        "warning",
        "unknown",
        "ok",
        "ok",
        "ok",
        "ok",
    ]


def test_hostile_text_is_text_never_markup(
    served: tuple[str, dict[str, Any]], chromium: Chromium
) -> None:
    url, _ = served
    dom = chromium.dom(url)
    reader = PageReader(dom)
    tags = [tag for tag, _ in reader.tags]
    assert "script" not in tags and "img" not in tags and "b" not in tags
    assert tags.count("h1") == 1  # the page's own
    assert not [a for _, a in reader.tags if any(n.startswith("on") for n in a)]
    rows = {r["Account"]: r for r in reader.rows("accounts")}
    assert rows[HOSTILE_EMAIL]["State"] == "critical"
    plans = {r["Plan"] for r in rows.values()}
    assert set(HOSTILE_PLANS) <= plans
    alerts = PageReader(dom).rows("alerts")
    assert any(r["Account"] == HOSTILE_EMAIL for r in alerts)


def test_nothing_is_wider_than_a_phone(
    served: tuple[str, dict[str, Any]], chromium: Chromium, tmp_path: Path
) -> None:
    url, _ = served
    page = httpx.get(url, timeout=5).text
    assert chromium.too_wide(page, PHONE, tmp_path) == []
    assert chromium.too_wide(page, DESKTOP, tmp_path) == []


@pytest.mark.parametrize(("name", "size"), [("desktop", DESKTOP), ("phone", PHONE)])
def test_a_screenshot_is_kept(
    served: tuple[str, dict[str, Any]],
    chromium: Chromium,
    name: str,
    size: tuple[int, int],
    tmp_path: Path,
) -> None:
    url, _ = served
    path = chromium.screenshot(url, ARTIFACTS / f"{name}-{size[0]}px.png", size, tmp_path)
    data = Path(path).read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == size
    # A blank screen compresses to about 3 KB; the page's text and colours to 50 KB or more.
    assert len(data) > 20_000, f"{path} looks blank"
