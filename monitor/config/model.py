"""The configuration as plain frozen values: sources, poll, thresholds, metrics, alerts, sinks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.secret import Secret

if TYPE_CHECKING:  # the model's own dataclasses are its tables; a matcher is a value
    from monitor.config.matchers import Matcher

DEFAULT_STATE_DIR = Path("/var/lib/pixverse-monitor")
DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024
DEFAULT_ACCOUNT_INTERVAL = timedelta(hours=1)
DEFAULT_FEATURES_INTERVAL = timedelta(hours=1)
DEFAULT_PLAN_WARNING = timedelta(days=7)
# Shorter polls load the upstream and this host for nothing (1ms meant 92 polls/s at 100%
# CPU); shorter repeats flood the sinks.
MIN_POLL_INTERVAL = timedelta(seconds=1)
MIN_REPEAT_INTERVAL = timedelta(minutes=1)
# A sink's group_wait: longer holds every notification back for longer than a person waits.
MAX_GROUP_WAIT = timedelta(minutes=10)
# Names of sources and sinks, and [[accounts]] labels: they become label values and alert
# texts, which the state file keeps, so they are bounded where they enter, far within what it
# loads back (64 KiB a text): a longer one made the next start drop every alert it was on.
MAX_NAME_LENGTH = 128  # a source or sink name, a label name
MAX_LABEL_VALUE_LENGTH = 1024
MAX_RULE_LABELS = 32  # labels one [[accounts]] rule may add


class AccountLabel(StrEnum):
    """What the `account` label of the metrics holds."""

    EMAIL = "email"
    USERNAME = "username"
    ACCOUNT_ID = "account_id"
    HASH = "hash"


class SinkType(StrEnum):
    WEBHOOK = "webhook"
    SLACK = "slack"
    ALERTMANAGER = "alertmanager"
    NTFY = "ntfy"
    TELEGRAM = "telegram"
    DISCORD = "discord"
    TEAMS = "teams"
    EMAIL = "email"
    APPRISE = "apprise"


class SmtpTls(StrEnum):
    """How an email sink's SMTP connection is encrypted."""

    STARTTLS = "starttls"  # plain, then upgraded by STARTTLS before anything is sent
    TLS = "tls"  # TLS from the first byte (implicit TLS, "SMTPS")
    NONE = "none"  # never encrypted: only where the network itself is trusted


class Severity(StrEnum):
    """Alert severities, in increasing order of urgency."""

    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return 0 if self is Severity.WARNING else 1


@dataclass(frozen=True)
class SourceConfig:
    """One useapi.net API token and where to reach the API with it."""

    name: str
    base_url: str
    token: Secret
    token_origin: str  # where the token was read from, for people; never the token
    token_file: Path | None
    token_env: str | None
    capacity_endpoint: bool
    account_endpoint: bool = True  # GET /v2/account: the useapi.net subscription
    features_endpoint: bool = True  # GET /v2/pixverse/features: each account's plan


@dataclass(frozen=True)
class PollConfig:
    interval: timedelta
    timeout: timedelta
    jitter: timedelta
    stale_after: timedelta
    max_response_bytes: int
    account_interval: timedelta = DEFAULT_ACCOUNT_INTERVAL  # GET /v2/account, per source
    features_interval: timedelta = DEFAULT_FEATURES_INTERVAL  # GET /features, per account


@dataclass(frozen=True)
class Thresholds:
    warning: timedelta
    critical: timedelta
    min_usable_capacity: int
    plan_warning: timedelta = DEFAULT_PLAN_WARNING  # PixversePlanExpiringSoon
    min_credits: int = 0  # PixverseCreditsLow; 0 is off


@dataclass(frozen=True)
class MetricsConfig:
    host: str  # "" means every interface
    port: int
    account_label: AccountLabel
    web_config_file: Path | None
    # Where people reach the monitor (a proxy, say): the links of notifications and of the
    # status page. None: derived from `listen` when the daemon starts.
    external_url: str | None = None

    @property
    def listen(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class AlertsConfig:
    repeat_interval: timedelta
    state_dir: Path


@dataclass(frozen=True)
class SinkConfig:
    """One alert destination. The URL may carry a credential (Slack), so it is a Secret."""

    name: str
    type: SinkType
    url: Secret
    url_display: str  # scheme and host only
    url_file: Path | None
    secret: Secret | None
    secret_file: Path | None
    min_severity: Severity
    send_resolved: bool
    timeout: timedelta
    # alertmanager sinks: how long each end is held back before it is posted
    # (docs/notifications.md).
    resolve_grace: timedelta = timedelta(0)
    # Alertmanager matchers on the alert's labels, all of which must hold; none: every alert.
    matchers: tuple[Matcher, ...] = ()
    # What falls due within this of a first event is sent with it, as one notification.
    group_wait: timedelta = timedelta(0)
    # ntfy sinks: an access token, sent as `Authorization: Bearer`, and the file it is in.
    token: Secret | None = None
    token_file: Path | None = None
    # telegram sinks: the chat (and forum topic) the bot writes to, the file holding the
    # bot's token, and the Bot API's address (`url`, the sendMessage URL, is made of both).
    chat_id: str | None = None
    message_thread_id: int | None = None
    bot_token_file: Path | None = None
    api_url: str | None = None
    # email sinks: the SMTP server and the addresses; apprise sinks: the URLs of `url_file`.
    email: EmailSettings | None = None
    apprise_urls: tuple[Secret, ...] = ()


@dataclass(frozen=True)
class EmailSettings:
    """Where and how an email sink sends its messages (docs/notifications.md#email)."""

    smtp_host: str
    smtp_port: int
    tls: SmtpTls
    sender: str  # the `from` key: "pixverse-monitor <alerts@example.com>"
    recipients: tuple[str, ...]  # the `to` key: one address or more
    username: str | None = None
    password: Secret | None = None
    password_file: Path | None = None
    ca_file: Path | None = None  # trusted instead of the system's CAs (a private server)


@dataclass(frozen=True)
class AccountRule:
    """One [[accounts]] table: the accounts whose email fits `match`, and what applies to
    them instead of the global settings (None: the global one)."""

    match: str  # shell-style glob on the email, matched without regard to case
    ignore: bool = False
    warning: timedelta | None = None
    critical: timedelta | None = None
    plan_warning: timedelta | None = None
    min_credits: int | None = None
    labels: tuple[tuple[str, str], ...] = ()  # added to alerts and pixverse_account_info


@dataclass(frozen=True)
class Config:
    sources: tuple[SourceConfig, ...]
    poll: PollConfig
    thresholds: Thresholds
    metrics: MetricsConfig
    alerts: AlertsConfig
    sinks: tuple[SinkConfig, ...]
    path: Path | None = None
    accounts: tuple[AccountRule, ...] = ()  # [[accounts]]: per-account policy, in order
