"""/metrics: the cached text of the current snapshot, the TTL lines at scrape time, then the
daemon's own metrics."""

from __future__ import annotations

from monitor.exposition.account_families import RenderedSnapshot
from monitor.exposition.internal import InternalMetrics
from monitor.snapshot import Snapshot

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class MetricsRenderer:
    """Renders /metrics. Keeps the text of the last snapshot it saw; `internal` (the daemon's
    own metrics) is rendered at each call."""

    def __init__(self, internal: InternalMetrics | None = None) -> None:
        self._internal = internal
        self._cached: tuple[Snapshot, RenderedSnapshot] | None = None

    def render(self, snapshot: Snapshot, now_unix: float) -> bytes:
        cached = self._cached
        if cached is None or cached[0] is not snapshot:
            cached = (snapshot, RenderedSnapshot(snapshot))
            self._cached = cached
        body = cached[1].body(now_unix)
        if self._internal is None:
            return body
        return body + self._internal.render()
