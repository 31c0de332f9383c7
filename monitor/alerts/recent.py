"""The last deliveries to each sink, for the status page: when, what about, the outcome and,
on failure, the reason code and a short why. In memory, bounded (20 a sink), and built so that
it cannot hold a secret or a sink URL: it keeps names, enums and numbers, and the one text it
takes is scrubbed on the way in."""

from __future__ import annotations

import re
import unicodedata
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from monitor.alerts.engine import AlertEvent, FiringAlert
from monitor.clock import Clock
from monitor.errors import DeliveryFailure, DeliveryOutcome
from monitor.secret import scrub

RECENT_PER_SINK = 20
# A why longer than this is cut: a page row, not a log line.
MAX_WHY_LENGTH = 160
# Anything that looks like a URL, with a scheme or as user:password@host: a sink's URL may be
# its credential (Slack), and an error text may repeat it.
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S*|\S+:\S*@\S+")
_RESEND = "resend"


@dataclass(frozen=True, slots=True)
class Subject:
    """What a delivery was about: one alert, or several (a re-send of every firing alert)."""

    status: str  # firing | resolved | resend
    alertname: str  # the alert's, or "" for several
    severity: str  # the highest of them
    source: str  # "" for several sources
    account: str  # "" for an alert about a whole source, or several
    alerts: int = 1

    @classmethod
    def of(cls, events: Sequence[AlertEvent]) -> Subject:
        """The alert events one notification carries."""
        first = events[0]
        if len(events) == 1:
            alert = first.alert
            return cls(
                first.status.value,
                alert.name.value,
                alert.severity.value,
                alert.source,
                alert.account,
            )
        return cls(
            first.status.value,
            _common(e.alert.name.value for e in events),
            max((e.alert.severity for e in events), key=lambda s: s.rank).value,
            _common(e.alert.source for e in events),
            _common(e.alert.account for e in events),
            len(events),
        )

    @classmethod
    def resend(cls, firing: Sequence[FiringAlert]) -> Subject:
        """Alertmanager's periodic re-send of every firing alert."""
        if len(firing) == 1:
            alert = firing[0].alert
            return cls(_RESEND, alert.name.value, alert.severity.value, alert.source, alert.account)
        severity = max((f.alert.severity for f in firing), key=lambda s: s.rank, default=None)
        return cls(
            _RESEND,
            _common(f.alert.name.value for f in firing),
            severity.value if severity is not None else "",
            _common(f.alert.source for f in firing),
            _common(f.alert.account for f in firing),
            len(firing),
        )


def _common(values: Iterable[str]) -> str:
    """The value all share, or "" when they differ."""
    found = set(values)
    return found.pop() if len(found) == 1 else ""


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """One outcome, as the page and /api/v1/status show it."""

    at_unix: float
    sink: str
    subject: Subject
    outcome: DeliveryOutcome
    reason: DeliveryFailure | None  # None when delivered
    why: str | None  # scrubbed, short; None when delivered


def short_why(text: str | None) -> str | None:
    """`text` fit for the page: every secret this process holds masked, anything shaped like
    a URL replaced, control characters left out, cut to MAX_WHY_LENGTH."""
    if text is None:
        return None
    text = " ".join(_URL.sub("<url>", scrub(text)).split())
    text = "".join(c for c in text if not unicodedata.category(c).startswith("C"))
    if len(text) > MAX_WHY_LENGTH:
        text = text[: MAX_WHY_LENGTH - 1] + "…"
    return text


class RecentDeliveries:
    """A ring of the last RECENT_PER_SINK outcomes per sink, newest last. Delivery reports
    each outcome it counts in the metrics here, with the same reason code."""

    def __init__(self, clock: Clock, per_sink: int = RECENT_PER_SINK) -> None:
        self._clock = clock
        self._per_sink = per_sink
        self._rings: dict[str, deque[DeliveryRecord]] = {}

    def record(
        self,
        sink: str,
        outcome: DeliveryOutcome,
        reason: DeliveryFailure | None,
        subject: Subject,
        error: str | None = None,
    ) -> None:
        """One outcome, now. `error` is the failure's text; only its scrubbed, shortened
        form is kept (see `short_why`)."""
        ring = self._rings.get(sink)
        if ring is None:
            ring = self._rings[sink] = deque(maxlen=self._per_sink)
        why = None if outcome is DeliveryOutcome.DELIVERED else short_why(error)
        ring.append(DeliveryRecord(self._clock.time(), sink, subject, outcome, reason, why))

    def forget(self, sink: str) -> None:
        """The sink is gone from the configuration: so are its records."""
        self._rings.pop(sink, None)

    def of(self, sink: str) -> tuple[DeliveryRecord, ...]:
        """The sink's records, newest first."""
        return tuple(reversed(self._rings.get(sink, ())))
