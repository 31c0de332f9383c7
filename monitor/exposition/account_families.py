"""The per-account and per-source families, defined here; the per-source ones are rendered
here too, the per-account ones line by line in account_lines.py."""

from __future__ import annotations

from monitor.clock import SKEW_LIMIT_SECONDS
from monitor.errors import Outcome
from monitor.evaluate import STATES
from monitor.exposition.textformat import Family, escape_label, family_text, format_value
from monitor.snapshot import Criteria, Snapshot, SourceSnapshot

EXPIRY = Family(
    "pixverse_account_token_expiry_timestamp_seconds",
    "gauge",
    "Unix time the account's JWT expires.",
)
TTL = Family(
    "pixverse_account_token_ttl_seconds",
    "gauge",
    "Seconds until the JWT expires, at scrape time; negative once expired.",
)
STATE = Family(
    "pixverse_account_state",
    "gauge",
    "1 for the account's current token state, 0 for the others.",
)
MAX_JOBS = Family("pixverse_account_max_jobs", "gauge", "maxJobs configured for the account.")
EXECUTING = Family(
    "pixverse_account_jobs_executing",
    "gauge",
    "Jobs executing on the account, from /scheduler/available.",
)
AVAILABLE = Family(
    "pixverse_account_jobs_available",
    "gauge",
    "Free job slots of the account, from /scheduler/available.",
)
INFO = Family(
    "pixverse_account_info",
    "gauge",
    "Account identity and where its expiry came from; always 1.",
)
ACCOUNTS = Family("pixverse_accounts", "gauge", "Accounts per token state.")
CAPACITY = Family("pixverse_capacity_jobs", "gauge", "Sum of maxJobs per token state.")
USABLE = Family(
    "pixverse_capacity_usable_jobs",
    "gauge",
    "Sum of maxJobs over accounts in ok, warning or critical.",
)
FREE = Family(
    "pixverse_capacity_free_jobs", "gauge", "Sum of available slots over usable accounts."
)
MIN_USABLE = Family(
    "pixverse_capacity_min_usable_jobs",
    "gauge",
    "thresholds.min_usable_capacity: PixverseCapacityLow fires while usable capacity is below it.",
)
UP = Family(
    "pixverse_monitor_up",
    "gauge",
    "1 if the last poll of the source read the accounts list, or was told there is none (404).",
)
LAST_SUCCESS = Family(
    "pixverse_monitor_last_success_timestamp_seconds",
    "gauge",
    "Unix time of the last successful poll.",
)
POLL_DURATION = Family(
    "pixverse_monitor_poll_duration_seconds", "gauge", "Duration of the last poll."
)
POLLS = Family("pixverse_monitor_polls_total", "counter", "Polls by outcome.")
LAST_OUTCOME = Family(
    "pixverse_monitor_last_poll_outcome",
    "gauge",
    "1 for the outcome of the last poll of the source, 0 for the others.",
)
STALE_AFTER = Family(
    "pixverse_monitor_stale_after_seconds",
    "gauge",
    "poll.stale_after: PixverseSourceDown fires when no poll has succeeded for this long.",
)
CLOCK_SKEW = Family(
    "pixverse_monitor_clock_skew_seconds",
    "gauge",
    "How far this host's clock is ahead of upstream's (negative: behind), from the Date of the "
    f"last accounts answer that had one; past {SKEW_LIMIT_SECONDS:g} s either way, expiries are "
    "judged on the last clock reading that agreed, and PixverseMonitorClockSkew fires.",
)
WATCH_START = Family(
    "pixverse_monitor_watch_start_timestamp_seconds",
    "gauge",
    "Unix time this run started watching the source: the daemon's start, or the reload that "
    "added the source.",
)

# In the order /metrics shows them (TTL, the one family rendered at scrape time, second).
PER_ACCOUNT = (EXPIRY, TTL, STATE, MAX_JOBS, EXECUTING, AVAILABLE, INFO)
PER_SOURCE = (
    ACCOUNTS,
    CAPACITY,
    USABLE,
    FREE,
    MIN_USABLE,
    UP,
    LAST_SUCCESS,
    POLL_DURATION,
    POLLS,
    LAST_OUTCOME,
    STALE_AFTER,
    WATCH_START,
    CLOCK_SKEW,
)
SNAPSHOT_FAMILIES = PER_ACCOUNT + PER_SOURCE


def source_text(snapshot: Snapshot) -> str:
    """Every per-source family of the snapshot, as text."""
    per_source: dict[Family, list[str]] = {family: [] for family in PER_SOURCE}
    for source in snapshot.sources:
        src = f'source="{escape_label(source.name)}"'
        _source_lines(source, src, per_source)
        if snapshot.criteria is not None:
            _criteria_lines(snapshot.criteria, src, per_source)
    return "".join(family_text(family, lines) for family, lines in per_source.items())


def _source_lines(source: SourceSnapshot, src: str, out: dict[Family, list[str]]) -> None:
    evaluation = source.evaluation
    if evaluation is not None:
        totals = evaluation.totals
        for s in STATES:
            out[ACCOUNTS].append(
                f'{ACCOUNTS.name}{{{src},state="{s.value}"}} {totals.accounts_by_state[s]}\n'
            )
            out[CAPACITY].append(
                f'{CAPACITY.name}{{{src},state="{s.value}"}} {totals.capacity_by_state[s]}\n'
            )
        out[USABLE].append(f"{USABLE.name}{{{src}}} {totals.usable_capacity}\n")
        if totals.free_capacity is not None:
            out[FREE].append(f"{FREE.name}{{{src}}} {totals.free_capacity}\n")
    out[UP].append(f"{UP.name}{{{src}}} {int(source.up)}\n")
    if source.last_success_unix is not None:
        out[LAST_SUCCESS].append(
            f"{LAST_SUCCESS.name}{{{src}}} {format_value(source.last_success_unix)}\n"
        )
    if source.poll_duration_seconds is not None:
        out[POLL_DURATION].append(
            f"{POLL_DURATION.name}{{{src}}} {format_value(source.poll_duration_seconds)}\n"
        )
    out[POLLS].extend(
        f'{POLLS.name}{{{src},outcome="{o.value}"}} {source.polls_total.get(o, 0)}\n'
        for o in Outcome
    )
    last = source.last_outcome
    if last is not None:
        out[LAST_OUTCOME].extend(
            f'{LAST_OUTCOME.name}{{{src},outcome="{o.value}"}} {1 if o is last else 0}\n'
            for o in Outcome
        )
    out[WATCH_START].append(
        f"{WATCH_START.name}{{{src}}} {format_value(source.monitored_since_unix)}\n"
    )
    if source.clock_skew_seconds is not None:
        out[CLOCK_SKEW].append(
            f"{CLOCK_SKEW.name}{{{src}}} {format_value(source.clock_skew_seconds)}\n"
        )


def _criteria_lines(criteria: Criteria, src: str, out: dict[Family, list[str]]) -> None:
    # Per source, although the values are global, so that rules can join on `source`.
    out[MIN_USABLE].append(f"{MIN_USABLE.name}{{{src}}} {criteria.min_usable_capacity}\n")
    out[STALE_AFTER].append(
        f"{STALE_AFTER.name}{{{src}}} {format_value(criteria.stale_after_seconds)}\n"
    )
