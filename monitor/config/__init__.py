"""The configuration: its model, loading and validation (every error names its key), and
its masked rendering for `config check`."""

from __future__ import annotations

from monitor.config.addresses import parse_listen, redact_url
from monitor.config.apprise_urls import scheme_of as apprise_scheme
from monitor.config.load import default_config_path, load_config, parse_config
from monitor.config.matchers import Matcher, matches_all, parse_matcher, route_key
from monitor.config.model import (
    DEFAULT_MAX_RESPONSE_BYTES,
    AccountLabel,
    AccountRule,
    AlertsConfig,
    Config,
    EmailSettings,
    MetricsConfig,
    PollConfig,
    Severity,
    SinkConfig,
    SinkType,
    SmtpTls,
    SourceConfig,
    Thresholds,
)
from monitor.config.policy import AccountSettings, Policy, matches, static_warnings
from monitor.config.render import render_config, toml_string
from monitor.config.table import FileFormat, Table

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "AccountLabel",
    "AccountRule",
    "AccountSettings",
    "AlertsConfig",
    "Config",
    "EmailSettings",
    "FileFormat",
    "Matcher",
    "MetricsConfig",
    "Policy",
    "PollConfig",
    "Severity",
    "SinkConfig",
    "SinkType",
    "SmtpTls",
    "SourceConfig",
    "Table",
    "Thresholds",
    "apprise_scheme",
    "default_config_path",
    "load_config",
    "matches",
    "matches_all",
    "parse_config",
    "parse_listen",
    "parse_matcher",
    "redact_url",
    "render_config",
    "route_key",
    "static_warnings",
    "toml_string",
]
