"""The alert engine on a fake clock: what fires, when notifications are due, what resolves."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from monitor.alerts import token_texts
from monitor.alerts.engine import (
    AlertEvent,
    AlertName,
    AlertStatus,
    EngineSettings,
    Reason,
    conditions,
    fingerprint,
    next_wake,
    step,
)
from monitor.config.model import Severity
from monitor.errors import Outcome
from monitor.evaluate import next_crossing
from monitor.snapshot import Criteria, Snapshot
from monitor.timefmt import iso_utc
from monitor.upstream.parse import Account, ExpirySource
from tests.helpers.world import SETTINGS, START, THRESHOLDS, H, World


def account(email: str, expiry: float | None, max_jobs: int = 4) -> Account:
    source = ExpirySource.NONE if expiry is None else ExpirySource.EXPIRE_TIME
    return Account(email, "", "", expiry, source, max_jobs)


def summary(events: list[AlertEvent]) -> list[tuple[str, str, str, str, str]]:
    return [
        (
            e.status.value,
            e.reason.value,
            e.alert.name.value,
            e.alert.severity.value,
            e.alert.account,
        )
        for e in events
    ]


def test_a_token_walks_from_ok_to_expired_and_back() -> None:
    world = World([account("a@x", START + 100 * H)])
    assert world.step() == []
    world.clock.set(START + 100 * H - 72 * H)  # warning threshold
    assert summary(world.step()) == [
        ("firing", "started", "PixverseTokenExpiringSoon", "warning", "a@x")
    ]
    assert world.step() == []  # nothing new: no notification
    world.clock.set(START + 100 * H - 24 * H)  # critical threshold
    assert summary(world.step()) == [
        ("firing", "severity_changed", "PixverseTokenExpiringSoon", "critical", "a@x")
    ]
    world.clock.set(START + 100 * H)  # expiry, 24 h after the last notification
    assert summary(world.step()) == [
        ("firing", "repeat", "PixverseTokenExpiringSoon", "critical", "a@x"),
        ("firing", "started", "PixverseTokenExpired", "critical", "a@x"),
    ]
    # ExpiringSoon resolves only when the token is renewed or removed (docs/alerts.md).
    assert world.firing() == {
        ("PixverseTokenExpiringSoon", "a@x"): Severity.CRITICAL,
        ("PixverseTokenExpired", "a@x"): Severity.CRITICAL,
    }
    world.accounts = [account("a@x", START + 400 * H)]  # renewed
    events = world.step()
    assert sorted(summary(events)) == [
        ("resolved", "resolved", "PixverseTokenExpired", "critical", "a@x"),
        ("resolved", "resolved", "PixverseTokenExpiringSoon", "critical", "a@x"),
    ]
    assert all(e.ends_at_unix == world.clock.time() for e in events)
    assert world.book == {}


def test_removal_resolves_every_alert_of_the_account() -> None:
    world = World([account("a@x", START - H), account("b@x", None)])
    assert {e.alert.name for e in world.step()} == {
        AlertName.EXPIRED,
        AlertName.EXPIRING_SOON,
        AlertName.EXPIRY_UNKNOWN,
    }
    world.accounts = []
    events = world.step()
    assert sorted(summary(events)) == [
        ("resolved", "resolved", "PixverseTokenExpired", "critical", "a@x"),
        ("resolved", "resolved", "PixverseTokenExpiringSoon", "critical", "a@x"),
        ("resolved", "resolved", "PixverseTokenExpiryUnknown", "warning", "b@x"),
    ]
    assert {e.alert.summary for e in events} == {
        "PixVerse account a@x removed from source main",
        "PixVerse account b@x removed from source main",
    }


def test_an_account_first_seen_expired_is_also_expiring_soon() -> None:
    """Stateless, as the Prometheus rules are: ExpiringSoon holds from the warning threshold
    until renewal, whether or not this monitor saw the warning and critical phases."""
    world = World([account("a@x", START - H)])
    assert sorted(summary(world.step())) == [
        ("firing", "started", "PixverseTokenExpired", "critical", "a@x"),
        ("firing", "started", "PixverseTokenExpiringSoon", "critical", "a@x"),
    ]


def test_expiring_soon_keeps_its_severity_through_unknown_expiry() -> None:
    world = World([account("a@x", START + 48 * H)])
    world.step()
    world.accounts = [account("a@x", None)]
    assert summary(world.step()) == [
        ("firing", "started", "PixverseTokenExpiryUnknown", "warning", "a@x")
    ]
    assert world.firing()[("PixverseTokenExpiringSoon", "a@x")] is Severity.WARNING
    # Never firing before: unknown expiry alone raises no ExpiringSoon.
    fresh = World([account("b@x", None)])
    assert summary(fresh.step()) == [
        ("firing", "started", "PixverseTokenExpiryUnknown", "warning", "b@x")
    ]


def test_unknown_expiry_fires_and_resolves_when_known_again() -> None:
    world = World([account("a@x", None)])
    assert summary(world.step()) == [
        ("firing", "started", "PixverseTokenExpiryUnknown", "warning", "a@x")
    ]
    world.accounts = [account("a@x", START + 500 * H)]
    assert summary(world.step()) == [
        ("resolved", "resolved", "PixverseTokenExpiryUnknown", "warning", "a@x")
    ]


def test_repeat_interval() -> None:
    world = World([account("a@x", START + 60 * H)])  # warning for the next 36 h
    (first,) = world.step()
    world.clock.advance(4 * H - 1)
    assert world.step() == []
    world.clock.advance(1)
    (repeat,) = world.step()
    assert (repeat.status, repeat.reason) == (AlertStatus.FIRING, Reason.REPEAT)
    assert repeat.starts_at_unix == first.starts_at_unix == START
    assert repeat.id != first.id
    world.clock.advance(4 * H - 1)
    assert world.step() == []


def test_capacity_low() -> None:
    settings = EngineSettings(Criteria(5, 900), 4 * H)
    world = World([account("a@x", START + 500 * H, max_jobs=4)], settings=settings)
    (event,) = world.step()
    assert (event.alert.name, event.alert.account, event.alert.severity) == (
        AlertName.CAPACITY_LOW,
        "",
        Severity.WARNING,
    )
    assert event.alert.labels == {
        "alertname": "PixverseCapacityLow",
        "severity": "warning",
        "source": "main",
    }
    world.accounts.append(account("b@x", START + 500 * H, max_jobs=1))
    assert summary(world.step()) == [("resolved", "resolved", "PixverseCapacityLow", "warning", "")]


def test_source_down_at_once_when_unauthorized_and_after_stale_after_otherwise() -> None:
    world = World([account("a@x", START + 500 * H)])
    world.step()
    world.outcome = Outcome.UNAUTHORIZED
    assert summary(world.step()) == [("firing", "started", "PixverseSourceDown", "critical", "")]
    world.outcome = Outcome.SUCCESS
    assert summary(world.step()) == [("resolved", "resolved", "PixverseSourceDown", "critical", "")]
    world.outcome = Outcome.TIMEOUT
    world.clock.advance(899)
    assert world.step() == []  # failing, but not stale yet
    world.clock.advance(1)
    assert summary(world.step()) == [("firing", "started", "PixverseSourceDown", "critical", "")]


def test_a_restart_neither_resolves_nor_repeats_what_it_has_not_checked() -> None:
    world = World([account("a@x", START - H)])
    world.outcome = Outcome.UNAUTHORIZED
    world.step()
    assert set(world.firing()) == {
        ("PixverseTokenExpired", "a@x"),
        ("PixverseTokenExpiringSoon", "a@x"),
        ("PixverseSourceDown", ""),
    }
    firing = {
        ("PixverseTokenExpired", "a@x"),
        ("PixverseTokenExpiringSoon", "a@x"),
        ("PixverseSourceDown", ""),
    }
    # A new run: the book comes from disk, no poll has ended yet, there is no data.
    world.has_data, world.outcome, world.last_success = False, None, None
    world.clock.advance(60)
    assert world.step() == []
    assert set(world.firing()) == firing
    # Its first poll: still expired (no new notification), the source is back (resolved).
    world.has_data, world.outcome = True, Outcome.SUCCESS
    assert summary(world.step()) == [("resolved", "resolved", "PixverseSourceDown", "critical", "")]


def test_a_source_removed_from_the_config_resolves_its_alerts() -> None:
    world = World([account("a@x", START - H)])
    world.step()
    world.sources = []
    events = world.step()
    assert sorted(summary(events)) == [
        ("resolved", "resolved", "PixverseTokenExpired", "critical", "a@x"),
        ("resolved", "resolved", "PixverseTokenExpiringSoon", "critical", "a@x"),
    ]
    assert {e.alert.summary for e in events} == {"Source main is no longer watched"}


def test_fingerprint_is_alertname_source_account() -> None:
    a = fingerprint(AlertName.EXPIRED, "main", "a@x")
    assert a == fingerprint(AlertName.EXPIRED, "main", "a@x")
    assert (
        len(
            {
                a,
                fingerprint(AlertName.EXPIRED, "main", "b@x"),
                fingerprint(AlertName.EXPIRED, "other", "a@x"),
                fingerprint(AlertName.EXPIRING_SOON, "main", "a@x"),
            }
        )
        == 4
    )
    assert len(a) == 16


def test_peak_severity_is_kept_for_resolution_routing() -> None:
    world = World([account("a@x", START + 10 * H)])  # critical
    world.step()
    world.accounts = [account("a@x", START + 50 * H)]  # warning again: downgraded
    (down,) = world.step()
    assert down.reason is Reason.SEVERITY_CHANGED
    assert down.alert.severity is Severity.WARNING
    assert down.peak_severity is Severity.CRITICAL


@pytest.mark.parametrize("offset", [72 * H, 24 * H, 0.0])
def test_crossings_are_notified_on_time(offset: float) -> None:
    """Simulates the daemon: after each evaluation it wakes at next_wake(); a crossing must
    be notified at the crossing itself, whatever the poll interval (an hour here)."""
    expiry = START + 100 * H
    world = World([account("a@x", expiry)])
    crossing_at = expiry - offset
    poll_interval = H
    next_poll = START
    notified_at = None
    while notified_at is None and world.clock.time() < expiry + H:
        now = world.clock.time()
        if now >= next_poll:
            next_poll += poll_interval
        events = [e for e in world.step() if abs(e.at_unix - crossing_at) < 2 * H]
        if any(e.at_unix >= crossing_at for e in events):
            notified_at = now
            break
        snapshot = world.snapshot()
        crossing = next_crossing(world.accounts, THRESHOLDS, now)
        wake = next_wake(snapshot, world.book, SETTINGS, crossing, now)
        world.clock.set(min(w for w in (wake, next_poll) if w is not None))
    assert notified_at is not None
    assert 0 <= notified_at - crossing_at < 1.0


def test_next_wake_covers_repeats_and_staleness() -> None:
    world = World([account("a@x", START + 10 * H)])
    world.step()
    world.outcome = Outcome.TIMEOUT  # no more successful polls
    snapshot = world.snapshot()
    # No crossing given: the repeat (4h) vs the source going stale (15 min after success).
    assert next_wake(snapshot, world.book, SETTINGS, None, START) == START + 900
    world.last_success = START + 4 * H
    snapshot = world.snapshot()
    assert next_wake(snapshot, world.book, SETTINGS, None, START + 1) == START + 4 * H


@pytest.mark.parametrize("last_success_mono", [1001.0067910170001, 5.5, 123456.789])
def test_a_source_a_rounding_short_of_stale_still_wakes_the_engine(
    last_success_mono: float,
) -> None:
    """A timer that fires at the very moment a source goes stale may find it a rounding short
    of it on the monotonic clock. The engine must then wake again soon (not only at the next
    poll, an hour away), and find it stale by then."""
    world = World([account("a@x", START + 100 * H)])
    world.step()
    world.outcome = Outcome.TIMEOUT
    stale_after = SETTINGS.criteria.stale_after_seconds
    short = math.nextafter(last_success_mono + stale_after, 0.0)  # the float before stale
    (source,) = world.snapshot().sources
    source = replace(source, last_success_mono=last_success_mono, monitored_since_mono=0.0)
    now = START + H
    snapshot = Snapshot((source,), now, world.snapshot().criteria, taken_at_mono=short)
    assert conditions(snapshot, world.book, SETTINGS, now).active == ()  # not stale yet
    wake = next_wake(snapshot, world.book, SETTINGS, None, now)
    assert wake is not None
    assert 0 < wake - now <= 0.001
    later = replace(snapshot, taken_at_mono=short + (wake - now))
    assert [a.name for a in conditions(later, world.book, SETTINGS, wake).active] == [
        AlertName.SOURCE_DOWN
    ]


def test_a_resolution_says_what_happened() -> None:
    """Not "expires now" or "has expired" for a token that was just renewed."""
    world = World([account("a@x", START + 100 * H)])
    world.clock.set(START + 100 * H + 60)  # expired a minute ago
    firing = {e.alert.name: e.alert for e in world.step()}
    assert firing[AlertName.EXPIRING_SOON].summary == "PixVerse token of a@x expired 1m 0s ago"
    assert firing[AlertName.EXPIRED].summary == "PixVerse token of a@x expired 1m 0s ago"
    renewed_until = START + 100 * H + 30 * 24 * H
    world.accounts = [account("a@x", renewed_until)]
    resolved = world.step()
    assert {e.status for e in resolved} == {AlertStatus.RESOLVED}
    for event in resolved:
        alert = event.alert
        assert alert.summary == f"PixVerse token of a@x renewed until {iso_utc(renewed_until)}"
        assert "expires now" not in alert.description and "expired" not in alert.description
        assert alert.annotations["expires_at"] == iso_utc(renewed_until)
        assert alert.annotations["ttl_seconds"] == str(round(renewed_until - world.clock.time()))
        assert alert.labels["severity"] == "critical"  # the labels of what it resolves


def test_other_resolutions_say_what_happened() -> None:
    settings = EngineSettings(Criteria(5, 900), 4 * H)
    world = World(
        [account("a@x", None, max_jobs=4), account("b@x", START + 48 * H)], settings=settings
    )
    world.step()
    world.accounts = [account("a@x", START + 500 * H, max_jobs=8), account("b@x", START + 48 * H)]
    by_name = {e.alert.name: e.alert.summary for e in world.step()}
    assert by_name == {
        AlertName.EXPIRY_UNKNOWN: "Expiry of the PixVerse token of a@x is known again: "
        + iso_utc(START + 500 * H),
        AlertName.CAPACITY_LOW: "Usable PixVerse capacity of main is back to 12 job(s)",
    }
    world.outcome = Outcome.UNAUTHORIZED
    (down,) = world.step()
    assert down.alert.summary == "useapi.net rejects the API token of source main (unauthorized)"
    world.outcome = Outcome.SUCCESS
    (up,) = world.step()
    assert up.alert.summary == "useapi.net is read again for source main"
    # A threshold change (not a renewal) ends ExpiringSoon of b@x: it says so.
    soon = fingerprint(AlertName.EXPIRING_SOON, "main", "b@x")
    assert soon in world.book
    world.accounts = [account("b@x", START + 48 * H)]
    world.book = {key: firing for key, firing in world.book.items() if key == soon}
    world.clock.set(START)
    held = conditions(world.snapshot(), world.book, world.settings, START)
    held = held._replace(active=())  # as if thresholds.warning had become 24h
    _, events = step(world.book, held, START, world.settings.repeat_interval_seconds)
    (ended,) = events
    assert ended.alert.summary.startswith("PixVerse token of b@x no longer expiring soon")


def test_a_stuck_poller_is_not_called_a_failed_read() -> None:
    world = World([account("a@x", START + 500 * H)])
    world.step()
    world.outcome = None  # polls stopped ending
    world.last_success = START
    world.clock.advance(900)
    held = conditions(world.snapshot(), world.book, world.settings, world.clock.time())
    (alert,) = held.active
    assert alert.summary == "No poll of source main has read useapi.net for 15m 0s"


def test_an_account_missing_for_less_than_the_grace_keeps_its_alerts() -> None:
    world = World([account("a@x", START + 10 * H), account("b@x", START + 500 * H)])
    assert summary(world.step()) == [
        ("firing", "started", "PixverseTokenExpiringSoon", "critical", "a@x")
    ]
    world.accounts = [account("b@x", START + 500 * H)]
    world.missing = frozenset({"a@x"})
    assert world.step() == []  # kept as it was: no resolution, no repeat
    assert world.firing() == {("PixverseTokenExpiringSoon", "a@x"): Severity.CRITICAL}
    world.missing = frozenset()  # missing for the grace: removed
    (ended,) = world.step()
    assert (ended.status, ended.alert.account) == (AlertStatus.RESOLVED, "a@x")
    assert ended.alert.summary == token_texts.removed("a@x", "main")[0]


def test_one_clock_skew_warning_while_the_clocks_disagree_by_more_than_the_limit() -> None:
    world = World([account("a@x", START + 500 * H)])
    world.skew = -300.0  # at the limit: fine
    assert world.step() == []
    world.skew = 30 * 24 * H
    (skewed,) = world.step()
    assert (skewed.status, skewed.alert.name, skewed.alert.severity) == (
        AlertStatus.FIRING,
        AlertName.CLOCK_SKEW,
        Severity.WARNING,
    )
    assert skewed.alert.summary == (
        "The clock of pixverse-monitor is 30d 0h ahead of useapi.net's (source main)"
    )
    assert skewed.alert.annotations["skew_seconds"] == str(30 * 24 * 3600)
    world.skew = None  # no check since (a restart, say): kept as it was
    assert world.step() == []
    world.skew = 2.0
    (agreed,) = world.step()
    assert agreed.status is AlertStatus.RESOLVED
    assert agreed.alert.summary.startswith("The clock of pixverse-monitor agrees")
