"""Absence is not removal at once: which accounts a source still knows across the lists it
reads (Presence), and what the poll watch keeps in force when upstream answers 404."""

from __future__ import annotations

from datetime import timedelta

from monitor.clock import Instant
from monitor.config.model import SourceConfig
from monitor.errors import Outcome
from monitor.secret import Secret
from monitor.service.poll_watch import PolledSource
from monitor.service.presence import ABSENCE_GRACE_READS, Presence
from monitor.testing.fakeclock import FakeClock
from monitor.upstream import Account, ExpirySource, ParsedAccounts, PollResult, UpstreamClient

T0 = 1_900_000_000.0


def account(email: str) -> Account:
    return Account(email, "", "", T0 + 86400, ExpirySource.EXPIRE_TIME, 4)


A, B, C = account("a@x.io"), account("b@x.io"), account("c@x.io")


def test_an_account_missing_from_fewer_lists_than_the_grace_is_kept() -> None:
    assert ABSENCE_GRACE_READS == 2
    presence = Presence()
    assert presence.read([A, B, C]) == []
    assert presence.read([A, C]) == []
    assert dict(presence.missing) == {"b@x.io": B}
    assert presence.read([A, B, C]) == []  # back: forgiven
    assert presence.missing == {}
    assert presence.read([A]) == []
    assert set(presence.missing) == {"b@x.io", "c@x.io"}
    assert presence.read([A, C]) == ["b@x.io"]  # missing twice in a row: forgotten
    assert presence.missing == {}
    assert presence.read([A, B, C]) == []  # back as new


def test_a_404_is_a_list_of_none() -> None:
    presence = Presence()
    presence.read([A, B])
    assert presence.read([]) == []
    assert set(presence.missing) == {"a@x.io", "b@x.io"}
    assert sorted(presence.read([])) == ["a@x.io", "b@x.io"]
    assert presence.absences_judged


def source() -> PolledSource:
    """What the poll watch keeps of one source; its client is never used here."""
    config = SourceConfig("main", "http://127.0.0.1:9", Secret("t"), "test", None, None, True)
    clock = FakeClock(T0)
    client = UpstreamClient(
        config, timeout=timedelta(seconds=1), max_response_bytes=1024, clock=clock
    )
    return PolledSource(config, client, since=Instant.of(clock))


def polled(state: PolledSource, outcome: Outcome, *accounts: Account) -> list[str]:
    listed = ParsedAccounts(tuple(accounts), {})
    result = PollResult("main", outcome, listed, None, None, T0, 0.1)
    return state.record(result, 1000.0)


def held(state: PolledSource) -> list[str] | None:
    good = state.last_good
    if good is None or good.accounts is None:
        return None
    return [a.email for a in good.accounts.accounts]


def test_a_404_keeps_the_accounts_listed_before_until_it_has_lasted_the_grace() -> None:
    state = source()
    polled(state, Outcome.SUCCESS, A, B)
    assert polled(state, Outcome.NO_ACCOUNTS) == []
    assert held(state) == ["a@x.io", "b@x.io"]  # still in force: series, states, alerts
    assert state.last is not None and state.last.outcome.up
    assert sorted(polled(state, Outcome.NO_ACCOUNTS)) == ["a@x.io", "b@x.io"]
    assert held(state) == []  # now the source has no accounts


def test_a_404_with_nothing_listed_before_stands_only_once_it_has_lasted_the_grace() -> None:
    state = source()
    polled(state, Outcome.NO_ACCOUNTS)
    assert held(state) is None  # nothing judged yet: alerts from before a restart are kept
    polled(state, Outcome.NO_ACCOUNTS)
    assert held(state) == []
