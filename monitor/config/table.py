"""A table of a config file under validation: typed lookups that name the key at fault,
durations, enum choices, and unknown keys reported once the table has been read. The config
file is TOML; the web config file (YAML) is read with the same tables, in its own words."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from monitor.errors import ConfigError
from monitor.timefmt import format_duration, parse_duration

_T = TypeVar("_T")
_E = TypeVar("_E", bound=StrEnum)
MISSING: Any = object()


class FileFormat(NamedTuple):
    """How a file's errors speak: the name of a type expected, what a value found is, and
    the error that names a key (with the file, for a file of its own)."""

    expected: Callable[[type], str]
    found: Callable[[object], str]
    error: Callable[[str, str], ConfigError]


class Table:
    """A table being validated: typed lookups, and unknown keys reported at the end. A key
    whose value is null (YAML has it; TOML does not) counts as absent."""

    def __init__(self, data: dict[Any, Any], path: str, file_format: FileFormat | None = None):
        self._data = data
        self._path = path
        self._format = file_format or TOML
        self._seen: set[object] = set()

    def key(self, name: object) -> str:
        return f"{self._path}.{name}" if self._path else str(name)

    def error(self, name: object, problem: str) -> ConfigError:
        """The error to raise when `name` is at fault."""
        return self._format.error(self.key(name), problem)

    def has(self, name: str) -> bool:
        return name in self._data

    def names(self) -> list[Any]:
        return list(self._data)

    def get(self, name: str, kind: type[_T], default: _T = MISSING) -> _T:
        self._seen.add(name)
        value = self._data.get(name)
        if value is None:
            if default is MISSING:
                raise self.error(name, "is required")
            return default
        # Booleans are Python ints; never accept one where a number is meant.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            words = self._format
            raise self.error(name, f"expected {words.expected(kind)}, got {words.found(value)}")
        return value

    def string(self, name: str, default: str = MISSING) -> str:
        return self.get(name, str, default)

    def name(self, name: str, default: str = MISSING, *, longest: int) -> str:
        """A string that names something: not blank, at most `longest` characters."""
        value = self.string(name, default)
        if not value.strip():
            raise self.error(name, "must not be empty")
        if len(value) > longest:
            raise self.error(
                name, f"is {len(value)} characters long; at most {longest} are allowed"
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
            raise self.error(name, str(exc)) from None
        if positive and delta <= timedelta(0):
            raise self.error(name, f"must be greater than zero, got {value!r}")
        if at_least is not None and delta < at_least:
            raise self.error(
                name,
                f"must be at least {format_duration(at_least)}, got {format_duration(delta)}",
            )
        return delta

    def choice(self, name: str, enum: type[_E], default: _E) -> _E:
        text = self.string(name, default.value)
        try:
            return enum(text)
        except ValueError:
            allowed = ", ".join(e.value for e in enum)
            raise self.error(name, f"must be one of {allowed}; got {text!r}") from None

    def table(self, name: str) -> Table:
        value = self.get(name, dict, {})
        return Table(value, self.key(name), self._format)

    def array_of_tables(self, name: str) -> list[Table]:
        value = self.get(name, list, [])
        tables = []
        for index, item in enumerate(value):
            key = f"{self.key(name)}[{index}]"
            if not isinstance(item, dict):
                expected = self._format.expected(dict)
                raise self._format.error(key, f"expected {expected}, got {_type_name(type(item))}")
            tables.append(Table(item, key, self._format))
        return tables

    def reject_inline_secret(self, name: str, instead: str) -> None:
        if name in self._data:
            raise self.error(name, f"secrets are not accepted inline in the config; use {instead}")

    def finish(self) -> None:
        # By their text: YAML keys need not be strings, nor of one type.
        unknown = sorted(set(self._data) - self._seen, key=str)
        if unknown:
            raise self.error(unknown[0], "unknown key")


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


TOML = FileFormat(
    expected=_type_name,
    found=lambda value: f"{_type_name(type(value))} {value!r}",
    error=ConfigError,
)
