"""Password checks on a small dedicated thread pool, taken in turns between peers, so that a
flood of wrong passwords from one place cannot hold up a correct one from another.

Each peer (an IPv4 address, an IPv6 /64) has its own queue of at most `per_peer` checks (more
are refused at once). When a worker is free it takes the next check of the peer whose last turn
is longest ago, peers that failed a check recently ("suspects") going behind the others. And
suspects' checks may hold only `suspect_workers` of the `workers` threads at once, so with the
defaults (two threads, one for suspects) a client that has not failed lately never waits for a
flood's check: it starts at once unless another blameless check is running.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

WORKERS = 2
# bcrypt is CPU-bound: a flood of wrong passwords gets one core at most, the other is the
# event loop's and, when one comes, a good login's.
SUSPECT_WORKERS = 1
PER_PEER = 4
SUSPECT_SECONDS = 300.0  # how long a failed check puts a peer at the back
MAX_SUSPECTS = 4096  # memory bound; the least recently failed are forgotten first


def peer_key(address: str) -> str:
    """Whose turn a check belongs to: the IPv4 address, or the /64 of an IPv6 address (one
    host can use a whole /64)."""
    try:
        ip = ipaddress.ip_address(address.partition("%")[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


@dataclass(eq=False)
class _Job:
    check: Callable[[], bool]
    future: asyncio.Future[bool]


class CheckQueue:
    """Runs blocking checks (bcrypt) off the event loop, fairly between peers."""

    def __init__(
        self,
        workers: int = WORKERS,
        per_peer: int = PER_PEER,
        suspect_seconds: float = SUSPECT_SECONDS,
        suspect_workers: int = SUSPECT_WORKERS,
    ) -> None:
        self._workers = workers
        self._suspect_workers = min(suspect_workers, workers)
        self._per_peer = per_peer
        self._suspect_seconds = suspect_seconds
        self._pool: ThreadPoolExecutor | None = None
        self._waiting: dict[str, deque[_Job]] = {}  # peers with checks not started yet
        self._outstanding: dict[str, int] = {}  # waiting or running, per peer
        self._last_turn: dict[str, int] = {}  # per peer with checks outstanding
        self._turns = itertools.count()
        self._running = 0
        self._running_suspects = 0
        self._suspects: OrderedDict[str, float] = OrderedDict()  # peer -> until (monotonic)

    async def run(self, peer: str, check: Callable[[], bool]) -> bool | None:
        """The result of `check()`, run in the pool when `peer`'s turn comes; None at once
        when `peer` already has `per_peer` checks outstanding."""
        if self._outstanding.get(peer, 0) >= self._per_peer:
            return None
        job = _Job(check, asyncio.get_running_loop().create_future())
        self._outstanding[peer] = self._outstanding.get(peer, 0) + 1
        self._waiting.setdefault(peer, deque()).append(job)
        self._dispatch()
        try:
            return await asyncio.shield(job.future)
        except asyncio.CancelledError:
            # The requester went away: a check not started yet is dropped; a running one
            # finishes (a thread cannot be stopped) and is counted when it does.
            queue = self._waiting.get(peer)
            if queue is not None and job in queue:
                queue.remove(job)
                if not queue:
                    del self._waiting[peer]
                self._release(peer)
            raise

    def failed(self, peer: str) -> None:
        """`peer` gave a wrong password: its later checks wait behind everyone else's."""
        self._suspects.pop(peer, None)
        self._suspects[peer] = time.monotonic() + self._suspect_seconds
        while len(self._suspects) > MAX_SUSPECTS:
            self._suspects.popitem(last=False)

    def close(self) -> None:
        """Refuse what waits and stop the pool without waiting for a check in progress."""
        for queue in self._waiting.values():
            for job in queue:
                if not job.future.done():
                    job.future.cancel()
        self._waiting.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _suspect(self, peer: str) -> bool:
        until = self._suspects.get(peer)
        if until is None:
            return False
        if until < time.monotonic():
            del self._suspects[peer]
            return False
        return True

    def _next_peer(self) -> str | None:
        """Blameless before suspect; then whoever's last turn is longest ago (never first).
        None when only suspects wait and they hold all the threads they may."""
        candidates = list(self._waiting)
        if self._running_suspects >= self._suspect_workers:
            candidates = [p for p in candidates if not self._suspect(p)]
        if not candidates:
            return None
        return min(candidates, key=lambda p: (self._suspect(p), self._last_turn.get(p, -1)))

    def _dispatch(self) -> None:
        while self._running < self._workers and self._waiting:
            peer = self._next_peer()
            if peer is None:
                return
            queue = self._waiting[peer]
            job = queue.popleft()
            if not queue:
                del self._waiting[peer]
            self._last_turn[peer] = next(self._turns)
            self._start(peer, job, suspect=self._suspect(peer))

    def _start(self, peer: str, job: _Job, *, suspect: bool) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="basic-auth")
        self._running += 1
        self._running_suspects += suspect
        running = asyncio.get_running_loop().run_in_executor(self._pool, job.check)

        def done(finished: asyncio.Future[bool]) -> None:
            self._running -= 1
            self._running_suspects -= suspect
            self._release(peer)
            if not job.future.done():
                if finished.cancelled():
                    job.future.cancel()
                elif (exc := finished.exception()) is not None:
                    job.future.set_exception(exc)
                else:
                    job.future.set_result(finished.result())
            self._dispatch()

        running.add_done_callback(done)

    def _release(self, peer: str) -> None:
        left = self._outstanding[peer] - 1
        if left:
            self._outstanding[peer] = left
        else:
            del self._outstanding[peer]
            self._last_turn.pop(peer, None)
