"""Routing by label without an Alertmanager: sinks with `matchers` on the `[[accounts]]`
labels get only their team's alerts, firing and resolved; a sink without matchers gets all."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from monitor.service.daemon import Daemon
from monitor.testing.fakeapi import FakeAccount, FakeUpstream
from monitor.testing.receiver import WebhookReceiver
from tests.helpers import DAY, HOUR, ConfigWriter, async_eventually
from tests.helpers.inprocess import running


@pytest.fixture
def receivers() -> Iterator[dict[str, WebhookReceiver]]:
    made = {name: WebhookReceiver().start() for name in ("studio", "ops", "all")}
    try:
        yield made
    finally:
        for receiver in made.values():
            receiver.stop()


def alerts_of(receiver: WebhookReceiver) -> set[tuple[str, str, str]]:
    return {
        (a["status"], a["labels"]["alertname"], a["labels"].get("account", ""))
        for a in receiver.alerts()
    }


@pytest.mark.anyio
async def test_two_sinks_with_team_matchers_each_get_their_team(
    fake: FakeUpstream,
    configs: ConfigWriter,
    receivers: dict[str, WebhookReceiver],
    now: float,
) -> None:
    fake.set_accounts(
        [
            FakeAccount("ana@studio.example", now - HOUR),  # expired: two alerts
            FakeAccount("bo@ops.example", now + 2 * DAY),  # warning
            FakeAccount("cy@ops.example", None),  # expiry unknown
            FakeAccount("dee@elsewhere.example", now + 5 * HOUR),  # critical, no team
        ]
    )
    sinks = f"""
[[sinks]]
name = "studio"
url = "{receivers["studio"].url}/hook"
matchers = ['team="studio"']

[[sinks]]
name = "ops"
url = "{receivers["ops"].url}/hook"
matchers = ['team = ops', 'alertname=~"PixverseTokenExpir(ingSoon|ed)"']

[[sinks]]
name = "all"
url = "{receivers["all"].url}/hook"

[[accounts]]
match = "*@studio.example"
labels = {{ team = "studio" }}

[[accounts]]
match = "*@ops.example"
labels = {{ team = "ops" }}
"""
    config = configs.load(fake.base_url, sinks)

    async def settled(expected: int) -> bool:
        return len(receivers["all"].alerts()) >= expected

    async with running(Daemon(config)) as daemon:
        await async_eventually(lambda: settled(5), what="every alert at the sink without matchers")
        fake.update("ana@studio.example", expires_at=now + 30 * DAY)  # renewed
        await daemon.poll("main")
        await async_eventually(lambda: settled(7), what="the two resolutions")

    assert alerts_of(receivers["studio"]) == {
        ("firing", "PixverseTokenExpired", "ana@studio.example"),
        ("firing", "PixverseTokenExpiringSoon", "ana@studio.example"),
        ("resolved", "PixverseTokenExpired", "ana@studio.example"),
        ("resolved", "PixverseTokenExpiringSoon", "ana@studio.example"),
    }
    # Both matchers must hold: cy@ops.example's PixverseTokenExpiryUnknown is not for it.
    assert alerts_of(receivers["ops"]) == {
        ("firing", "PixverseTokenExpiringSoon", "bo@ops.example")
    }
    assert len(alerts_of(receivers["all"])) == 7
    teams = {a["labels"].get("team") for a in receivers["studio"].alerts()}
    assert teams == {"studio"}
