"""[[accounts]] policy and the plan settings: defaults, matching, overrides merged with the
global thresholds, label validation, warnings `config check` can give, and rendering."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.config.load import parse_config
from monitor.config.model import AccountRule, Config, Thresholds
from monitor.config.policy import (
    RESERVED_LABELS,
    FirstMatch,
    Policy,
    matches,
    static_warnings,
)
from monitor.config.render import render_config
from monitor.errors import ConfigError

TOKEN = "cfg-SECRET-token-81c2"
ENV = {"USEAPI_TOKEN": TOKEN}
H = 3600.0
TH = Thresholds(timedelta(hours=72), timedelta(hours=24), 0, timedelta(days=7), 100)


def parse(text: str) -> Config:
    return parse_config(tomllib.loads(text), env=ENV, base_dir=Path("/nonexistent"))


def test_defaults() -> None:
    config = parse("")
    (source,) = config.sources
    assert source.account_endpoint is True
    assert source.features_endpoint is True
    assert config.poll.account_interval == timedelta(hours=1)
    assert config.poll.features_interval == timedelta(hours=1)
    assert config.thresholds.plan_warning == timedelta(days=7)
    assert config.thresholds.min_credits == 0
    assert config.accounts == ()


def test_every_key() -> None:
    config = parse(
        """
[[sources]]
account_endpoint = false
features_endpoint = false
[poll]
account_interval = "2h"
features_interval = "30m"
[thresholds]
plan_warning = "3d"
min_credits = 500
[[accounts]]
match = "*@studio.example"
warning = "12h"
critical = "2h"
plan_warning = "14d"
min_credits = 50
labels = { team = "studio", owner = "ana" }
[[accounts]]
match = "test-*"
ignore = true
"""
    )
    (source,) = config.sources
    assert (source.account_endpoint, source.features_endpoint) == (False, False)
    assert config.poll.account_interval == timedelta(hours=2)
    assert config.poll.features_interval == timedelta(minutes=30)
    assert config.thresholds.plan_warning == timedelta(days=3)
    assert config.thresholds.min_credits == 500
    assert config.accounts == (
        AccountRule(
            "*@studio.example",
            warning=timedelta(hours=12),
            critical=timedelta(hours=2),
            plan_warning=timedelta(days=14),
            min_credits=50,
            labels=(("owner", "ana"), ("team", "studio")),
        ),
        AccountRule("test-*", ignore=True),
    )


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ('[poll]\naccount_interval = "0s"', "poll.account_interval", "greater than zero"),
        ('[poll]\nfeatures_interval = "500ms"', "poll.features_interval", "at least 1s"),
        ('[thresholds]\nplan_warning = "soon"', "thresholds.plan_warning", "duration"),
        ("[thresholds]\nmin_credits = -1", "thresholds.min_credits", ">= 0"),
        ('[thresholds]\nmin_credits = "10"', "thresholds.min_credits", "integer"),
        ('[[sources]]\naccount_endpoint = "no"', "sources[0].account_endpoint", "boolean"),
        ("[[accounts]]\nignore = true", "accounts[0].match", "required"),
        ("[[accounts]]\nmatch = 5", "accounts[0].match", "string"),
        ('[[accounts]]\nmatch = "*"\nignore = 1', "accounts[0].ignore", "boolean"),
        ('[[accounts]]\nmatch = "*"\nowner = "x"', "accounts[0].owner", "unknown key"),
        ('[[accounts]]\nmatch = "*"\nwarning = "0s"', "accounts[0].warning", "greater than"),
        ('[[accounts]]\nmatch = "*"\nmin_credits = -5', "accounts[0].min_credits", ">= 0"),
        # Merged with the global warning of 72h, a critical of 80h is not shorter.
        ('[[accounts]]\nmatch = "*"\ncritical = "80h"', "accounts[0].critical", "warning in"),
        # Merged with the global critical of 24h, a warning of 12h is not longer.
        ('[[accounts]]\nmatch = "*"\nwarning = "12h"', "accounts[0].warning", "critical must"),
        ('[[accounts]]\nmatch = "*"\nlabels = "team"', "accounts[0].labels", "table"),
        ('[[accounts]]\nmatch = "*"\nlabels = { team = 5 }', "accounts[0].labels.team", "string"),
        ('[[accounts]]\nmatch = "*"\nlabels = { team = "" }', "accounts[0].labels.team", "empty"),
        ('[[accounts]]\nmatch = "*"\nlabels = { "a-b" = "x" }', "accounts[0].labels.a-b", "label"),
        ('[[accounts]]\nmatch = "*"\nlabels = { "1a" = "x" }', "accounts[0].labels.1a", "label"),
        ('[[accounts]]\nmatch = "*"\nlabels = { __x = "x" }', "accounts[0].labels.__x", "reserved"),
        *(
            (
                f'[[accounts]]\nmatch = "*"\nlabels = {{ {name} = "x" }}',
                f"accounts[0].labels.{name}",
                "sets itself",
            )
            for name in sorted(RESERVED_LABELS)
        ),
        ('[[accounts]]\nmatch = "a"\n[[accounts]]\nmatch = 1', "accounts[1].match", "string"),
    ],
)
def test_errors_name_the_key(text: str, key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    assert caught.value.key == key
    assert problem in caught.value.problem


def test_overrides_that_are_valid_only_merged() -> None:
    # warning 12h alone would clash with the global critical; with critical 2h it is fine.
    config = parse('[[accounts]]\nmatch = "*"\nwarning = "12h"\ncritical = "2h"')
    assert config.accounts[0].warning == timedelta(hours=12)


@pytest.mark.parametrize(
    ("pattern", "email", "fits"),
    [
        ("*@studio.example", "ana@studio.example", True),
        ("*@studio.example", "ana@other.example", False),
        ("*@Studio.Example", "ANA@studio.example", True),  # without regard to case
        ("ana@studio.example", "Ana@Studio.Example", True),
        ("test-?@x.io", "test-1@x.io", True),
        ("test-?@x.io", "test-12@x.io", False),
        ("[ab]*@x.io", "bob@x.io", True),
        ("[!ab]*@x.io", "bob@x.io", False),
        ("*", "anything", True),
        ("", "a@x.io", False),
        ("a@x.io", "a@x.io.evil", False),  # the whole email, not a prefix
    ],
)
def test_matching(pattern: str, email: str, fits: bool) -> None:
    assert matches(pattern, email) is fits


def test_first_matching_rule_wins_and_the_rest_take_the_globals() -> None:
    rules = [
        AccountRule("vip@studio.example", warning=timedelta(hours=200), labels=(("tier", "vip"),)),
        AccountRule("*@studio.example", critical=timedelta(hours=2), labels=(("team", "s"),)),
        AccountRule("*@studio.example", ignore=True),  # never reached
        AccountRule("bot-*", ignore=True, min_credits=5, plan_warning=timedelta(days=1)),
    ]
    policy = Policy(rules, TH)
    vip = policy.settings("VIP@studio.example")
    assert (vip.warning_seconds, vip.critical_seconds) == (200 * H, 24 * H)
    assert vip.labels == (("tier", "vip"),)
    assert vip.rule == 0
    other = policy.settings("ana@studio.example")
    assert (other.warning_seconds, other.critical_seconds) == (72 * H, 2 * H)
    assert other.rule == 1 and not other.ignore
    bot = policy.settings("bot-7@x.io")
    assert bot.ignore and bot.min_credits == 5 and bot.plan_warning_seconds == 24 * H
    plain = policy.settings("someone@else.io")
    assert plain == policy.default
    assert (plain.plan_warning_seconds, plain.min_credits, plain.labels) == (7 * 24 * H, 100, ())
    assert plain.rule is None
    assert policy.unmatched(["ana@studio.example", "x@y.z"]) == [0, 2, 3]
    assert Policy([], TH).settings("a@x.io") == Policy([], TH).default


def test_static_warnings_name_rules_that_can_never_apply() -> None:
    rules = [
        AccountRule("*@a.io"),
        AccountRule(""),
        AccountRule("studio"),
        AccountRule("*@a.io", ignore=True),
        AccountRule("*"),
        AccountRule("x*@b.io"),
        AccountRule("fine@b.io"),
    ]
    warnings = dict(static_warnings(rules))
    assert set(warnings) == {1, 2, 3, 5, 6}
    assert "empty" in warnings[1]
    assert "no @" in warnings[2]
    assert "accounts[0]" in warnings[3]
    assert "accounts[4]" in warnings[5]
    assert static_warnings([AccountRule("*@a.io"), AccountRule("studio*")]) == []


def test_rendered_config_loads_back_the_same() -> None:
    config = parse(
        """
[[sources]]
features_endpoint = false
[poll]
features_interval = "90m"
[thresholds]
plan_warning = "10d"
min_credits = 7
[[accounts]]
match = "*@studio.example"
warning = "12h"
critical = "2h"
labels = { team = "studio \\"quoted\\"", owner = "ana" }
[[accounts]]
match = "bot-*"
ignore = true
min_credits = 0
"""
    )
    text = render_config(config)
    assert "[[accounts]]" in text
    again = parse(text.replace("# token:", "# was token:"))
    assert again.accounts == config.accounts
    assert again.thresholds == config.thresholds
    assert again.poll == config.poll
    assert again.sources[0].features_endpoint is False


def _first_by_trying_all(patterns: list[str], email: str) -> int | None:
    return next((i for i, p in enumerate(patterns) if matches(p, email)), None)


glob_parts = st.sampled_from(["*", "?", "[a-c]", "[!x]", "[", "]", "@", ".", "ß", "SS", "x"])
globs = st.lists(glob_parts | st.text("abxsSß@.", max_size=3), max_size=6).map("".join)
emails = st.lists(st.text("abcxsSß@.[]*?", max_size=4), max_size=4).map("".join)


@settings(max_examples=500, deadline=None)
@given(st.lists(globs, max_size=12), st.lists(emails, min_size=1, max_size=8))
def test_the_tail_index_finds_the_rule_trying_every_rule_finds(
    patterns: list[str], addresses: list[str]
) -> None:
    first = FirstMatch(patterns)
    for email in addresses:
        assert first.first(email) == _first_by_trying_all(patterns, email), (patterns, email)


def test_thousands_of_rules_are_answered_without_trying_each() -> None:
    """2,000 rules for 5,000 accounts took 8 s per Policy, and the daemon made two per
    reload; indexed by their literal tails (else heads), a lookup tries the few that can
    fit."""
    patterns = [f"*@studio{i}.example" for i in range(2000)]
    patterns += ["vip-*", "ops@x.io", "*", "?*@X.io"]
    first = FirstMatch(patterns)
    for j in range(5000):
        email = f"user{j}@Studio{j % 2500}.example".casefold()
        expected = j % 2500 if j % 2500 < 2000 else None
        assert first.candidates(email) == [*([expected] if expected is not None else []), 2002]
        assert first.first(email) == (2002 if expected is None else expected)
    assert first.candidates("ops@x.io") == [2001, 2002, 2003]
    assert first.candidates("vip-ops@y.io") == [2000, 2002]
    assert first.first("OPS@X.IO") == 2001
