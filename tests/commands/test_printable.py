"""Upstream text cannot forge `check`'s plugin output: whatever an email, a username, a plan,
a service or an error text holds, the output has one status line with one `|`, no extra line,
no control character; and `--json` stays valid JSON holding the values whole."""

from __future__ import annotations

import string
import unicodedata
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.commands.check_output import build_report, render_json, render_table
from monitor.commands.printable import json_text, plain
from monitor.config.load import load_config
from monitor.config.model import Config
from monitor.errors import Outcome
from monitor.service import PlanRound
from monitor.snapshot import PlanSnapshot
from monitor.upstream import PlanResult, PollResult, SubscriptionResult
from monitor.upstream.features import parse_plan
from monitor.upstream.parse import parse_accounts, parse_capacity
from monitor.upstream.subscription import parse_subscription

NOW = 1_800_000_000.0
HOUR = 3600.0
_STATUS = ("PIXVERSE OK - ", "PIXVERSE WARNING - ", "PIXVERSE CRITICAL - ")
_UNPRINTED = {"Cc", "Cf", "Zl", "Zp", "Cs"}

# Text meant to forge: line breaks of every kind, the perfdata bar, escapes, bidi overrides,
# a fake status line; and anything else besides.
hostile = st.lists(
    st.sampled_from(["|", "\n", "\r", "\x0b", "\x85", "\u2028", "\u202e", "\x1b[2J", "\x00"])
    | st.sampled_from(["PIXVERSE OK - all fine ", "'", "=", ";", " "])
    | st.characters()
    | st.characters(categories=["Cs"]),
    min_size=1,
    max_size=10,  # under the longest name upstream may give (256), so all of it is read
).map("".join)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    directory: Path = tmp_path_factory.mktemp("printable")
    token = directory / "token"
    token.write_text("useapi-token\n")
    path = directory / "config.toml"
    path.write_text(
        f'[[sources]]\nname = "main"\ntoken_file = "{token}"\n'
        f'[[sources]]\nname = "other"\ntoken_file = "{token}"\n'
        f'[alerts]\nstate_dir = "{directory / "state"}"\n'
    )
    return load_config(path, env={})


def report_lines(config: Config, text: str, *, as_json: bool) -> str:
    """`check`'s output with `text` in every string upstream gives."""
    email = f"{text}@x.io"
    accounts = parse_accounts(
        {
            email: {"maxJobs": 4, "jwt": {"ExpireTime": NOW + 2 * HOUR, "Username": text}},
            "ok@x.io": {"maxJobs": 2, "jwt": {"ExpireTime": NOW + 900 * HOUR}},
        }
    )
    capacity = parse_capacity({"available": [{"email": email, "executing": 1, "available": 3}]})
    read = PollResult("main", Outcome.SUCCESS, accounts, capacity, None, NOW, 0.1)
    failed = PollResult("other", Outcome.HTTP_ERROR, None, None, f"HTTP 500 ({text})", NOW, 0.1)
    plan = parse_plan({"plan_name": text, "expired_member": 1, "gen_simultaneously": 1})
    subscription = parse_subscription({"accounts": {text: {"total": 1, "error": 1}}})
    answers = PlanRound(
        PlanSnapshot(subscription, {email: plan}),
        SubscriptionResult(Outcome.SUCCESS, subscription, None, NOW),
        {
            email: PlanResult(email, Outcome.SUCCESS, plan, False, None, NOW),
            "ok@x.io": PlanResult("ok@x.io", Outcome.HTTP_ERROR, None, False, text, NOW),
        },
    )
    report = build_report([read, failed], config, NOW, [answers, PlanRound()])
    return render_json(report) if as_json else render_table(report)


@settings(max_examples=300, deadline=None)
@given(hostile)
def test_any_upstream_text_gives_one_status_line_with_one_bar(config: Config, text: str) -> None:
    out = report_lines(config, text, as_json=False)
    benign = report_lines(config, "x", as_json=False)
    first, *rest = out.split("\n")
    assert first.startswith(_STATUS[2]), first
    assert first.count("|") == 1
    assert not any("|" in line for line in rest)
    # No line added: as many as the same report of harmless text has.
    assert len(rest) == len(benign.split("\n")) - 1
    assert not any(unicodedata.category(c) in _UNPRINTED for c in out.replace("\n", ""))
    # The text is shown, less what cannot be printed.
    shown = plain(text)
    if shown.strip(string.whitespace):
        assert shown in out


@settings(max_examples=200, deadline=None)
@given(hostile.filter(lambda t: not any(unicodedata.category(c) == "Cs" for c in t)))
def test_any_upstream_text_keeps_the_json_valid_and_whole(config: Config, text: str) -> None:
    """JSON can hold every character but a lone surrogate, which the upstream decoder never
    lets through; what `plain` leaves out of the table is escaped here instead."""
    out = report_lines(config, text, as_json=True)
    document = orjson.loads(out)
    assert "|" not in out
    assert not any(unicodedata.category(c) in _UNPRINTED for c in out.replace("\n", ""))
    main = document["sources"][0]
    account = next(a for a in main["accounts"] if a["account"] != "ok@x.io")
    assert account["account"] == f"{text}@x.io"
    assert account["plan"] == (text if text.strip() else None)  # a blank name is none
    assert list(main["subscription"]["accounts"]) == [text]
    assert document["sources"][1]["error"] == f"HTTP 500 ({text})"


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        ("a|b", "ab"),
        ("line\nPIXVERSE OK - forged", "linePIXVERSE OK - forged"),
        ("bidi\u202eevil", "bidievil"),
        ("sep\u2028arated\x85", "separated"),
        ("esc\x1b[2J", "esc[2J"),
        ("zero\u200bwidth", "zerowidth"),
        ("tag\U000e0041", "tag"),
        ("été ✓ 日本", "été ✓ 日本"),
    ],
)
def test_plain_leaves_out_control_characters_and_the_bar(value: str, printed: str) -> None:
    assert plain(value) == printed


def test_json_escapes_what_plain_leaves_out_and_keeps_its_line_breaks() -> None:
    document = {"a": "x|y\u2028z\x7f\U000e0041", "b": [1, 2]}
    text = json_text(document)
    assert "\n" in text  # indented
    assert "|" not in text and "\u2028" not in text and "\x7f" not in text
    assert "\\udb40\\udc41" in text  # beyond the BMP: a surrogate pair
    assert orjson.loads(text) == document
    assert orjson.loads(json_text(document, indent=False)) == document
    assert "\n" not in json_text(document, indent=False)
