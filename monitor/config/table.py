"""A TOML table under validation: typed lookups that name the key at fault, durations,
enum choices, and unknown keys reported once the table has been read."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from monitor.errors import ConfigError
from monitor.timefmt import format_duration, parse_duration

_T = TypeVar("_T")
_E = TypeVar("_E", bound=StrEnum)
MISSING: Any = object()


class Table:
    """A TOML table being validated: typed lookups, and unknown keys reported at the end."""

    def __init__(self, data: dict[str, Any], path: str) -> None:
        self._data = data
        self._path = path
        self._seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self._path}.{name}" if self._path else name

    def has(self, name: str) -> bool:
        return name in self._data

    def names(self) -> list[str]:
        return list(self._data)

    def get(self, name: str, kind: type[_T], default: _T = MISSING) -> _T:
        self._seen.add(name)
        if name not in self._data:
            if default is MISSING:
                raise ConfigError(self.key(name), "is required")
            return default
        value = self._data[name]
        # TOML booleans are Python ints; never accept one where a number is meant.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigError(
                self.key(name),
                f"expected {_type_name(kind)}, got {_type_name(type(value))} {value!r}",
            )
        return value

    def string(self, name: str, default: str = MISSING) -> str:
        return self.get(name, str, default)

    def name(self, name: str, default: str = MISSING, *, longest: int) -> str:
        """A string that names something: not blank, at most `longest` characters."""
        value = self.string(name, default)
        if not value.strip():
            raise ConfigError(self.key(name), "must not be empty")
        if len(value) > longest:
            raise ConfigError(
                self.key(name), f"is {len(value)} characters long; at most {longest} are allowed"
            )
        return value

    def optional_path(self, name: str, base_dir: Path) -> Path | None:
        text = self.string(name, "")
        if not text:
            return None
        path = Path(text)
        return path if path.is_absolute() else base_dir / path

    def duration(
        self,
        name: str,
        default: str,
        *,
        positive: bool = True,
        at_least: timedelta | None = None,
    ) -> timedelta:
        self._seen.add(name)
        value = self._data.get(name, default)
        try:
            delta = parse_duration(value)
        except ValueError as exc:
            raise ConfigError(self.key(name), str(exc)) from None
        if positive and delta <= timedelta(0):
            raise ConfigError(self.key(name), f"must be greater than zero, got {value!r}")
        if at_least is not None and delta < at_least:
            raise ConfigError(
                self.key(name),
                f"must be at least {format_duration(at_least)}, got {format_duration(delta)}",
            )
        return delta

    def choice(self, name: str, enum: type[_E], default: _E) -> _E:
        text = self.string(name, default.value)
        try:
            return enum(text)
        except ValueError:
            allowed = ", ".join(e.value for e in enum)
            raise ConfigError(self.key(name), f"must be one of {allowed}; got {text!r}") from None

    def table(self, name: str) -> Table:
        value = self.get(name, dict, {})
        return Table(value, self.key(name))

    def array_of_tables(self, name: str) -> list[Table]:
        value = self.get(name, list, [])
        tables = []
        for index, item in enumerate(value):
            key = f"{self.key(name)}[{index}]"
            if not isinstance(item, dict):
                raise ConfigError(key, f"expected a table, got {_type_name(type(item))}")
            tables.append(Table(item, key))
        return tables

    def reject_inline_secret(self, name: str, instead: str) -> None:
        if name in self._data:
            raise ConfigError(
                self.key(name), f"secrets are not accepted inline in the config; use {instead}"
            )

    def finish(self) -> None:
        unknown = sorted(set(self._data) - self._seen)
        if unknown:
            raise ConfigError(self.key(unknown[0]), "unknown key")


def _type_name(kind: type | tuple[type, ...]) -> str:
    names = {
        str: "a string",
        int: "an integer",
        bool: "a boolean",
        float: "a number",
        dict: "a table",
        list: "an array",
    }
    if isinstance(kind, tuple):
        return " or ".join(names.get(k, k.__name__) for k in kind)
    return names.get(kind, kind.__name__)
