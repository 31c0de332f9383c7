"""Each account's lines are reused from the last snapshot rendered only when they would be
written the same: /metrics is byte for byte what a renderer that kept nothing writes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.config import AccountSettings
from monitor.errors import Outcome
from monitor.evaluate import STATES, AccountStatus, Evaluation, SourceTotals
from monitor.exposition import MetricsRenderer
from monitor.snapshot import PlanSnapshot, Snapshot, SourceSnapshot
from monitor.upstream import CreditKind, Plan
from monitor.upstream.parse import Account, ExpirySource

NOW = 1_800_000_000.0
EMAILS = ("a@x.io", "b@x.io", 'c"\\@x.io', "d@x.io")

# Values that are equal but written differently (1 == 1.0 == True, 0.0 == -0.0) are drawn
# on purpose: a cache keyed by equality alone would show the other one's text.
numbers = st.sampled_from([None, 0.0, -0.0, 1, 1.0, NOW, NOW + 0.5, float("inf")])
ints = st.sampled_from([0, 1, True, False, 8])
names = st.sampled_from(["", "neo", "tri\nnity", 'q"x'])


@st.composite
def accounts(draw: st.DrawFn, email: str) -> Account:
    expiry = draw(numbers)
    return Account(
        email,
        draw(names),
        draw(names),
        expiry,
        draw(st.sampled_from(ExpirySource)),
        draw(ints),
    )


account_settings = st.builds(
    AccountSettings,
    st.just(False),
    st.just(3600.0),
    st.just(60.0),
    numbers.filter(lambda n: n is not None),
    ints,
    st.sampled_from([(), (("team", "a"),), (("team", "b"),)]),
    st.none(),
)
plans = st.none() | st.builds(
    Plan,
    st.none() | names,
    st.dictionaries(st.sampled_from(CreditKind), numbers.filter(lambda n: n is not None)),
    numbers,
    st.none() | ints,
    st.none() | st.booleans(),
)


@st.composite
def sources(draw: st.DrawFn, name: str) -> tuple[list[AccountStatus], dict[str, Plan]]:
    statuses = []
    chosen = draw(st.lists(st.sampled_from(EMAILS), unique=True))
    for email in chosen:
        statuses.append(
            AccountStatus(
                draw(accounts(email)),
                email,
                draw(st.sampled_from(STATES)),
                draw(st.none() | ints),
                draw(ints),
                draw(account_settings),
            )
        )
    found = {email: plan for email in chosen if (plan := draw(plans)) is not None}
    return statuses, found


def snapshot(
    source_statuses: dict[str, tuple[list[AccountStatus], dict[str, Plan]]],
    refreshes: dict[str, int],
) -> Snapshot:
    totals = SourceTotals(dict.fromkeys(STATES, 0), dict.fromkeys(STATES, 0), 0, None)
    return Snapshot(
        tuple(
            SourceSnapshot(
                name,
                Evaluation(tuple(statuses), totals, NOW),
                True,
                Outcome.SUCCESS,
                NOW,
                0.5,
                plans=PlanSnapshot(plans=found, refreshes=refreshes),
            )
            for name, (statuses, found) in source_statuses.items()
        ),
        NOW,
    )


def mixed(
    draw: st.DrawFn, old: list[AccountStatus], new: list[AccountStatus]
) -> list[AccountStatus]:
    """Each account as it was (the same objects), equal but rebuilt, or drawn anew."""
    by_email = {status.account.email: status for status in old}
    out = []
    for drawn in new:
        was = by_email.get(drawn.account.email)
        how = "new" if was is None else draw(st.sampled_from(["same", "rebuilt", "new"]))
        if was is None or how == "new":
            out.append(drawn)
        elif how == "same":
            out.append(was)
        else:
            out.append(AccountStatus(Account(*was.account), *was[1:5], AccountSettings(*was[5])))
    return out


@st.composite
def two_snapshots(draw: st.DrawFn) -> tuple[Snapshot, Snapshot]:
    names = draw(st.lists(st.sampled_from(["s1", "s2", 's"3']), min_size=1, unique=True))
    first = {name: draw(sources(name)) for name in names}
    second_names = draw(st.lists(st.sampled_from(["s1", "s2", 's"3']), min_size=1, unique=True))
    second = {}
    for name in second_names:
        statuses, found = draw(sources(name))
        old_statuses, old_plans = first.get(name, ([], {}))
        if draw(st.booleans()):
            found = {**found, **old_plans}  # the same Plan objects as before
        second[name] = (mixed(draw, old_statuses, statuses), found)
    refresh_counts = st.dictionaries(st.sampled_from(EMAILS), ints)
    return snapshot(first, draw(refresh_counts)), snapshot(second, draw(refresh_counts))


@settings(max_examples=300, deadline=None)
@given(two_snapshots())
def test_reused_lines_are_those_a_fresh_render_writes(pair: tuple[Snapshot, Snapshot]) -> None:
    before, after = pair
    renderer = MetricsRenderer()
    renderer.render(before, NOW)
    assert renderer.render(after, NOW + 1) == MetricsRenderer().render(after, NOW + 1)


def test_a_changed_account_shows_its_new_lines() -> None:
    account = Account("a@x.io", "1", "neo", NOW + 3600, ExpirySource.EXPIRE_TIME, 4)
    default = AccountSettings(False, 7200.0, 600.0, 86400.0, 0, (), None)
    status = AccountStatus(account, "a@x.io", STATES[1], 1, 3, default)
    renewed = account._replace(expiry_unix=NOW + 7200)
    renderer = MetricsRenderer()
    first = renderer.render(snapshot({"s": ([status], {})}, {}), NOW)
    assert b'expiry_timestamp_seconds{source="s",account="a@x.io"} 1800003600.0\n' in first
    changes = {
        "expiry": (status._replace(account=renewed), b"} 1800007200.0\n", b"} 1800003600.0\n"),
        "state": (
            status._replace(state=STATES[0]),
            b'state{source="s",account="a@x.io",state="ok"} 1\n',
            b'state{source="s",account="a@x.io",state="warning"} 1\n',
        ),
    }
    for what, (changed, shown, gone) in changes.items():
        renderer.render(snapshot({"s": ([status], {})}, {}), NOW)
        body = renderer.render(snapshot({"s": ([changed], {})}, {}), NOW)
        assert shown in body, what
        assert gone not in body, what
    # Only the value moves: available 3 becomes 2.
    renderer.render(snapshot({"s": ([status], {})}, {}), NOW)
    body = renderer.render(snapshot({"s": ([status._replace(available=2)], {})}, {}), NOW)
    assert b'jobs_available{source="s",account="a@x.io"} 2\n' in body
    assert b'jobs_available{source="s",account="a@x.io"} 3\n' not in body
