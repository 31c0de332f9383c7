"""Upstream bytes to JSON values: orjson, and the stdlib decoder again for a document that
holds a number no double holds, with that number alone as OUT_OF_RANGE so that it costs its
own field, not the document. Refuses what orjson refuses, lone surrogates included."""

from __future__ import annotations

import json
import math
from typing import Final

import orjson


class _OutOfRange:
    """A JSON number no double holds (1e400): it costs its own field, not the document."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "OUT_OF_RANGE"


OUT_OF_RANGE: Final = _OutOfRange()


def decode_json(body: bytes) -> object:
    """JSON bytes to values; ValueError when the body is not JSON. orjson refuses a whole
    document for one number beyond a double; then the stdlib decoder reads it again, with
    that number (and only it) as OUT_OF_RANGE, which every field reader counts as invalid."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "number" not in str(exc):
            raise ValueError(str(exc)) from None
        first = str(exc)
    try:
        value = json.loads(
            body.decode("utf-8"),
            parse_float=_finite_float,
            parse_int=_int,
            parse_constant=_no_constant,
        )
    except (ValueError, RecursionError):
        raise ValueError(first) from None
    if _lone_surrogate(value):
        # orjson refuses "\ud800" as it refuses broken UTF-8; the stdlib keeps it, and a
        # string holding one cannot be written out anywhere (/metrics, a log line, `check`).
        raise ValueError("a string holds a lone surrogate (\\uD800-\\uDFFF)")
    return value


def _lone_surrogate(value: object) -> bool:
    """True if a string anywhere in `value` (keys included) holds a lone surrogate. No
    recursion: the stdlib decoder nests deeper than Python recurses."""
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is str:
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    return True
        elif type(item) is dict:
            stack.extend(item)
            stack.extend(item.values())
        elif type(item) is list:
            stack.extend(item)
    return False


def _finite_float(text: str) -> float | _OutOfRange:
    value = float(text)
    return value if math.isfinite(value) else OUT_OF_RANGE


def _int(text: str) -> int | float | _OutOfRange:
    try:
        value = int(text)
    except ValueError:  # more digits than Python converts
        return OUT_OF_RANGE
    if -(2**63) <= value < 2**64:
        return value
    # As orjson does past 64 bits: a double, when one holds it.
    try:
        return float(value)
    except OverflowError:
        return OUT_OF_RANGE


def _no_constant(text: str) -> object:
    raise ValueError(f"{text} is not JSON")
