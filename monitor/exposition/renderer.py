"""/metrics: the cached text of the current snapshot, the TTL lines at scrape time, then the
daemon's own metrics."""

from __future__ import annotations

from monitor.exposition.account_families import (
    AVAILABLE,
    EXECUTING,
    EXPIRY,
    INFO,
    MAX_JOBS,
    STATE,
    TTL,
    source_text,
)
from monitor.exposition.account_lines import AccountLines, Lines
from monitor.exposition.internal import InternalMetrics
from monitor.exposition.plan_families import PER_ACCOUNT as PLAN_ACCOUNT
from monitor.exposition.plan_families import plans_text
from monitor.exposition.textformat import Family, format_value
from monitor.snapshot import PerSnapshot, Snapshot

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class MetricsRenderer:
    """Renders /metrics. Keeps the text of the last snapshot it saw, and each account's lines
    for the next snapshot to reuse; `internal` (the daemon's own metrics) is rendered at each
    call."""

    def __init__(self, internal: InternalMetrics | None = None) -> None:
        self._internal = internal
        self._lines = AccountLines()
        self._rendered = PerSnapshot(self._render_snapshot)

    def render(self, snapshot: Snapshot, now_unix: float) -> bytes:
        body = self._rendered.of(snapshot).body(now_unix)
        if self._internal is None:
            return body
        return body + self._internal.render()

    def _render_snapshot(self, snapshot: Snapshot) -> RenderedSnapshot:
        return RenderedSnapshot(snapshot, self._lines)


class RenderedSnapshot:
    """The scrape-time-independent text of one snapshot, and what the TTL lines need:
    (`<name>{<labels>} ` prefix, expiry) pairs."""

    __slots__ = ("after_ttl", "before_ttl", "ttl_lines")

    def __init__(self, snapshot: Snapshot, lines: AccountLines) -> None:
        rows = lines.rows(snapshot)
        columns = tuple(zip(*rows, strict=True)) or ((),) * len(Lines._fields)
        expiry, ttl, state, max_jobs, executing, available, info, plans = columns
        # Kept encoded: a scrape then joins bytes once, instead of joining a 10 MB string and
        # encoding it again (at 10,000 accounts, two large allocations per scrape are slow).
        self.before_ttl = b"".join(_family(EXPIRY, expiry))
        self.ttl_lines = [pair for pair in ttl if pair is not None]
        after = [
            *_family(STATE, state),
            *_family(MAX_JOBS, max_jobs),
            *_family(EXECUTING, executing),
            *_family(AVAILABLE, available),
            *_family(INFO, info),
            source_text(snapshot).encode(),
            plans_text(snapshot, tuple(zip(*plans, strict=True)) or ((),) * len(PLAN_ACCOUNT)),
        ]
        self.after_ttl = b"".join(after)

    def body(self, now_unix: float) -> bytes:
        """The whole text, encoded, the TTL lines computed for `now_unix`."""
        ttl = ""
        if self.ttl_lines:
            ttl = TTL.header + "".join(
                f"{prefix}{format_value(expiry - now_unix)}\n" for prefix, expiry in self.ttl_lines
            )
        return b"".join((self.before_ttl, ttl.encode(), self.after_ttl))


def _family(family: Family, lines: tuple[bytes, ...]) -> tuple[bytes, ...]:
    """Header and lines; a family with no samples is left out entirely, as client_python
    does."""
    return (family.header.encode(), *lines) if any(lines) else ()
