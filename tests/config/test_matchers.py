"""Alertmanager's matcher syntax: what parses and to what, what is refused and why, matching
as Alertmanager matches (anchored regexes, an absent label as ""), and a round trip through
the text `config check` writes."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.config.matchers import MatchType, matches_all, parse_matcher, route_key

GOOD = [
    ('team="studio"', "team", MatchType.EQUAL, "studio"),
    ("team=studio", "team", MatchType.EQUAL, "studio"),
    ('  team  !=  "studio"  ', "team", MatchType.NOT_EQUAL, "studio"),
    ('alertname=~"PixversePlan.*|PixverseCredits.*"', "alertname", MatchType.REGEX, None),
    ("alertname=~Pixverse.*", "alertname", MatchType.REGEX, "Pixverse.*"),
    ('severity!~"warn.*"', "severity", MatchType.NOT_REGEX, "warn.*"),
    ('team=""', "team", MatchType.EQUAL, ""),
    (r'team="a \"quoted\" \\ name\n"', "team", MatchType.EQUAL, 'a "quoted" \\ name\n'),
    ('team="studio, the one {with} = signs"', "team", MatchType.EQUAL, None),
    ("_x=ünïcode", "_x", MatchType.EQUAL, "ünïcode"),
]


@pytest.mark.parametrize(("text", "name", "kind", "value"), GOOD, ids=[g[0] for g in GOOD])
def test_what_parses(text: str, name: str, kind: MatchType, value: str | None) -> None:
    matcher = parse_matcher(text)
    assert (matcher.name, matcher.type) == (name, kind)
    if value is not None:
        assert matcher.value == value
    assert parse_matcher(str(matcher)) == matcher


BAD = [
    ("", "label name"),
    ('="studio"', "label name"),
    ('1team="x"', "label name"),
    ('team-name="x"', "expected =, !=, =~ or !~"),
    ('team~"x"', "expected =, !=, =~ or !~"),
    ('team=="x"', "must be quoted"),
    ("team=", "a value is required"),
    ('team="studio', "no closing quote"),
    (r'team="a\tb"', "unknown escape"),
    ('team="a" extra', "unexpected 'extra'"),
    ('team="a",b="c"', "unexpected"),
    ("team=a b", "unexpected 'b'"),
    ("team='studio'", "must be quoted"),
    ('team=~"(unclosed"', "not a valid regex"),
    # Valid only once wrapped in Alertmanager's anchoring group, which it would break out of.
    ('team=~")|("', "not a valid regex"),
    ('team=~"(?=x)x"', "RE2"),
    ('team=~"(a)\\\\1"', "RE2"),
    ("t" * 1025 + '="x"', "at most 1024"),
]


@pytest.mark.parametrize(("text", "problem"), BAD, ids=[b[0][:40] for b in BAD])
def test_what_is_refused_and_why(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        parse_matcher(text)


LABELS = {"alertname": "PixversePlanExpiringSoon", "severity": "warning", "team": "studio"}


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ('team="studio"', True),
        ('team="Studio"', False),
        ('team!="studio"', False),
        ('team!="ops"', True),
        ('alertname=~"PixversePlan.*|PixverseCredits.*"', True),
        # Anchored at both ends, as Alertmanager anchors it.
        ('alertname=~"Plan"', False),
        ('alertname=~"Pixverse"', False),
        ('alertname=~".*Plan.*"', True),
        ('alertname!~"PixversePlan.*"', False),
        # A label the alert does not have is the empty string.
        ('region=""', True),
        ('region!="eu"', True),
        ('region="eu"', False),
        ('region=~"eu|"', True),
        ('team=~"stu|studio"', True),
    ],
)
def test_matching_as_alertmanager_matches(text: str, matches: bool) -> None:
    assert parse_matcher(text).matches(LABELS) is matches


def test_all_must_hold_and_none_is_everything() -> None:
    both = (parse_matcher('team="studio"'), parse_matcher('severity="critical"'))
    assert not matches_all(both, LABELS)
    assert matches_all(both[:1], LABELS)
    assert matches_all((), LABELS)


def test_the_route_key_alertmanager_gives_such_a_route() -> None:
    assert route_key(()) == "{}"
    matchers = (parse_matcher("team=studio"), parse_matcher('alertname=~"A.*"'))
    assert route_key(matchers) == '{}/{team="studio",alertname=~"A.*"}'


names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True)
values = st.text(max_size=40)


@given(name=names, kind=st.sampled_from([MatchType.EQUAL, MatchType.NOT_EQUAL]), value=values)
def test_any_value_written_back_parses_to_the_same_matcher(
    name: str, kind: MatchType, value: str
) -> None:
    """What `config check` writes (`str()`) reads back the same, whatever the value holds:
    quotes, backslashes, newlines, commas, braces."""
    matcher = parse_matcher(f'{name}{kind.value}"{_escape(value)}"')
    assert (matcher.name, matcher.type, matcher.value) == (name, kind, value)
    assert parse_matcher(str(matcher)) == matcher
    assert matcher.matches({name: value}) is (kind is MatchType.EQUAL)


@given(text=st.text(max_size=60))
def test_any_text_parses_or_is_refused_with_a_reason(text: str) -> None:
    try:
        matcher = parse_matcher(text)
    except ValueError as exc:
        reason = str(exc)
        assert reason, "refused without a reason"
        return
    assert parse_matcher(str(matcher)) == matcher


@given(value=st.text(alphabet="ab|.*()?+", max_size=12), label=st.text(alphabet="ab", max_size=6))
def test_a_regex_matches_the_whole_value_or_not_at_all(value: str, label: str) -> None:
    try:
        matcher = parse_matcher(f'x=~"{value}"')
    except ValueError:
        return  # not a regex
    anchored = re.compile(f"^(?:{value})$")
    assert matcher.matches({"x": label}) is (anchored.search(label) is not None)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
