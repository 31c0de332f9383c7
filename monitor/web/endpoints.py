"""The answers of the HTTP endpoints: /metrics, /healthz, /readyz and a landing page."""

from __future__ import annotations

from collections.abc import Callable

from monitor.clock import Clock
from monitor.exposition import CONTENT_TYPE, MetricsRenderer
from monitor.snapshot import Snapshot
from monitor.web.server import Request, Response

# Reachable without credentials when basic auth is on: it only says the event loop runs.
OPEN_PATHS = frozenset({"/healthz"})

_LANDING = b"""<!doctype html><html><head><title>pixverse-monitor</title></head><body>
<h1>pixverse-monitor</h1><ul><li><a href="/metrics">/metrics</a></li>
<li><a href="/healthz">/healthz</a></li><li><a href="/readyz">/readyz</a></li></ul></body></html>
"""


class Endpoints:
    """Answers from whatever snapshot is current when a request comes in."""

    def __init__(
        self,
        snapshot: Callable[[], Snapshot],
        stale_after_seconds: Callable[[], float],
        renderer: MetricsRenderer,
        clock: Clock,
    ) -> None:
        self._snapshot = snapshot
        self._stale_after = stale_after_seconds
        self._renderer = renderer
        self._clock = clock

    async def handle(self, request: Request) -> Response:
        if request.path == "/metrics":
            body = self._renderer.render(self._snapshot(), self._clock.time())
            return Response(200, body, CONTENT_TYPE)
        if request.path == "/healthz":
            return Response(200, b"ok\n")
        if request.path == "/readyz":
            return self._readyz()
        if request.path == "/":
            return Response(200, _LANDING, "text/html; charset=utf-8")
        return Response(404, b"not found\n")

    def _readyz(self) -> Response:
        now = self._clock.time()
        stale_after = self._stale_after()
        stale = [s.name for s in self._snapshot().sources if not s.fresh(now, stale_after)]
        if stale:
            names = ", ".join(stale)
            return Response(503, f"not ready: no recent successful poll of {names}\n".encode())
        return Response(200, b"ready\n")
