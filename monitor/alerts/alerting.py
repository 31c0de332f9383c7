"""The alert side of the daemon: the book of firing alerts, the state file it lives in, and
delivery of what the engine says is due. The engine itself (engine.py) is pure."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import structlog

from monitor.alerts.delivery import Delivery
from monitor.alerts.engine import (
    AlertBook,
    AlertEvent,
    AlertStatus,
    EngineSettings,
    FiringAlert,
    Reason,
    conditions,
    firing_counts,
    next_wake,
    step,
)
from monitor.alerts.outbox import BACKOFF_BASE_SECONDS, BACKOFF_CAP_SECONDS, Notification
from monitor.alerts.recent import RecentDeliveries
from monitor.alerts.sinks import Sender
from monitor.alerts.statefile import StateFile
from monitor.alerts.statelock import StateLock
from monitor.clock import Clock
from monitor.config import Config
from monitor.errors import SaveFailure, Task
from monitor.exposition import InternalMetrics
from monitor.snapshot import Criteria, Snapshot
from monitor.tasks import TaskErrors, wait_event

log = structlog.get_logger("monitor.alerting")

# The state file is saved at once, unless it was saved less than this ago: then at the end of
# that interval. A burst of a thousand deliveries then costs a few saves, not a thousand.
SAVE_INTERVAL_SECONDS = 0.2


def engine_settings(config: Config) -> EngineSettings:
    return EngineSettings(Criteria.of(config), config.alerts.repeat_interval.total_seconds())


class StateDir(NamedTuple):
    """A state directory in use: its file, and the lock that keeps other daemons out."""

    statefile: StateFile
    lock: StateLock

    @classmethod
    def take(cls, directory: Path) -> StateDir:
        """Make it (if need be), prove it writable and lock it; ConfigError naming
        alerts.state_dir when any of that fails."""
        statefile = StateFile(directory)
        statefile.prepare()
        lock = StateLock(directory)
        lock.acquire()
        return cls(statefile, lock)


class Alerting:
    """Steps the alert book at each evaluation, keeps it and the outbox on disk, and hands
    notifications to one delivery worker per sink."""

    def __init__(
        self,
        config: Config,
        clock: Clock,
        *,
        metrics: InternalMetrics,
        retry_backoff: tuple[float, float] = (BACKOFF_BASE_SECONDS, BACKOFF_CAP_SECONDS),
        errors: TaskErrors | None = None,
    ) -> None:
        self._clock = clock
        self._errors = errors or TaskErrors()
        self._metrics = metrics
        self._settings = engine_settings(config)
        self._statefile = StateFile(config.alerts.state_dir)
        self._lock: StateLock | None = None  # taken at start
        self._book: AlertBook = {}
        self._last_save = float("-inf")  # monotonic
        self._dirty = False  # changed since the last save began
        self._hurry = asyncio.Event()  # save at once: the daemon is stopping
        self._saver: asyncio.Task[None] | None = None
        self._sender = Sender(clock, external_url="")
        self._delivery = Delivery(
            config.sinks,
            self._sender,
            clock,
            metrics=metrics,
            persist=self.persist,
            firing=self.firing,
            backoff_base=retry_backoff[0],
            backoff_cap=retry_backoff[1],
            errors=self._errors,
        )

    async def start(self, external_url: str) -> None:
        """Lock the state dir and read back the book and the outbox; ConfigError if the dir is
        unusable or another daemon uses it."""
        taken = StateDir.take(self._statefile.directory)
        try:
            self._book, pending = self._statefile.load()
        except BaseException:
            taken.lock.release()
            raise
        self._lock = taken.lock
        self._count_firing()
        self._sender.external_url = external_url
        await self._delivery.start()
        self._delivery.restore(pending)

    async def stop(self) -> None:
        """Stop delivery and save what is still owed, waiting for the write; then let go of
        the state dir."""
        await self._delivery.stop()
        self._hurry.set()
        self.persist()
        if self._saver is not None:
            await self._saver
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def check(self, config: Config) -> StateDir | None:
        """What `reconfigure` will need, prepared without changing anything else: the new
        state dir, locked, when it moves (ConfigError if it is unusable or in use). A reload
        that fails after this hands it to `abandon`."""
        if config.alerts.state_dir == self._statefile.directory:
            return None
        return StateDir.take(config.alerts.state_dir)

    def abandon(self, prepared: StateDir | None) -> None:
        """A reload failed after `check`: let go of the state dir it took."""
        if prepared is not None:
            prepared.lock.release()

    def reconfigure(self, config: Config, prepared: StateDir | None, external_url: str) -> None:
        """Apply a reloaded config: the book survives; sinks that stay keep their outbox."""
        self._settings = engine_settings(config)
        self._sender.external_url = external_url
        self._delivery.set_sinks(config.sinks)
        if prepared is not None:
            log.info("state.moved", old=str(self._statefile.path), new=str(prepared.statefile.path))
            self._statefile = prepared.statefile
            old, self._lock = self._lock, prepared.lock
            if old is not None:
                self._release_after_saving(old)
        self.persist()

    def _release_after_saving(self, lock: StateLock) -> None:
        """Let go of the old state dir once a write to it, if one is running, is over."""
        saver = self._saver
        if saver is None or saver.done():
            lock.release()
        else:
            saver.add_done_callback(lambda _: lock.release())

    def evaluate(self, snapshot: Snapshot, crossing: float | None) -> float | None:
        """Step the book on a new snapshot, send what is due, and return the next moment the
        alerts may change by themselves (`crossing` is the next threshold crossing)."""
        now = snapshot.taken_at_unix
        held = conditions(snapshot, self._book, self._settings, now)
        self._book, events = step(self._book, held, now, self._settings.repeat_interval_seconds)
        self._count_firing()
        if events:
            _announce(events)
            self._delivery.enqueue(events, now)  # no second reading of a clock that may jump
            self.persist()
        return next_wake(snapshot, self._book, self._settings, crossing, now)

    def clock_jumped(self, seconds: float) -> None:
        """The daemon's time jumped by `seconds`: what is due at a wall time (repeats, retries,
        held-back ends) moves with it, so that what was due in a minute still is."""
        self._book = {
            key: dataclasses.replace(firing, notified_unix=firing.notified_unix + seconds)
            for key, firing in self._book.items()
        }
        self._delivery.shift(seconds)
        self.persist()

    def firing(self) -> Sequence[FiringAlert]:
        return list(self._book.values())

    def pending(self) -> list[Notification]:
        """The outbox: what is still owed to the sinks."""
        return self._delivery.pending()

    @property
    def external_url(self) -> str:
        """Where people reach the monitor, as the notifications link to it."""
        return self._sender.external_url

    @property
    def recent(self) -> RecentDeliveries:
        """The last deliveries to each sink, for the status page."""
        return self._delivery.recent

    def persist(self) -> None:
        """Save the book and the outbox: now, or within SAVE_INTERVAL_SECONDS during a burst.
        Encoded on the event loop, where they live; written (fsync and all) in a thread,
        one write at a time. What a crash keeps from being saved is never lost: an alert
        missing from the saved book is found again and notified anew; a delivery not yet
        recorded is sent again."""
        self._dirty = True
        if self._saver is None or self._saver.done():
            self._saver = asyncio.get_running_loop().create_task(self._save_while_dirty())

    async def _save_while_dirty(self) -> None:
        while self._dirty:
            wait = self._last_save + SAVE_INTERVAL_SECONDS - time.monotonic()
            if wait > 0 and not self._hurry.is_set():
                await wait_event(self._hurry, wait)
            self._dirty = False
            self._last_save = time.monotonic()
            statefile = self._statefile  # a reload may move it while the write runs
            with self._errors.guard(Task.STATE_SAVE, path=str(statefile.path)):
                encoded = statefile.encode(self._book, self._delivery.pending())
                if encoded.left_out:
                    self._save_failed(
                        statefile,
                        SaveFailure.ENTRY_TOO_LONG,
                        encoded.left_out[0],
                        left_out=len(encoded.left_out),
                    )
                if encoded.data is None:
                    self._save_failed(statefile, SaveFailure.TOO_LARGE, "over the load limit")
                    continue
                try:
                    await asyncio.to_thread(statefile.write, encoded.data)
                except OSError as exc:
                    # Alerts keep flowing from memory; the next save may succeed.
                    self._save_failed(statefile, SaveFailure.WRITE_ERROR, str(exc))

    def _save_failed(
        self, statefile: StateFile, reason: SaveFailure, error: str, **fields: object
    ) -> None:
        self._metrics.state_save_failed(reason)
        log.error(
            "state.save_failed",
            path=str(statefile.path),
            reason=reason.value,
            error=error,
            **fields,
        )

    def _count_firing(self) -> None:
        for severity, count in firing_counts(self._book).items():
            self._metrics.alerts_firing.labels(severity.value).set(count)


def _announce(events: list[AlertEvent]) -> None:
    for event in events:
        alert = event.alert
        if event.reason is Reason.LABELS_CHANGED:
            name = "alert.relabelled"  # it goes on firing: not a start
        else:
            name = "alert.firing" if event.status is AlertStatus.FIRING else "alert.resolved"
        log.info(
            name,
            alertname=alert.name.value,
            severity=alert.severity.value,
            source=alert.source,
            account=alert.account or None,
            reason=event.reason.value,
            id=event.id,
            summary=alert.summary,
        )
