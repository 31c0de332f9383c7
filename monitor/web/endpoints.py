"""The answers of the HTTP endpoints: /metrics, /healthz, /readyz and a landing page.

/metrics is rendered once per snapshot and whole second, and that one body (and its one gzip
form) is what every scrape of that second is sent: a hundred concurrent scrapes cost one body.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from monitor.clock import Clock
from monitor.exposition import CONTENT_TYPE, MetricsRenderer
from monitor.snapshot import Snapshot
from monitor.web.messages import Payload, Request, Response

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
        self._metrics: tuple[Snapshot, int, Payload] | None = None

    async def handle(self, request: Request) -> Response:
        if request.path == "/metrics":
            return Response(200, self.metrics_body(), CONTENT_TYPE)
        if request.path == "/healthz":
            return Response(200, b"ok\n")
        if request.path == "/readyz":
            return self._readyz()
        if request.path == "/":
            return Response(200, _LANDING, "text/html; charset=utf-8")
        return Response(404, b"not found\n")

    def metrics_body(self) -> Payload:
        """The body of the current snapshot and second, rendered by the first scrape that
        asks. The TTLs in it are those of that scrape's moment, at most a second old, as are
        the daemon's own counters: the resolution a scrape interval never notices."""
        snapshot = self._snapshot()
        now = self._clock.time()
        second = math.floor(now)
        cached = self._metrics
        if cached is not None and cached[0] is snapshot and cached[1] == second:
            return cached[2]
        body = Payload(self._renderer.render(snapshot, now))
        self._metrics = (snapshot, second, body)
        return body

    def _readyz(self) -> Response:
        now = self._clock.monotonic()  # staleness is measured on the monotonic clock
        stale_after = self._stale_after()
        stale = [s.name for s in self._snapshot().sources if not s.fresh(now, stale_after)]
        if stale:
            names = ", ".join(stale)
            return Response(503, f"not ready: no recent successful poll of {names}\n".encode())
        return Response(200, b"ready\n")
