"""The project's exceptions and the one list of poll outcome codes."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    """How a poll ended; the values are the `outcome` label of `pixverse_monitor_polls_total`."""

    SUCCESS = "success"
    UNAUTHORIZED = "unauthorized"
    HTTP_ERROR = "http_error"
    TIMEOUT = "timeout"
    CONNECTION_ERROR = "connection_error"
    INVALID_PAYLOAD = "invalid_payload"
    TOO_LARGE = "too_large"
    CAPACITY_UNAVAILABLE = "capacity_unavailable"

    @property
    def has_fresh_data(self) -> bool:
        """True when the accounts list was read, so expiry data is current."""
        return self in (Outcome.SUCCESS, Outcome.CAPACITY_UNAVAILABLE)


class MonitorError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(MonitorError):
    """A configuration problem, naming the offending key."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}" if key else problem)
        self.key = key
        self.problem = problem


class UpstreamError(MonitorError):
    """The upstream API could not be read; `reason` is the poll outcome code."""

    def __init__(self, reason: Outcome, detail: str, *, status: int | None = None) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
        self.status = status
