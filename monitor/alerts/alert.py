"""An alert as people see it: its name, severity, labels and annotations, its identity, and
which data judges it (so that what has not been judged again since a restart is kept)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from monitor.config import Severity


class AlertName(StrEnum):
    EXPIRING_SOON = "PixverseTokenExpiringSoon"
    EXPIRED = "PixverseTokenExpired"
    EXPIRY_UNKNOWN = "PixverseTokenExpiryUnknown"
    CAPACITY_LOW = "PixverseCapacityLow"
    SOURCE_DOWN = "PixverseSourceDown"
    SUBSCRIPTION_INACTIVE = "PixverseUseapiSubscriptionInactive"
    ACCOUNTS_IN_ERROR = "PixverseUseapiAccountsInError"
    PLAN_EXPIRING_SOON = "PixversePlanExpiringSoon"
    CREDITS_LOW = "PixverseCreditsLow"
    MAX_JOBS_ABOVE_PLAN = "PixverseMaxJobsAbovePlan"
    CLOCK_SKEW = "PixverseMonitorClockSkew"
    MONITOR_TEST = "PixverseMonitorTest"  # only ever sent by `notify-test`


# What judges an alert: the accounts list of its source (token and capacity alerts), the
# health of its source, the source's /v2/account answer, one account's /features answer, or
# upstream's clock as the source's polls read it.
DATA_SCOPE = "data"
HEALTH_SCOPE = "health"
SUBSCRIPTION_SCOPE = "subscription"
CLOCK_SCOPE = "clock"
_PLAN_SCOPE_PREFIX = "plan:"
SUBSCRIPTION_ALERTS = frozenset({AlertName.SUBSCRIPTION_INACTIVE, AlertName.ACCOUNTS_IN_ERROR})
PLAN_ALERTS = frozenset(
    {AlertName.PLAN_EXPIRING_SOON, AlertName.CREDITS_LOW, AlertName.MAX_JOBS_ABOVE_PLAN}
)


def plan_scope(account: str) -> str:
    """The scope of the plan alerts of one account (by its `account` label)."""
    return _PLAN_SCOPE_PREFIX + account


@dataclass(frozen=True, slots=True)
class Alert:
    """A condition that holds at an evaluation, with what a person needs to act on it."""

    name: AlertName
    severity: Severity
    source: str
    account: str  # "" for an alert about a whole source
    summary: str
    description: str
    details: Mapping[str, str] = field(default_factory=dict)  # further annotations
    # [[accounts]] labels of the account; never one the daemon sets (checked at load).
    extra_labels: tuple[tuple[str, str], ...] = ()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.name, self.source, self.account)

    @property
    def labels(self) -> dict[str, str]:
        labels = dict(self.extra_labels)
        labels.update(alertname=self.name.value, severity=self.severity.value)
        labels["source"] = self.source
        if self.account:
            labels["account"] = self.account
        return labels

    @property
    def annotations(self) -> dict[str, str]:
        return {"summary": self.summary, "description": self.description, **self.details}

    @property
    def scope(self) -> str:
        if self.name is AlertName.SOURCE_DOWN:
            return HEALTH_SCOPE
        if self.name is AlertName.CLOCK_SKEW:
            return CLOCK_SCOPE
        if self.name in SUBSCRIPTION_ALERTS:
            return SUBSCRIPTION_SCOPE
        if self.name in PLAN_ALERTS:
            return plan_scope(self.account)
        return DATA_SCOPE


def fingerprint(name: AlertName, source: str, account: str) -> str:
    """The identity of an alert: alertname + source + account, as 16 hex digits. Policy
    labels are not part of it: changing a team label does not make a new alert."""
    return hashlib.sha256(f"{name.value}\0{source}\0{account}".encode()).hexdigest()[:16]
