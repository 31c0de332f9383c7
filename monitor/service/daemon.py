"""The running monitor: polls on a schedule, keeps the snapshot current, serves the endpoints.

The only module that knows every stage; the stages themselves are pure or single-purpose.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import replace

import httpx
import structlog

from monitor.alerts import BACKOFF_BASE_SECONDS, BACKOFF_CAP_SECONDS, Alerting
from monitor.clock import Clock, Instant, Schedule, SystemClock
from monitor.config import Config, Policy, load_config
from monitor.errors import ConfigError, Task, WebConfigError
from monitor.exposition import InternalMetrics, MetricsRenderer
from monitor.service.page_inputs import external_url, page_inputs
from monitor.service.plan_watch import PlanWatch
from monitor.service.poll_watch import PolledSource, PollWatch, every_polled, log_poll
from monitor.service.reload import ReloadDiff, diff_configs
from monitor.service.startup import bind, connection_limits, handle_signals, release_signals
from monitor.service.systemd import Lifecycle, Notifier, watchdog_interval
from monitor.service.systemd_status import systemd_status
from monitor.service.timekeeping import Timekeeping
from monitor.snapshot import Criteria, Snapshot
from monitor.tasks import TaskErrors, restart_pause
from monitor.upstream import PollResult
from monitor.web import (
    CHALLENGE,
    OPEN_PATHS,
    Endpoints,
    HttpServer,
    LoadedWebConfig,
    WebGuard,
    as_config_error,
    load_web_config,
)

log = structlog.get_logger("monitor.daemon")

# How long a stop waits for an in-flight poll beyond its own timeout.
STOP_GRACE_SECONDS = 5.0
# READY=1 waits for the first poll of every source, but never longer than this (systemd's
# TimeoutStartSec= is 90 s in the shipped unit: a slow upstream must not fail the start).
READY_TIMEOUT_SECONDS = 60.0


class Daemon:
    """Runs until `stop()` (or SIGTERM/SIGINT): polls every source, serves /metrics, sends
    alerts, reloads its configuration on SIGHUP and talks to systemd when $NOTIFY_SOCKET is
    set."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        environ: Mapping[str, str] | None = None,
        retry_backoff: tuple[float, float] = (BACKOFF_BASE_SECONDS, BACKOFF_CAP_SECONDS),
        schedule: Schedule | None = None,
    ) -> None:
        """`clock` is the host's clock and `schedule` runs the timed work (on APScheduler
        unless given); `transport` (upstream's HTTP transport), `retry_backoff` (the base and
        cap of notification retries) and `schedule` are for tests; `environ` is systemd's."""
        self._config = config
        local = clock or SystemClock()
        self._metrics = InternalMetrics()
        self._errors = TaskErrors(self._metrics.task_error)
        self._time = Timekeeping(
            local,
            self._evaluate,
            lambda seconds: self._alerting.clock_jumped(seconds),  # noqa: PLW0108 - made later
            schedule,
            hold_limit_seconds=self._stale_after_seconds(),
            errors=self._errors,
        )
        # The daemon's time: the host's, unless it is known to be wrong (see ClockWatch).
        self._clock = self._time.clock
        self._environ = os.environ if environ is None else environ
        started = Instant.of(self._clock)
        self._snapshot = Snapshot((), started.unix, Criteria.of(config), started.mono)
        self._evaluate_failures = 0
        # Read at each request: both change with every evaluation and reload.
        self._endpoints = Endpoints(
            lambda: self._snapshot,
            self._stale_after_seconds,
            MetricsRenderer(self._metrics),
            self._clock,
            page=lambda: page_inputs(self._config, self._alerting),
        )
        self._alerting = Alerting(
            config,
            self._clock,
            metrics=self._metrics,
            retry_backoff=retry_backoff,
            errors=self._errors,
        )
        self._alerting_started = False
        self._signals_handled = False
        self._web = WebGuard(None, on_reload=self._record_reload)
        self._server = self._new_server(config)
        self._systemd = Lifecycle(
            Notifier.from_environ(self._environ),
            watchdog_seconds=watchdog_interval(self._environ, os.getpid()),
            ready_timeout=READY_TIMEOUT_SECONDS,
            errors=self._errors,
        )
        self._reload_lock = asyncio.Lock()
        self._reload_problem: str | None = None
        self._record_reload(True)
        self._background: set[asyncio.Task[object]] = set()
        self._polls = PollWatch(
            config,
            self._time.schedule,
            self._clock,
            self._polled,
            transport=transport,
            errors=self._errors,
            upstream_clock=local,
        )
        self._policy = Policy(config.accounts, config.thresholds)
        self._plans = PlanWatch(
            config,
            self._clock,
            self._time.plan_news.request,
            self._time.schedule,
            transport=transport,
            errors=self._errors,
            upstream_clock=local,
        )
        self._stopping = asyncio.Event()
        self.started = asyncio.Event()

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    @property
    def metrics_port(self) -> int:
        return self._server.port

    def stop(self) -> None:
        """Ask the daemon to finish; safe to call from a signal handler."""
        self._stopping.set()

    async def run(self, *, handle_signals: bool = True) -> int:
        """Serve until stopped; 0 then. A bad setting found at start-up (web config, listen
        address, state dir) raises ConfigError, after what was started is closed."""
        try:
            await self._start(handle_signals)
        except BaseException:
            await self._abandon_start()
            raise
        log.info(
            "daemon.started",
            listen=f"{self._config.metrics.host or '*'}:{self.metrics_port}",
            tls=self._web.ssl_context() is not None,
            sources=list(self._polls.sources),
            interval_seconds=self._config.poll.interval.total_seconds(),
        )
        self._systemd.start(self._status)
        self.started.set()
        try:
            await self._stopping.wait()
        finally:
            await self._shutdown()
        return 0

    async def _start(self, handle: bool) -> None:
        path = self._config.metrics.web_config_file
        try:
            self._web.replace(load_web_config(path) if path is not None else None)
        except WebConfigError as exc:
            raise as_config_error(exc) from None
        await bind(self._server.start, self._config.metrics.listen)
        await self._alerting.start(self._external_url())
        self._alerting_started = True
        if handle:
            handle_signals(self.stop, self._on_sighup)
            self._signals_handled = True
        self._time.start()
        self._polls.start()
        self._plans.start(self._policy)
        self._plans.run()
        self._evaluate()

    async def _abandon_start(self) -> None:
        """Close what a failed start-up opened; save the state file only if it was read."""
        self._time.close()
        await self._polls.finish(0)
        await self._plans.stop()
        if self._alerting_started:
            await self._alerting.stop()
        await self._server.close()
        self._release_signals()
        self._systemd.close()

    def _release_signals(self) -> None:
        if self._signals_handled:
            release_signals()
            self._signals_handled = False

    def _new_server(self, config: Config) -> HttpServer:
        return HttpServer(
            self._endpoints.handle,
            config.metrics.host,
            config.metrics.port,
            tls=self._web.ssl_context,
            authorize=self._web.authorize,
            challenge=CHALLENGE,
            open_paths=OPEN_PATHS,
            limits=connection_limits(config),
        )

    def _external_url(self) -> str:
        """Where people reach this monitor: the links of notifications and of the page."""
        tls = self._web.ssl_context() is not None
        return external_url(self._config, tls=tls, port=self.metrics_port)

    # -- reload ----------------------------------------------------------------------------

    def _on_sighup(self) -> None:
        task = asyncio.get_running_loop().create_task(self.reload())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def reload(self) -> bool:
        """Re-read and validate the config file, then apply it (SIGHUP). A config that fails
        leaves the running one in force; either way the outcome is logged and exported."""
        async with self._reload_lock:
            if self._stopping.is_set():
                return False
            path = self._config.path
            if path is None:
                log.warning("config.reload_skipped", reason="not started from a config file")
                return False
            self._systemd.reloading()
            log.info("config.reloading", path=str(path))
            try:
                new = await asyncio.to_thread(load_config, path, self._environ)
                web_path = new.metrics.web_config_file
                try:
                    web = await asyncio.to_thread(load_web_config, web_path) if web_path else None
                except WebConfigError as exc:
                    raise as_config_error(exc) from None
                diff = await self._apply_config(new, web)
            except ConfigError as exc:
                self._record_reload(False, str(exc))
                log.error(
                    "config.reload_failed",
                    path=str(path),
                    key=exc.key,
                    problem=exc.problem,
                    kept="the running configuration",
                )
                ok = False
            except Exception as exc:
                # Not the file's fault: counted and logged as such; the daemon goes on.
                self._errors.report(Task.RELOAD, exc, path=str(path))
                self._record_reload(False)
                ok = False
            else:
                self._record_reload(True)
                log.info("config.reloaded", path=str(path), changed=list(diff.changed))
                ok = True
            self._systemd.reloaded(self._status())
            return ok

    async def _apply_config(self, new: Config, web: LoadedWebConfig | None) -> ReloadDiff:
        """Swap in `new`. Sources whose name persists keep their last good data and counters;
        their clients are rebuilt only when what they are built from changed; removed sources
        vanish; added ones are polled at once. Raises ConfigError, having changed nothing, if
        the new listen address cannot be bound."""
        diff = diff_configs(self._config, new)
        statedir = self._alerting.check(new)  # may fail: before anything changes
        if diff.rebind:  # the other step that can fail, so it goes first too
            server = self._new_server(new)
            try:
                await server.start()
            except OSError as exc:
                self._alerting.abandon(statedir)  # the new state dir check() locked
                raise ConfigError(
                    "metrics.listen", f"cannot listen on {new.metrics.listen}: {exc.strerror}"
                ) from None
            old_server, self._server = self._server, server
            await old_server.close()
            log.info("http.rebound", listen=f"{new.metrics.host or '*'}:{self.metrics_port}")
        self._server.cap_connections(connection_limits(new).max_connections)
        self._web.replace(web)
        self._config = new
        self._clock.hold_limit_seconds = self._stale_after_seconds()
        for name in diff.removed:
            self._clock.forget(name)
        self._policy = Policy(new.accounts, new.thresholds)
        self._polls.apply(new, diff)
        self._plans.apply(new, diff, self._policy)
        self._alerting.reconfigure(new, statedir, self._external_url())
        # New thresholds and account labels apply to the data already held, right now.
        self._evaluate()
        return diff

    def _record_reload(self, ok: bool, problem: str | None = None) -> None:
        """Every reload's outcome (SIGHUP, or the web config re-read as it changes); a failed
        one shows in `systemctl status` (STATUS=) until one succeeds."""
        self._metrics.reload_ok.set(1 if ok else 0)
        if ok:
            self._metrics.reload_time.set(self._clock.time())
            self._reload_problem = None
        else:
            self._reload_problem = problem or "metrics.web_config_file: see webconfig.reload_failed"
            self._systemd.status(self._status())

    def _status(self) -> str:
        return systemd_status(self._snapshot, self._reload_problem)

    async def _shutdown(self) -> None:
        log.info("daemon.stopping")
        # No reload may start (or still run) while things are torn down.
        await self._reload_lock.acquire()
        self._systemd.stopping()
        # APScheduler's executor cancels running jobs on shutdown, so let polls finish first.
        self._time.stop()
        await self._polls.finish(self._config.poll.timeout.total_seconds() + STOP_GRACE_SECONDS)
        await self._plans.stop()
        self._time.close()
        await asyncio.sleep(0)  # AsyncIOScheduler.shutdown runs on the next loop iteration
        await self._alerting.stop()
        await self._server.close()
        if self._background:
            await asyncio.wait(self._background, timeout=STOP_GRACE_SECONDS)
        self._release_signals()
        self._systemd.close()
        log.info("daemon.stopped")

    async def poll(self, name: str) -> PollResult | None:
        """Poll one source now, unless a poll of it is already running."""
        return await self._polls.poll(name)

    def _polled(self, source: PolledSource, result: PollResult, forgotten: list[str]) -> None:
        """A poll ended: check the clock, re-evaluate at once, log it, tell systemd."""
        name = source.config.name
        if result.clock is not None:
            self._clock.checked(name, result.clock)
        self._plans.polled(name, result, source.presence.missing.keys())
        if forgotten:
            log.info("accounts.removed", source=name, count=len(forgotten))
        self._evaluate()
        evaluation = next(s for s in self._snapshot.sources if s.name == name).evaluation
        source.mismatches_logged = log_poll(
            name,
            result,
            evaluation if result.accounts is not None else None,
            source.last_success.unix if source.last_success else None,
            source.mismatches_logged,
        )
        self._systemd.polled(
            self._status(),
            every_source_polled=every_polled(self._polls.sources.values()),
        )

    def _evaluate(self) -> None:
        """Evaluate every source at `now`, swap in the new snapshot, step the alerts, and
        schedule the next moment anything can change without a poll. An unexpected error
        is reported and the evaluation tried again after a pause: the timer must not be lost
        with it, or alerts would wait for the next poll."""
        with self._errors.guard(Task.EVALUATE) as turn:
            now = Instant.of(self._clock)
            sources = []
            soonest: float | None = None
            for source in self._polls.sources.values():
                snapshot, crossing = source.snapshot(
                    self._policy, self._config.metrics.account_label, now.unix
                )
                plans = self._plans.snapshot(snapshot.name)
                skew = self._clock.skew(snapshot.name)
                sources.append(replace(snapshot, plans=plans, clock_skew_seconds=skew))
                if crossing is not None and (soonest is None or crossing < soonest):
                    soonest = crossing
            # Criteria go with the snapshot so that rules can judge as the alerts do.
            self._snapshot = Snapshot(tuple(sources), now.unix, Criteria.of(self._config), now.mono)
            wake = self._alerting.evaluate(self._snapshot, soonest)
            # Re-evaluate when something changes by itself (a threshold crossing, a repeat
            # due, a source going stale), so states and alerts are on time, not at the next
            # poll.
            self._time.evaluate_after(None if wake is None else wake - now.unix)
        if turn.failed:
            self._evaluate_failures += 1
            self._time.evaluate_after(restart_pause(self._evaluate_failures))
        else:
            self._evaluate_failures = 0

    def _stale_after_seconds(self) -> float:
        return self._config.poll.stale_after.total_seconds()
