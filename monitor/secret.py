"""A string that never shows itself: masked in `repr`, `str`, logs and pickles."""

from __future__ import annotations

import hmac
from typing import NoReturn, final

MASK = "********"


@final
class Secret:
    """Holds a credential; call `reveal()` only where the header or HMAC is built."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

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
