"""Content-coding negotiation, the shared body and its one gzip form, the per-second body of
/metrics, and the rate-limited log events."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import monitor.web.messages
from monitor.exposition import MetricsRenderer
from monitor.snapshot import Snapshot
from monitor.testing.fakeclock import FakeClock
from monitor.web import Endpoints
from monitor.web.messages import GZIP_THREAD_MIN_BYTES, Payload, gzip_coding
from monitor.web.throttle import Throttle
from tests.helpers import async_eventually


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("gzip", "gzip"),
        ("gzip, deflate, br", "gzip"),
        ("Gzip;Q=0.5", "gzip"),
        ("x-gzip", "x-gzip"),
        ("x-gzip, gzip;q=0", None),  # the registered name decides
        ("gzip;q=0", None),
        ("gzip;q=0.", None),
        ("gzip;q=0.001", "gzip"),
        ("gzip;q=1.", "gzip"),
        ("gzip;q=1.000", "gzip"),
        ("gzip;q=1.0001", None),
        ("gzip;q=2", None),
        ("gzip;q=", None),
        ("gzip;q=\u00b2", None),
        ("gzip;level=1", "gzip"),
        ("gzip;q=0.5;level=1", "gzip"),
        ("gzip, gzip;q=0", None),  # named twice: refusing wins
        ("identity", None),
        ("identity;q=0.4, gzip;q=0.5", "gzip"),
        ("identity;q=0.6, gzip;q=0.5", None),
        ("identity;q=0.5, gzip;q=0.5", "gzip"),  # a tie goes to the server's preference
        ("*", "gzip"),
        ("*;q=0", None),
        ("*;q=0, identity", None),
        ("br, *;q=0.1", "gzip"),
        ("ungzip", None),
        ("gzipped", None),
        (" , ,gzip , ", "gzip"),
    ],
)
def test_gzip_coding(header: str | None, expected: str | None) -> None:
    assert gzip_coding(header) == expected


@given(st.text())
def test_gzip_coding_takes_any_text(header: str) -> None:
    assert gzip_coding(header) in (None, "gzip", "x-gzip")


@pytest.fixture
def compressions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = gzip.compress

    def counting(data: bytes, level: int = 9, **kwargs: Any) -> bytes:
        calls.append(len(data))
        return real(data, level, **kwargs)

    monkeypatch.setattr(monitor.web.messages.gzip, "compress", counting)
    return calls


@pytest.mark.anyio
@pytest.mark.parametrize("size", [2000, GZIP_THREAD_MIN_BYTES + 1])
async def test_a_payload_is_compressed_once_for_every_requester(
    compressions: list[int], size: int
) -> None:
    payload = Payload(b"x" * size)
    results = await asyncio.gather(*(payload.gzipped() for _ in range(50)))
    assert compressions == [size]
    assert all(result is results[0] for result in results)
    assert gzip.decompress(results[0]) == payload.data


@pytest.mark.anyio
async def test_a_requester_going_away_does_not_cancel_the_shared_compression(
    compressions: list[int],
) -> None:
    payload = Payload(b"y" * (GZIP_THREAD_MIN_BYTES * 4))
    first = asyncio.ensure_future(payload.gzipped())
    second = asyncio.ensure_future(payload.gzipped())
    await asyncio.sleep(0)
    first.cancel()
    assert gzip.decompress(await second) == payload.data
    assert len(compressions) == 1


def test_metrics_body_is_shared_within_a_second_of_one_snapshot() -> None:
    clock = FakeClock(1_000_000.25)
    snapshot = Snapshot((), clock.time())
    current: list[Snapshot] = [snapshot]
    renders: list[float] = []
    renderer = MetricsRenderer()
    render: Callable[[Snapshot, float], bytes] = renderer.render

    def counting(snapshot: Snapshot, now: float) -> bytes:
        renders.append(now)
        return render(snapshot, now)

    renderer.render = counting  # type: ignore[method-assign]
    endpoints = Endpoints(lambda: current[0], lambda: 60.0, renderer, clock)

    first = endpoints.metrics_body()
    clock.set(1_000_000.95)  # the same second
    assert endpoints.metrics_body() is first
    clock.set(1_000_001.05)  # the next second
    second = endpoints.metrics_body()
    assert second is not first
    current[0] = Snapshot((), clock.time())  # a poll: a new snapshot, the same second
    assert endpoints.metrics_body() is not second
    assert renders == [1_000_000.25, 1_000_001.05, 1_000_001.05]


@pytest.mark.anyio
async def test_a_throttle_says_it_once_then_sums_per_window() -> None:
    lines: list[tuple[str, dict[str, Any]]] = []

    def log(event: str, **fields: Any) -> None:
        lines.append((event, fields))

    throttle = Throttle(log, "x.happened", window_seconds=0.2, limit=3)
    for _ in range(100):
        throttle.note("a")
    throttle.note("b", 5)
    assert lines == [("x.happened", {"limit": 3, "a": 1, "window_seconds": 0.2})]

    async def summed() -> bool:
        return len(lines) == 2

    await async_eventually(summed, what="the window's sum")
    assert lines[1] == ("x.happened", {"limit": 3, "a": 99, "b": 5, "window_seconds": 0.2})
    await asyncio.sleep(0.3)  # a quiet window ends the series ...
    throttle.note("c")
    assert lines[2][1]["c"] == 1  # ... so the next one is said at once
    throttle.close()
    assert len(lines) == 3
