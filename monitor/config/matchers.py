"""Alertmanager's label matchers (`team="studio"`, `alertname=~"PixversePlan.*"`): a small
strict parser, and matching against an alert's labels. Pure.

The syntax is Alertmanager's: a label name, one of `=`, `!=`, `=~`, `!~`, and a value, quoted
(with the escapes `\\"`, `\\\\` and `\\n`) or bare (no space and none of `{}!=~,"'` or a
backquote). A regex is anchored at both ends, as Alertmanager anchors it, and a label the
alert does not have matches as the empty string. Anything else is refused with the reason:
Alertmanager's own parser tolerates much that a config file should not (see docs/design.md)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

MAX_MATCHERS = 32  # a sink's matchers; more is a config generated wrong
MAX_MATCHER_LENGTH = 1024  # one matcher as written

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BARE = re.compile(r"""[^\s{}!=~,"'`\\]+""")
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n"}
# What Python's `re` has and Alertmanager's RE2 has not: a regex using it could never work
# in Alertmanager, nor mean the same here.
_NOT_RE2 = re.compile(r"\(\?(?:=|!|<=|<!|P=|\(|>)|\\[1-9]")


class MatchType(StrEnum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


# Longest first, so that "!=" is not read as "!" and "=~" not as "=".
_OPERATORS = (MatchType.REGEX, MatchType.NOT_REGEX, MatchType.NOT_EQUAL, MatchType.EQUAL)


@dataclass(frozen=True)
class Matcher:
    """One label matcher; `str()` writes it as Alertmanager does (value quoted)."""

    name: str
    type: MatchType
    value: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self._regex is not None:
            found = self._regex.fullmatch(actual) is not None
            return found if self.type is MatchType.REGEX else not found
        return (actual == self.value) is (self.type is MatchType.EQUAL)

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
        return f'{self.name}{self.type.value}"{escaped}"'


def parse_matcher(text: str) -> Matcher:
    """One matcher as written in the config; ValueError saying what is wrong."""
    if len(text) > MAX_MATCHER_LENGTH:
        raise ValueError(f"is {len(text)} characters long; at most {MAX_MATCHER_LENGTH}")
    rest = text.strip()
    name = _NAME.match(rest)
    if name is None:
        raise ValueError("must start with a label name ([A-Za-z_][A-Za-z0-9_]*)")
    rest = rest[name.end() :].lstrip()
    operator = next((op for op in _OPERATORS if rest.startswith(op.value)), None)
    if operator is None:
        raise ValueError(f"expected =, !=, =~ or !~ after the label name {name.group()!r}")
    rest = rest[len(operator.value) :].lstrip()
    value, rest = _value(rest)
    if rest.strip():
        raise ValueError(f"unexpected {rest.strip()[:20]!r} after the value")
    regex = None
    if operator in (MatchType.REGEX, MatchType.NOT_REGEX):
        if _NOT_RE2.search(value):
            raise ValueError(
                "lookarounds, backreferences and conditionals are not regexes Alertmanager "
                "(RE2) understands"
            )
        try:
            re.compile(value)  # on its own: ")|(" must not break out of the anchoring group
            regex = re.compile(f"(?:{value})")
        except re.error as exc:
            raise ValueError(f"not a valid regex: {exc}") from None
    return Matcher(name.group(), operator, value, regex)


def _value(text: str) -> tuple[str, str]:
    """The value at the start of `text`, and what follows it."""
    if not text:
        raise ValueError('a value is required (write "" for the empty value)')
    if text[0] != '"':
        bare = _BARE.match(text)
        if bare is None:
            raise ValueError(f"a value with {text[0]!r} in it must be quoted")
        return bare.group(), text[bare.end() :]
    out: list[str] = []
    index = 1
    while index < len(text):
        char = text[index]
        if char == '"':
            return "".join(out), text[index + 1 :]
        if char == "\\":
            escaped = text[index + 1 : index + 2]
            if escaped not in _ESCAPES:
                raise ValueError(f"unknown escape \\{escaped} in the quoted value")
            out.append(_ESCAPES[escaped])
            index += 2
            continue
        out.append(char)
        index += 1
    raise ValueError("the quoted value has no closing quote")


def matches_all(matchers: tuple[Matcher, ...], labels: Mapping[str, str]) -> bool:
    """Every matcher holds (none: everything matches)."""
    return all(m.matches(labels) for m in matchers)


def route_key(matchers: tuple[Matcher, ...]) -> str:
    """The key Alertmanager gives a route with these matchers under its root: `{}` for the
    root itself, `{}/{team="studio",...}` below it."""
    if not matchers:
        return "{}"
    return "{}/{" + ",".join(str(m) for m in matchers) + "}"
