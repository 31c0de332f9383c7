"""A response body rendered once per snapshot and whole second, and shared by every request of
that second (with its one gzip form): a hundred concurrent scrapes or page loads cost one
render and one body."""

from __future__ import annotations

import math
from collections.abc import Callable

from monitor.snapshot import Snapshot
from monitor.web.messages import Payload


class SecondBody:
    """The body of one path: `render(snapshot, now)` is called by the first request of a
    snapshot and second, and its Payload is what every other request of that moment gets.
    What a body shows is therefore at most a second old."""

    def __init__(self, render: Callable[[Snapshot, float], bytes]) -> None:
        self._render = render
        self._cached: tuple[Snapshot, int, Payload] | None = None
        self.renders = 0  # how many bodies were made: the proof that requests share them

    def get(self, snapshot: Snapshot, now: float) -> Payload:
        second = math.floor(now)
        cached = self._cached
        if cached is not None and cached[0] is snapshot and cached[1] == second:
            return cached[2]
        body = Payload(self._render(snapshot, now))
        self.renders += 1
        self._cached = (snapshot, second, body)
        return body
