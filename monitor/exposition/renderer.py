"""/metrics: the cached text of the current snapshot, the TTL lines at scrape time, then the
daemon's own metrics."""

from __future__ import annotations

from monitor.exposition.account_families import RenderedSnapshot
from monitor.exposition.internal import InternalMetrics
from monitor.snapshot import PerSnapshot, Snapshot

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class MetricsRenderer:
    """Renders /metrics. Keeps the text of the last snapshot it saw; `internal` (the daemon's
    own metrics) is rendered at each call."""

    def __init__(self, internal: InternalMetrics | None = None) -> None:
        self._internal = internal
        self._rendered = PerSnapshot(RenderedSnapshot)

    def render(self, snapshot: Snapshot, now_unix: float) -> bytes:
        body = self._rendered.of(snapshot).body(now_unix)
        if self._internal is None:
            return body
        return body + self._internal.render()
