"""Every log line the process writes, captured as JSON objects and as raw text."""

from __future__ import annotations

import io
from typing import Any

import orjson


class LogCapture:
    """Every log line the process writes, as JSON objects and as raw text."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        lines = [orjson.loads(line) for line in self.text.splitlines() if line.strip()]
        return [e for e in lines if name is None or e.get("event") == name]
