"""Snapshot to Prometheus text format (0.0.4), the account series rendered once per snapshot.

Only the TTL family depends on scrape time; everything else is text cached per snapshot, which
is what makes a scrape of 10,000 accounts cheap (see benchmarks/).
"""

from __future__ import annotations

import math
import platform
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest

from monitor import __version__
from monitor.errors import Outcome
from monitor.evaluate import STATES
from monitor.snapshot import Limits, Snapshot, SourceSnapshot

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = Sequence[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Family:
    """A small metric family built at scrape time (daemon internals, not accounts)."""

    name: str
    type: str
    help: str
    samples: Sequence[tuple[Labels, float]]


HELP = {
    "pixverse_account_token_expiry_timestamp_seconds": "Unix time the account's JWT expires.",
    "pixverse_account_token_ttl_seconds": "Seconds until the JWT expires, at scrape time; "
    "negative once expired.",
    "pixverse_account_state": "1 for the account's current token state, 0 for the others.",
    "pixverse_account_max_jobs": "maxJobs configured for the account.",
    "pixverse_account_jobs_executing": "Jobs executing on the account, from /scheduler/available.",
    "pixverse_account_jobs_available": "Free job slots of the account, from /scheduler/available.",
    "pixverse_account_info": "Account identity and where its expiry came from; always 1.",
    "pixverse_accounts": "Accounts per token state.",
    "pixverse_capacity_jobs": "Sum of maxJobs per token state.",
    "pixverse_capacity_usable_jobs": "Sum of maxJobs over accounts in ok, warning or critical.",
    "pixverse_capacity_free_jobs": "Sum of available slots over usable accounts.",
    "pixverse_capacity_min_usable_jobs": "thresholds.min_usable_capacity: PixverseCapacityLow "
    "fires while usable capacity is below it.",
    "pixverse_monitor_up": "1 if the last poll of the source read the accounts list.",
    "pixverse_monitor_last_success_timestamp_seconds": "Unix time of the last successful poll.",
    "pixverse_monitor_poll_duration_seconds": "Duration of the last poll.",
    "pixverse_monitor_polls_total": "Polls by outcome.",
    "pixverse_monitor_last_poll_outcome": "1 for the outcome of the last poll of the source, "
    "0 for the others.",
    "pixverse_monitor_stale_after_seconds": "poll.stale_after: PixverseSourceDown fires when no "
    "poll has succeeded for this long.",
    "pixverse_monitor_watch_start_timestamp_seconds": "Unix time this run started watching the "
    "source: the daemon's start, or the reload that added the source.",
    "pixverse_monitor_build_info": "Version of pixverse-monitor; always 1.",
}


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def format_value(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(value)


def _labels(pairs: Labels) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{escape_label(v)}"' for k, v in pairs) + "}"


def _header(name: str, kind: str, help_text: str | None = None) -> str:
    text = (help_text or HELP[name]).replace("\\", "\\\\").replace("\n", "\\n")
    return f"# HELP {name} {text}\n# TYPE {name} {kind}\n"


def render_family(family: Family) -> str:
    lines = [_header(family.name, family.type, family.help)]
    lines.extend(
        f"{family.name}{_labels(labels)} {format_value(value)}\n"
        for labels, value in family.samples
    )
    return "".join(lines)


_STATE_SUFFIXES = tuple((s, f',state="{s.value}"}} ') for s in STATES)


class _Rendered:
    """The scrape-time-independent text of one snapshot, and what the TTL lines need."""

    __slots__ = ("after_ttl", "before_ttl", "ttl_lines")

    def __init__(self, snapshot: Snapshot) -> None:
        expiry: list[str] = []
        ttl: list[tuple[str, float]] = []
        state: list[str] = []
        max_jobs: list[str] = []
        executing: list[str] = []
        available: list[str] = []
        info: list[str] = []
        per_source: dict[str, list[str]] = {
            name: []
            for name in (
                "pixverse_accounts",
                "pixverse_capacity_jobs",
                "pixverse_capacity_usable_jobs",
                "pixverse_capacity_free_jobs",
                "pixverse_capacity_min_usable_jobs",
                "pixverse_monitor_up",
                "pixverse_monitor_last_success_timestamp_seconds",
                "pixverse_monitor_poll_duration_seconds",
                "pixverse_monitor_polls_total",
                "pixverse_monitor_last_poll_outcome",
                "pixverse_monitor_stale_after_seconds",
                "pixverse_monitor_watch_start_timestamp_seconds",
            )
        }
        for source in snapshot.sources:
            src = f'source="{escape_label(source.name)}"'
            self._source_lines(source, src, per_source)
            if snapshot.limits is not None:
                self._limit_lines(snapshot.limits, src, per_source)
            if source.evaluation is None:
                continue
            for status in source.evaluation.accounts:
                account = status.account
                ids = f'{src},account="{escape_label(status.label)}"'
                if account.expiry_unix is not None:
                    value = format_value(account.expiry_unix)
                    expiry.append(
                        f"pixverse_account_token_expiry_timestamp_seconds{{{ids}}} {value}\n"
                    )
                    ttl.append(
                        (f"pixverse_account_token_ttl_seconds{{{ids}}} ", account.expiry_unix)
                    )
                current = status.state
                state.extend(
                    f"pixverse_account_state{{{ids}{suffix}{1 if s is current else 0}\n"
                    for s, suffix in _STATE_SUFFIXES
                )
                max_jobs.append(f"pixverse_account_max_jobs{{{ids}}} {account.max_jobs}\n")
                if status.executing is not None:
                    executing.append(
                        f"pixverse_account_jobs_executing{{{ids}}} {status.executing}\n"
                    )
                    available.append(
                        f"pixverse_account_jobs_available{{{ids}}} {status.available}\n"
                    )
                info.append(
                    f'pixverse_account_info{{{ids},account_id="{escape_label(account.account_id)}",'
                    f'username="{escape_label(account.username)}",'
                    f'expiry_source="{account.expiry_source.value}"}} 1\n'
                )
        self.before_ttl = _join("pixverse_account_token_expiry_timestamp_seconds", "gauge", expiry)
        self.ttl_lines = ttl
        after = [
            _join("pixverse_account_state", "gauge", state),
            _join("pixverse_account_max_jobs", "gauge", max_jobs),
            _join("pixverse_account_jobs_executing", "gauge", executing),
            _join("pixverse_account_jobs_available", "gauge", available),
            _join("pixverse_account_info", "gauge", info),
        ]
        after.extend(
            _join(name, "counter" if name.endswith("_total") else "gauge", lines)
            for name, lines in per_source.items()
        )
        self.after_ttl = "".join(after)

    @staticmethod
    def _source_lines(source: SourceSnapshot, src: str, out: dict[str, list[str]]) -> None:
        evaluation = source.evaluation
        if evaluation is not None:
            totals = evaluation.totals
            for s in STATES:
                out["pixverse_accounts"].append(
                    f'pixverse_accounts{{{src},state="{s.value}"}} {totals.accounts_by_state[s]}\n'
                )
                out["pixverse_capacity_jobs"].append(
                    f'pixverse_capacity_jobs{{{src},state="{s.value}"}} '
                    f"{totals.capacity_by_state[s]}\n"
                )
            out["pixverse_capacity_usable_jobs"].append(
                f"pixverse_capacity_usable_jobs{{{src}}} {totals.usable_capacity}\n"
            )
            if totals.free_capacity is not None:
                out["pixverse_capacity_free_jobs"].append(
                    f"pixverse_capacity_free_jobs{{{src}}} {totals.free_capacity}\n"
                )
        out["pixverse_monitor_up"].append(f"pixverse_monitor_up{{{src}}} {int(source.up)}\n")
        if source.last_success_unix is not None:
            out["pixverse_monitor_last_success_timestamp_seconds"].append(
                f"pixverse_monitor_last_success_timestamp_seconds{{{src}}} "
                f"{format_value(source.last_success_unix)}\n"
            )
        if source.poll_duration_seconds is not None:
            out["pixverse_monitor_poll_duration_seconds"].append(
                f"pixverse_monitor_poll_duration_seconds{{{src}}} "
                f"{format_value(source.poll_duration_seconds)}\n"
            )
        out["pixverse_monitor_polls_total"].extend(
            f'pixverse_monitor_polls_total{{{src},outcome="{o.value}"}} '
            f"{source.polls_total.get(o, 0)}\n"
            for o in Outcome
        )
        last = source.last_outcome
        if last is not None:
            out["pixverse_monitor_last_poll_outcome"].extend(
                f'pixverse_monitor_last_poll_outcome{{{src},outcome="{o.value}"}} '
                f"{1 if o is last else 0}\n"
                for o in Outcome
            )
        out["pixverse_monitor_watch_start_timestamp_seconds"].append(
            f"pixverse_monitor_watch_start_timestamp_seconds{{{src}}} "
            f"{format_value(source.monitored_since_unix)}\n"
        )

    @staticmethod
    def _limit_lines(limits: Limits, src: str, out: dict[str, list[str]]) -> None:
        # Per source, although the values are global, so that rules can join on `source`.
        out["pixverse_capacity_min_usable_jobs"].append(
            f"pixverse_capacity_min_usable_jobs{{{src}}} {limits.min_usable_capacity}\n"
        )
        out["pixverse_monitor_stale_after_seconds"].append(
            f"pixverse_monitor_stale_after_seconds{{{src}}} "
            f"{format_value(limits.stale_after_seconds)}\n"
        )


def _join(name: str, kind: str, lines: list[str]) -> str:
    # A family with no samples is left out entirely, as client_python does.
    return _header(name, kind) + "".join(lines) if lines else ""


class MetricsRenderer:
    """Renders /metrics. Keeps the text of the last snapshot it saw; `extra` adds small
    families of daemon internals (alerts, notifications, reloads) at scrape time."""

    def __init__(
        self,
        extra: Callable[[], Iterable[Family]] | None = None,
        *,
        process_metrics: bool = True,
    ) -> None:
        self._extra = extra
        self._cached: tuple[Snapshot, _Rendered] | None = None
        self._build_info = render_family(
            Family(
                "pixverse_monitor_build_info",
                "gauge",
                HELP["pixverse_monitor_build_info"],
                [((("version", __version__), ("python_version", platform.python_version())), 1)],
            )
        )
        self._process: CollectorRegistry | None = None
        if process_metrics:
            self._process = CollectorRegistry(auto_describe=False)
            ProcessCollector(registry=self._process)

    def render(self, snapshot: Snapshot, now_unix: float) -> bytes:
        cached = self._cached
        if cached is None or cached[0] is not snapshot:
            cached = (snapshot, _Rendered(snapshot))
            self._cached = cached
        rendered = cached[1]
        parts = [rendered.before_ttl]
        if rendered.ttl_lines:
            parts.append(_header("pixverse_account_token_ttl_seconds", "gauge"))
            parts.extend(
                f"{prefix}{format_value(expiry - now_unix)}\n"
                for prefix, expiry in rendered.ttl_lines
            )
        parts.append(rendered.after_ttl)
        if self._extra is not None:
            parts.extend(render_family(f) for f in self._extra())
        parts.append(self._build_info)
        body = "".join(parts).encode()
        if self._process is not None:
            body += generate_latest(self._process)
        return body
