"""What a reload raises by itself, as docs/alerts.md says: a schedule change nothing (see
test_reload.py), but a change of what is judged at once, with no new poll: an account no
longer ignored fires, a new account_label starts every account alert again under its new
label, and new [[accounts]] labels start nothing."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from monitor.config.load import load_config
from monitor.service.daemon import Daemon
from monitor.testing.fakeapi import ACCOUNTS, FakeUpstream
from monitor.testing.fakeclock import FakeClock
from tests.helpers import ConfigWriter, LogCapture, async_eventually
from tests.helpers.daemons import running

BOB = "bob@example.com"  # the shared fake's account within the 72h warning


def write(configs: ConfigWriter, base_url: str, *, metrics: str = "", accounts: str = "") -> Path:
    return configs.write(
        f"""
[[sources]]
name = "main"
base_url = "{base_url}"
token_file = "{configs.token_file}"

[poll]
interval = "1h"
jitter = 0
timeout = "2s"

[metrics]
listen = "127.0.0.1:0"
{metrics}

[alerts]
state_dir = "{configs.dir / "state"}"

{accounts}
"""
    )


def alert_events(logs: LogCapture) -> list[tuple[str, str, str | None, str]]:
    """(event, alertname, account, reason) of every alert logged so far."""
    found: list[dict[str, Any]] = logs.events("alert.firing") + logs.events("alert.resolved")
    return sorted((e["event"], e["alertname"], e["account"], e["reason"]) for e in found)


async def polled_once(daemon: Daemon) -> bool:
    return any(sum(s.polls_total.values()) >= 1 for s in daemon.snapshot.sources)


@pytest.mark.anyio
async def test_an_account_no_longer_ignored_fires_at_once(
    fake: FakeUpstream, configs: ConfigWriter, logs: LogCapture
) -> None:
    ignored = f'[[accounts]]\nmatch = "{BOB}"\nignore = true\n'
    path = write(configs, fake.base_url, accounts=ignored)
    async with running(Daemon(load_config(path, env={}), clock=FakeClock(time.time()))) as daemon:
        await async_eventually(lambda: polled_once(daemon))
        assert alert_events(logs) == []
        write(configs, fake.base_url)
        assert await daemon.reload()
        expected = [("alert.firing", "PixverseTokenExpiringSoon", BOB, "started")]
        assert alert_events(logs) == expected
        assert sum(1 for r in fake.requests if r.path == ACCOUNTS) == 1  # no new poll


@pytest.mark.anyio
async def test_new_policy_labels_start_nothing_a_new_account_label_starts_again(
    fake: FakeUpstream, configs: ConfigWriter, logs: LogCapture
) -> None:
    path = write(configs, fake.base_url)
    async with running(Daemon(load_config(path, env={}), clock=FakeClock(time.time()))) as daemon:
        await async_eventually(lambda: polled_once(daemon))
        started = [("alert.firing", "PixverseTokenExpiringSoon", BOB, "started")]
        assert alert_events(logs) == started
        (before,) = daemon._alerting.firing()
        # A team label: the same alert, now carrying it; nothing notified.
        team = f'[[accounts]]\nmatch = "{BOB}"\nlabels = {{ team = "studio" }}\n'
        write(configs, fake.base_url, accounts=team)
        assert await daemon.reload()
        assert alert_events(logs) == started
        (relabelled,) = logs.events("alert.relabelled")  # for Alertmanager to end the old
        assert relabelled["alertname"] == "PixverseTokenExpiringSoon"
        (after,) = daemon._alerting.firing()
        assert after.alert.fingerprint == before.alert.fingerprint
        assert after.alert.labels["team"] == "studio"
        assert after.starts_at_unix == before.starts_at_unix
        # A new account label is a new identity: resolved under the old, started under the new.
        write(configs, fake.base_url, metrics='account_label = "hash"', accounts=team)
        assert await daemon.reload()
        (hashed,) = daemon._alerting.firing()
        assert hashed.alert.account != BOB
        assert alert_events(logs) == sorted(
            [
                *started,
                ("alert.resolved", "PixverseTokenExpiringSoon", BOB, "resolved"),
                ("alert.firing", "PixverseTokenExpiringSoon", hashed.alert.account, "started"),
            ]
        )
        # Its resolution says what the daemon sees: the old label is gone from the source.
        (resolved,) = logs.events("alert.resolved")
        assert resolved["summary"] == f"PixVerse account {BOB} removed from source main"
        assert sum(1 for r in fake.requests if r.path == ACCOUNTS) == 1  # no new poll
