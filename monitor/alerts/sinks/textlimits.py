"""How chat services measure text and how a text too long for them is cut: in UTF-16 code
units (what Telegram, Discord and Teams clients count, and never fewer than characters), and
never inside an escape of their markup. Pure."""

from __future__ import annotations

import re

ELLIPSIS = "…"
_ODD_BACKSLASHES = re.compile(r"(?<!\\)(\\\\)*\\$")


def utf16_length(text: str) -> int:
    """The length of `text` in UTF-16 code units: a character beyond the BMP (an emoji) is 2."""
    return len(text.encode("utf-16-le")) // 2


def clip(text: str, most: int) -> str:
    """`text` at most `most` characters long, cut short with an ellipsis. For plain text,
    before it is escaped."""
    return text if len(text) <= most else text[: most - 1] + ELLIPSIS


def clip_escaped(text: str, most: int) -> str:
    """Backslash-escaped markdown at most `most` characters long, never cut between a
    backslash and the character it escapes."""
    if len(text) <= most:
        return text
    cut = text[: most - 1]
    if _ODD_BACKSLASHES.search(cut):
        cut = cut[:-1]
    return cut + ELLIPSIS
