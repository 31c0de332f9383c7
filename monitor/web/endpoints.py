"""The answers of the HTTP endpoints: /metrics, /healthz, /readyz, the status page at / and
its JSON twin at /api/v1/status.

/metrics, the page and its JSON are each rendered once per snapshot and whole second, and that
one body (and its one gzip form) is what every request of that second is sent: a hundred
concurrent scrapes or page loads cost one body.
"""

from __future__ import annotations

from collections.abc import Callable

from monitor import __version__
from monitor.clock import Clock
from monitor.exposition import CONTENT_TYPE, MetricsRenderer
from monitor.snapshot import PerSnapshot, Snapshot
from monitor.web.bodies import SecondBody
from monitor.web.messages import Payload, Request, Response
from monitor.web.statuspage import (
    PAGE_CONTENT_TYPE,
    PAGE_HEADERS,
    STATUS_JSON_PATH,
    AccountTable,
    PageFacts,
    PageInputs,
    PageRenderer,
    StatusView,
    account_table,
    build_view,
    status_document,
)

# Reachable without credentials when basic auth is on: it only says the event loop runs.
OPEN_PATHS = frozenset({"/healthz"})
JSON_CONTENT_TYPE = "application/json"


def _nothing_more() -> PageInputs:
    """The page of a monitor that has no alerting: the snapshot alone."""
    return PageInputs((), {}, PageFacts(__version__, ""))


class Endpoints:
    """Answers from whatever snapshot is current when a request comes in; `page` gives what
    the status page shows beyond it (firing alerts, recent deliveries, configuration facts)."""

    def __init__(
        self,
        snapshot: Callable[[], Snapshot],
        stale_after_seconds: Callable[[], float],
        renderer: MetricsRenderer,
        clock: Clock,
        page: Callable[[], PageInputs] = _nothing_more,
    ) -> None:
        self._snapshot = snapshot
        self._stale_after = stale_after_seconds
        self._clock = clock
        self._page_inputs = page
        self._pages = PageRenderer()
        # What the page and its JSON share of a snapshot: only the time left changes between
        # a poll (or a crossing) and the next.
        self._tables: PerSnapshot[AccountTable] = PerSnapshot(account_table)
        # The TTLs in a /metrics body are those of the first scrape of its second, as are the
        # daemon's own counters: the resolution a scrape interval never notices. The page and
        # its JSON are as old, at most, and so are their firing alerts and deliveries.
        self.bodies = {
            "/metrics": SecondBody(renderer.render),
            "/": SecondBody(self._render_page),
            STATUS_JSON_PATH: SecondBody(self._render_document),
        }

    async def handle(self, request: Request) -> Response:
        if request.path == "/metrics":
            return Response(200, self.metrics_body(), CONTENT_TYPE)
        if request.path == "/healthz":
            return Response(200, b"ok\n")
        if request.path == "/readyz":
            return self._readyz()
        if request.path == "/":
            return Response(200, self.body("/"), PAGE_CONTENT_TYPE, PAGE_HEADERS)
        if request.path == STATUS_JSON_PATH:
            return Response(200, self.body(STATUS_JSON_PATH), JSON_CONTENT_TYPE)
        return Response(404, b"not found\n")

    def metrics_body(self) -> Payload:
        return self.body("/metrics")

    def body(self, path: str) -> Payload:
        """The body of `path` for the current snapshot and second."""
        return self.bodies[path].get(self._snapshot(), self._clock.time())

    def _render_page(self, snapshot: Snapshot, now: float) -> bytes:
        return self._pages.render(self._view(snapshot, now))

    def _render_document(self, snapshot: Snapshot, now: float) -> bytes:
        return status_document(self._view(snapshot, now), now)

    def _view(self, snapshot: Snapshot, now: float) -> StatusView:
        return build_view(snapshot, self._page_inputs(), now, self._tables.of(snapshot))

    def _readyz(self) -> Response:
        now = self._clock.monotonic()  # staleness is measured on the monotonic clock
        stale_after = self._stale_after()
        stale = [s.name for s in self._snapshot().sources if not s.fresh(now, stale_after)]
        if stale:
            names = ", ".join(stale)
            return Response(503, f"not ready: no recent successful poll of {names}\n".encode())
        return Response(200, b"ready\n")
