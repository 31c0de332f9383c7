"""The connection cap fitted to the descriptor limit, beside what the rest of the daemon keeps."""

from __future__ import annotations

import pytest

from monitor.web.limits import ServerLimits, descriptor_reserve, fitted


def test_the_reserve_grows_with_sources_and_sinks() -> None:
    assert descriptor_reserve(1, 0) == 38
    assert descriptor_reserve(1, 1) == 41
    assert descriptor_reserve(3, 2) == 32 + 18 + 6


@pytest.mark.parametrize(
    ("open_files", "reserve", "connections", "batch"),
    [
        (None, 41, 256, 64),  # no limit: the documented cap of 256
        (1024, 41, 256, 64),  # the usual limit leaves the whole cap
        (400, 41, 256, 44),  # a smaller batch, the whole cap
        (300, 41, 195, 32),  # the cap and two batches fit the room
        (64, 41, 19, 2),  # `ulimit -n 64`: 120 idle connections made /healthz unreachable
        (48, 41, 5, 1),
        (40, 41, 1, 1),  # below the reserve: one of each, and a warning
    ],
)
def test_the_cap_and_two_batches_fit_what_the_limit_leaves(
    open_files: int | None, reserve: int, connections: int, batch: int
) -> None:
    limits = fitted(ServerLimits(request_seconds=3.0), open_files, reserve)
    assert (limits.max_connections, limits.accept_batch) == (connections, batch)
    assert limits.request_seconds == 3.0  # the rest as it was
    if open_files is not None and open_files - reserve >= 3:
        assert limits.max_connections + 2 * limits.accept_batch <= open_files - reserve
