"""The project's exceptions, and the one list of each set of reason codes (label values).

Every exception raised on purpose descends from `MonitorError`; nothing else in `monitor/`
defines one:

    MonitorError
    ├── ConfigError           a setting is wrong; `key` names it (exit 2, never a traceback)
    │   └── WebConfigError    ... in the exporter-toolkit web config file; `path` names the file
    ├── UpstreamError         useapi.net could not be read; `reason` is an `Outcome`
    ├── UsageError            the command line is wrong (exit 2; `check`: UNKNOWN, exit 3)
    └── CheckTimeout          `check --timeout` ran out; `pending` names the sources unread

Reason codes are metric label values, so each set is written once, here:

    Outcome           `outcome` of pixverse_monitor_polls_total (and last_poll_outcome)
    DeliveryOutcome   `outcome` of pixverse_monitor_notifications_total
    DeliveryFailure   `reason` of pixverse_monitor_notification_failures_total, and the
                      `reason` field of every `notification.failed` log line
    Task              `task` of pixverse_monitor_task_errors_total, and the `task` field of
                      every `task.failed` log line
    SaveFailure       `reason` of pixverse_monitor_state_save_failures_total, and of every
                      `state.save_failed` log line
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path


class Outcome(StrEnum):
    """How a poll ended."""

    SUCCESS = "success"
    UNAUTHORIZED = "unauthorized"
    HTTP_ERROR = "http_error"
    TIMEOUT = "timeout"
    CONNECTION_ERROR = "connection_error"
    INVALID_PAYLOAD = "invalid_payload"
    TOO_LARGE = "too_large"
    CAPACITY_UNAVAILABLE = "capacity_unavailable"
    # 404 from /accounts ("Configuration not found"): upstream answered and took the token,
    # but lists no account. Up, like a success; a list without any account, whose accounts
    # are kept for the absence grace before they count as removed.
    NO_ACCOUNTS = "no_accounts"

    @property
    def has_fresh_data(self) -> bool:
        """True when the accounts list was read, so expiry data is current."""
        return self in (Outcome.SUCCESS, Outcome.CAPACITY_UNAVAILABLE)

    @property
    def up(self) -> bool:
        """True when upstream answered the accounts request as it should: the list, or that
        it has none. What `pixverse_monitor_up`, the last success and staleness go by."""
        return self.has_fresh_data or self is Outcome.NO_ACCOUNTS


class DeliveryOutcome(StrEnum):
    """What became of one delivery attempt (or of a notification given up on)."""

    DELIVERED = "delivered"  # accepted by the receiver (2xx)
    RETRIED = "retried"  # an attempt failed in a retryable way; it stays in the outbox
    FAILED = "failed"  # given up without the receiver's say: outbox overflow, lapsed re-send,
    # or a notification that could not be sent at all
    DROPPED = "dropped"  # refused by the receiver with a non-retryable status


class DeliveryFailure(StrEnum):
    """Why a delivery attempt failed, or why a notification was given up."""

    TIMEOUT = "timeout"  # no complete answer within the sink's timeout
    CONNECTION_ERROR = "connection_error"  # refused, reset, DNS, TLS, broken HTTP
    HTTP_408 = "http_408"  # Request Timeout: retried
    HTTP_429 = "http_429"  # Too Many Requests: retried, Retry-After honoured
    HTTP_4XX = "http_4xx"  # any other 4xx: the receiver refuses it; dropped
    HTTP_5XX = "http_5xx"  # retried
    HTTP_OTHER = "http_other"  # any other non-2xx status (a redirect is not followed); dropped
    SMTP_4XX = "smtp_4xx"  # an SMTP server's temporary refusal (451, say): retried
    SMTP_5XX = "smtp_5xx"  # an SMTP server's permanent refusal (550, say): dropped
    APPRISE_FAILED = "apprise_failed"  # Apprise says its service did not take it: retried
    OUTBOX_FULL = "outbox_full"  # evicted unsent: the sink's outbox was full
    # Sending raised (the notification could not even be rendered, say): retried, then given
    # up after three in a row, so that it does not hold up its sink.
    INTERNAL_ERROR = "internal_error"

    @classmethod
    def of_status(cls, status: int) -> DeliveryFailure:
        """The reason code of a non-2xx HTTP status."""
        if status == 408:
            return cls.HTTP_408
        if status == 429:
            return cls.HTTP_429
        if 400 <= status < 500:
            return cls.HTTP_4XX
        if 500 <= status < 600:
            return cls.HTTP_5XX
        return cls.HTTP_OTHER


class Task(StrEnum):
    """The daemon's long-lived work, each supervised: an unexpected error in one is logged,
    counted under its name, and the task goes on."""

    POLL = "poll"  # a scheduled poll of a source
    EVALUATE = "evaluate"  # the timer that re-evaluates states and alerts between polls
    DELIVERY = "delivery"  # a sink's worker draining its outbox
    RESEND = "resend"  # the Alertmanager re-sender
    STATE_SAVE = "state_save"  # writing the state file
    WATCHDOG = "watchdog"  # systemd's WATCHDOG=1 pings, and the READY=1 deadline
    RELOAD = "reload"  # applying a reloaded configuration
    PLANS = "plans"  # a source's /v2/account and /features schedule


class SaveFailure(StrEnum):
    """Why a save of the state file failed, or could not keep everything."""

    WRITE_ERROR = "write_error"  # the file system refused (a full disk): the old file stays
    TOO_LARGE = "too_large"  # larger than a load accepts: not written, the old file stays
    ENTRY_TOO_LONG = "entry_too_long"  # an entry holds a name longer than a load accepts:
    # saved without it


class MonitorError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(MonitorError):
    """A configuration problem, naming the offending key."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}" if key else problem)
        self.key = key
        self.problem = problem


class WebConfigError(ConfigError):
    """A problem in the web config file, naming the file and the key at fault."""

    def __init__(self, path: Path, key: str, problem: str) -> None:
        super().__init__(key, problem)
        self.path = path
        self.args = (f"{path}: {key}: {problem}" if key else f"{path}: {problem}",)


class UpstreamError(MonitorError):
    """The upstream API could not be read; `reason` is the poll outcome code."""

    def __init__(self, reason: Outcome, detail: str, *, status: int | None = None) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
        self.status = status


class UsageError(MonitorError):
    """A command line argparse rejects, raised instead of its exit(2): `check` answers it as a
    monitoring plugin (UNKNOWN, 3); every other command prints `usage` and exits 2."""

    def __init__(self, prog: str, usage: str, message: str) -> None:
        super().__init__(message)
        self.prog = prog
        self.usage = usage
        self.message = message


class CheckTimeout(MonitorError):
    """`check --timeout` ran out before every source had answered."""

    def __init__(self, pending: list[str]) -> None:
        super().__init__(f"no answer from source(s) {', '.join(pending)}")
        self.pending = pending
