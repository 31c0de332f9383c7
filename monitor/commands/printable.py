"""Text from upstream and the config as `check` may print it: without control characters and
without `|`, so that it can neither add a line to the plugin output nor move its perfdata;
and JSON whose printed form holds neither, its values kept whole."""

from __future__ import annotations

import unicodedata

import orjson

# What no text from elsewhere may print: `|` starts the perfdata (on any line: long output
# may carry perfdata too), and control characters (line breaks, escapes, bidi overrides, the
# separators some terminals break lines at) forge or hide lines. Categories Cc, Cf, Zl, Zp,
# and Cs: a lone surrogate cannot even be written out.
_UNPRINTED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_UNPRINTED_ASCII = dict.fromkeys([*range(0x20), 0x7F, ord("|")])


def plain(text: str) -> str:
    """`text` as `check` may print it: control characters and `|` left out."""
    text = text.translate(_UNPRINTED_ASCII)
    if text.isascii():
        return text
    return "".join(c for c in text if unicodedata.category(c) not in _UNPRINTED_CATEGORIES)


def json_text(document: object, *, indent: bool = True) -> str:
    """`document` as JSON in which every character `plain` would leave out of a string is a
    `\\u` escape: valid JSON, the values whole once decoded, and nothing in the printed text
    that breaks a line or reads as perfdata."""
    text = orjson.dumps(document, option=orjson.OPT_INDENT_2 if indent else None).decode()
    # orjson escapes every other ASCII control character; the line breaks of the indented
    # form are outside strings, and stay.
    if "|" not in text and "\x7f" not in text and text.isascii():
        return text
    return "".join(_escaped(c) if _in_string_unprinted(c) else c for c in text)


def _in_string_unprinted(character: str) -> bool:
    if character in ("|", "\x7f"):
        return True
    return not character.isascii() and unicodedata.category(character) in _UNPRINTED_CATEGORIES


def _escaped(character: str) -> str:
    code = ord(character)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000  # beyond the BMP: a surrogate pair, as JSON writes it
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
