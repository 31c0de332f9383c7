"""The pieces of the Prometheus text format (0.0.4) the cached renderer writes by hand: a
family's name, type and help, label escaping and numbers."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Family:
    """A metric family as /metrics shows it. Its `name` is written here and nowhere else: code
    that writes samples takes it from the family."""

    name: str
    type: str  # "gauge" or "counter"
    help: str
    labels: tuple[str, ...] = ()  # for families kept by prometheus_client

    @property
    def header(self) -> str:
        text = self.help.replace("\\", "\\\\").replace("\n", "\\n")
        return f"# HELP {self.name} {text}\n# TYPE {self.name} {self.type}\n"


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def format_value(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(value)


def family_text(family: Family, lines: list[str]) -> str:
    """Header and sample lines; a family with no samples is left out entirely, as
    client_python does."""
    return family.header + "".join(lines) if lines else ""
