"""The daemon's own metrics: alerts firing, notifications, configuration reloads, task errors,
state saves, build and process. prometheus_client objects in a registry of their own (never
the global one), shown on /metrics after the account families."""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, ProcessCollector, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from monitor import __version__
from monitor.config import Severity
from monitor.errors import DeliveryFailure, DeliveryOutcome, SaveFailure, Task
from monitor.exposition.textformat import Family

ALERTS_FIRING = Family(
    "pixverse_monitor_alerts_firing", "gauge", "Alerts firing, by severity.", ("severity",)
)
NOTIFICATIONS = Family(
    "pixverse_monitor_notifications_total",
    "counter",
    "Notification attempts by sink and outcome.",
    ("sink", "outcome"),
)
NOTIFICATION_FAILURES = Family(
    "pixverse_monitor_notification_failures_total",
    "counter",
    "Failed notification attempts, and notifications given up unsent, by sink and reason.",
    ("sink", "reason"),
)
PENDING = Family(
    "pixverse_monitor_notifications_pending",
    "gauge",
    "Notifications in the durable outbox, not yet delivered.",
    ("sink",),
)
RELOAD_OK = Family(
    "pixverse_monitor_config_last_reload_successful",
    "gauge",
    "1 if the last configuration reload (SIGHUP, or a change of the web config file) succeeded.",
)
RELOAD_TIME = Family(
    "pixverse_monitor_config_last_reload_success_timestamp_seconds",
    "gauge",
    "Unix time of the last successful configuration load or reload.",
)
TASK_ERRORS = Family(
    "pixverse_monitor_task_errors_total",
    "counter",
    "Unexpected errors in the daemon's long-lived tasks, by task; each is logged as task.failed "
    "and the task goes on.",
    ("task",),
)
STATE_SAVE_FAILURES = Family(
    "pixverse_monitor_state_save_failures_total",
    "counter",
    "Saves of the state file (alerts and the outbox) that failed, or left an entry out, by "
    "reason; each is logged as state.save_failed. Until a save succeeds, a restart repeats "
    "or forgets what changed since the last one.",
    ("reason",),
)
BUILD_INFO = Family(
    "pixverse_monitor_build_info",
    "gauge",
    "Version of pixverse-monitor; always 1.",
    ("version", "python_version"),
)
INTERNAL_FAMILIES = (
    ALERTS_FIRING,
    NOTIFICATIONS,
    NOTIFICATION_FAILURES,
    PENDING,
    RELOAD_OK,
    RELOAD_TIME,
    TASK_ERRORS,
    STATE_SAVE_FAILURES,
    BUILD_INFO,
)


def _gauge(family: Family, registry: CollectorRegistry) -> Gauge:
    return Gauge(family.name, family.help, family.labels, registry=registry)


def _counter(family: Family, registry: CollectorRegistry) -> Counter:
    return Counter(family.name, family.help, family.labels, registry=registry)


class InternalMetrics:
    """One per daemon. The alerting side counts into it, the daemon records reloads in it,
    and the renderer appends `render()` to every /metrics body."""

    def __init__(self, *, process: bool = True) -> None:
        self.registry = CollectorRegistry()
        self.alerts_firing = _gauge(ALERTS_FIRING, self.registry)
        self.notifications = _counter(NOTIFICATIONS, self.registry)
        self.notification_failures = _counter(NOTIFICATION_FAILURES, self.registry)
        self.pending = _gauge(PENDING, self.registry)
        self.reload_ok = _gauge(RELOAD_OK, self.registry)
        self.reload_time = _gauge(RELOAD_TIME, self.registry)
        self.task_errors = _counter(TASK_ERRORS, self.registry)
        for task in Task:
            self.task_errors.labels(task.value)
        self.state_save_failures = _counter(STATE_SAVE_FAILURES, self.registry)
        for reason in SaveFailure:
            self.state_save_failures.labels(reason.value)
        build_info = _gauge(BUILD_INFO, self.registry)
        build_info.labels(__version__, platform.python_version()).set(1)
        for severity in Severity:
            self.alerts_firing.labels(severity.value).set(0)
        self.reload_ok.set(1)
        if process:
            # RSS and open file descriptors: the first thing anyone checks on a daemon.
            ProcessCollector(registry=self.registry)
        self._text = _WithoutCreated(self.registry)
        self._sinks: set[str] = set()

    def add_sink(self, sink: str, pending: Callable[[], int]) -> None:
        """Every outcome and reason of a new sink at 0, so that rate() sees the first one;
        `pending` is read at each scrape."""
        self._sinks.add(sink)
        for outcome in DeliveryOutcome:
            self.notifications.labels(sink, outcome.value)
        for reason in DeliveryFailure:
            self.notification_failures.labels(sink, reason.value)
        self.pending.labels(sink).set_function(pending)

    def remove_sink(self, sink: str) -> None:
        """A sink gone from the config goes from /metrics."""
        self._sinks.discard(sink)
        for outcome in DeliveryOutcome:
            self.notifications.remove(sink, outcome.value)
        for reason in DeliveryFailure:
            self.notification_failures.remove(sink, reason.value)
        self.pending.remove(sink)

    def count(self, sink: str, outcome: DeliveryOutcome, reason: DeliveryFailure | None) -> None:
        """One delivery outcome; a failure's reason too, when there was one. An attempt that
        ends after its sink was removed (by a reload) is not counted: it would bring the
        removed sink's series back."""
        if sink not in self._sinks:
            return
        self.notifications.labels(sink, outcome.value).inc()
        if reason is not None:
            self.notification_failures.labels(sink, reason.value).inc()

    def task_error(self, task: Task) -> None:
        self.task_errors.labels(task.value).inc()

    def state_save_failed(self, reason: SaveFailure) -> None:
        self.state_save_failures.labels(reason.value).inc()

    def render(self) -> bytes:
        return generate_latest(self._text)


class _WithoutCreated(Collector):
    """The registry's families without the `<name>_created` samples prometheus_client adds to
    counters: an OpenMetrics idea that the 0.0.4 text format can only show as one more gauge
    family per counter, which the spec's metric list does not have."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterable[Metric]:
        for metric in self._registry.collect():
            created = metric.name + "_created"
            metric.samples = [s for s in metric.samples if s.name != created]
            yield metric
