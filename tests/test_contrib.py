"""The monitoring-stack files in contrib/: the NRPE command and the Icinga 2 CheckCommand run
the program where the installation puts it, with options `check` accepts, and answer before
the caller's own timeout. tests/e2e/test_nrpe.py runs the NRPE one through a real NRPE.

CI has no icinga2 binary to validate the CheckCommand with (`icinga2 daemon -C`; it was run
once, with Debian 12's Icinga 2.13.6, when the file was written): it is read here by a parser
of the subset of the Icinga 2 DSL it uses (objects, dictionaries, arrays, strings, numbers,
durations, comments), which fails on anything else, unbalanced or not."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import _parser
from monitor.commands import DEFAULT_CHECK_TIMEOUT_SECONDS

ROOT = Path(__file__).resolve().parents[1]
NRPE = ROOT / "contrib" / "nrpe" / "pixverse-monitor.cfg"
ICINGA = ROOT / "contrib" / "icinga2" / "pixverse-monitor.conf"
INSTALL = ROOT / "docs" / "install.md"
PROGRAM = "/usr/local/bin/pixverse-monitor"
CHECK_NRPE_TIMEOUT_SECONDS = 10.0  # check_nrpe's default -t
MARGIN_SECONDS = 2.0  # printing, exiting and the network, between the two timeouts


def check_parser() -> argparse.ArgumentParser:
    parser = _parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    found: argparse.ArgumentParser = commands.choices["check"]
    return found


def test_the_installation_puts_the_program_where_the_snippets_run_it() -> None:
    assert f"ln -sf /opt/pixverse-monitor/bin/pixverse-monitor {PROGRAM}" in INSTALL.read_text()


def test_the_nrpe_command_is_a_check_that_answers_before_check_nrpe() -> None:
    commands = {}
    for line in NRPE.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = re.fullmatch(r"command\[(\w+)\]=(.+)", line)
        assert match, f"not an NRPE command line: {line!r}"
        commands[match[1]] = shlex.split(match[2])
    assert list(commands) == ["check_pixverse"]
    program, command, *options = commands["check_pixverse"]
    assert (program, command) == (PROGRAM, "check")
    args = check_parser().parse_args(options)
    assert args.timeout + MARGIN_SECONDS <= CHECK_NRPE_TIMEOUT_SECONDS


# -- Icinga 2 ------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s+|/\*.*?\*/|//[^\n]*|\#[^\n]*          # blanks and comments
    |(?P<string>"(?:[^"\\\n]|\\.)*")
    |(?P<duration>\d+(?:\.\d+)?(?:ms|s|m|h|d))\b
    |(?P<number>\d+(?:\.\d+)?)\b
    |(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    |(?P<punct>[{}\[\]=,])""",
    re.VERBOSE | re.DOTALL,
)


def tokens(text: str) -> list[tuple[str, str]]:
    found, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        assert match, f"cannot read {text[position : position + 40]!r}"
        position = match.end()
        if match.lastgroup:
            found.append((match.lastgroup, match[match.lastgroup]))
    return found


class Reader:
    """object TYPE "NAME" { key = value ... }, where a value is a string, number, duration,
    [array] or { dictionary }; keys are dotted names or strings."""

    def __init__(self, text: str) -> None:
        self.items = tokens(text)
        self.at = 0

    def take(self, kind: str, value: str | None = None) -> str:
        assert self.at < len(self.items), f"ends early, expecting {value or kind}"
        got_kind, got = self.items[self.at]
        assert got_kind == kind and value in (None, got), f"expected {value or kind}, got {got!r}"
        self.at += 1
        return got

    def peek(self) -> tuple[str, str] | None:
        return self.items[self.at] if self.at < len(self.items) else None

    def objects(self) -> dict[tuple[str, str], dict[str, Any]]:
        found = {}
        while self.peek() is not None:
            self.take("name", "object")
            kind = self.take("name")
            name = self.take("string")[1:-1]
            found[(kind, name)] = self.dictionary()
        return found

    def dictionary(self) -> dict[str, Any]:
        self.take("punct", "{")
        entries: dict[str, Any] = {}
        while self.peek() != ("punct", "}"):
            head = self.peek()
            assert head is not None, "a { is never closed"
            key = self.take(head[0])
            key = key[1:-1] if head[0] == "string" else key
            self.take("punct", "=")
            entries[key] = self.value()
        self.take("punct", "}")
        return entries

    def value(self) -> Any:
        head = self.peek()
        assert head is not None, "ends where a value should be"
        if head == ("punct", "{"):
            return self.dictionary()
        if head == ("punct", "["):
            self.take("punct", "[")
            values = []
            while self.peek() != ("punct", "]"):
                values.append(self.value())
                if self.peek() == ("punct", ","):
                    self.take("punct", ",")
            self.take("punct", "]")
            return values
        kind, text = head
        self.at += 1
        if kind == "string":
            return text[1:-1]
        if kind == "number":
            return float(text)
        if kind == "duration":
            parts = re.fullmatch(r"([\d.]+)(\D+)", text)
            assert parts
            scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[parts[2]]
            return float(parts[1]) * scale
        raise AssertionError(f"unexpected {text!r}")


def test_the_reader_refuses_what_icinga_would() -> None:
    good = 'object CheckCommand "x" { command = [ "a", "b" ] timeout = 1m vars.y = 8 }'
    assert Reader(good).objects() == {
        ("CheckCommand", "x"): {"command": ["a", "b"], "timeout": 60.0, "vars.y": 8.0}
    }
    for bad in (
        'object CheckCommand "x" { command = [ "a" }',  # unbalanced
        'object CheckCommand "x" { command = "a }',  # an unterminated string
        'object CheckCommand "x" { timeout 10s }',  # no =
        'object CheckCommand "x" { command = ["a"] ',  # never closed
    ):
        with pytest.raises(AssertionError):
            Reader(bad).objects()


def test_the_icinga_check_command_matches_the_cli() -> None:
    objects = Reader(ICINGA.read_text()).objects()
    assert list(objects) == [("CheckCommand", "pixverse")]
    command = objects[("CheckCommand", "pixverse")]
    assert command["command"] == [PROGRAM, "check"]
    options = {o for a in check_parser()._actions for o in a.option_strings}
    arguments = command["arguments"]
    assert set(arguments) <= options, set(arguments) - options
    assert {"--config", "--timeout"} <= set(arguments)
    for option, argument in arguments.items():
        macro = re.fullmatch(r"\$(pixverse_\w+)\$", argument["value"])
        assert macro, (option, argument)
        assert argument["description"]
        # The option's own dest, so that the macro says which option it fills.
        dest = next(a.dest for a in check_parser()._actions if option in a.option_strings)
        assert macro[1] == f"pixverse_{dest}"
    timeout = command["vars.pixverse_timeout"]
    assert timeout == DEFAULT_CHECK_TIMEOUT_SECONDS
    assert timeout + MARGIN_SECONDS <= command["timeout"]
