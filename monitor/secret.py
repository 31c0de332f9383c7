"""A string that never shows itself: masked in `repr`, `str`, logs and pickles; and the values
every log line is scrubbed of, whoever wrote it."""

from __future__ import annotations

import hmac
import threading
from typing import NoReturn, final
from urllib.parse import quote, urlsplit

import orjson

MASK = "********"
# Shorter values are not masked in log lines: they would match ordinary words ("info") and
# garble every line, and no credential worth the name is that short.
MIN_MASKED_LENGTH = 8
# The path of a secret URL (a Slack webhook's credential is its path) is masked on its own
# only from this length, so that a plain path like "/hook" does not blank out others.
_MIN_MASKED_PATH = 16


@final
class Secret:
    """Holds a credential; call `reveal()` only where the header or HMAC is built."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        _remember(value)

    def reveal(self) -> str:
        return self._value

    def scrub_from(self, text: str) -> str:
        """`text` with this secret masked, however short it is (for texts that a server may
        have echoed the credential into)."""
        return text.replace(self._value, MASK) if self._value else text

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, format_spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(Secret)

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")


# Every secret value this process has held, in the forms it may be written in, longest first
# (so that a URL is masked whole before its path is). Process-wide, like the logging
# configuration it serves: a line from any logger, ours or a library's, is scrubbed of them.
_lock = threading.Lock()
_masked: tuple[str, ...] = ()


def _remember(value: str) -> None:
    global _masked  # noqa: PLW0603 - one registry per process, as logging is one per process
    forms = _forms(value)
    if not forms or all(form in _masked for form in forms):
        return
    with _lock:
        _masked = tuple(sorted({*_masked, *forms}, key=len, reverse=True))


def _forms(value: str) -> set[str]:
    """How a secret may appear in a log line: as it is, escaped in JSON or percent-encoded,
    and, for a URL, the password and the path and query it carries."""
    forms = {value, orjson.dumps(value).decode()[1:-1], quote(value, safe="")}
    if "://" in value:
        try:
            parts = urlsplit(value)
            password = parts.password
        except ValueError:
            parts, password = None, None
        if password:
            forms.add(password)
        if parts is not None:
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            if len(path) >= _MIN_MASKED_PATH:
                forms.add(path)
    return {form for form in forms if len(form) >= MIN_MASKED_LENGTH}


def scrub(text: str) -> str:
    """`text` with every secret this process holds replaced by the mask."""
    for value in _masked:
        if value in text:
            text = text.replace(value, MASK)
    return text
