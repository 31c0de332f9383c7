"""Reading useapi.net: the HTTP client, the tolerant parser of its answers, and one poll."""

from __future__ import annotations

from monitor.upstream.client import UpstreamClient
from monitor.upstream.connections import RenewingClient, borrowed
from monitor.upstream.parse import (
    Account,
    AccountCapacity,
    AccountMemo,
    ExpirySource,
    ParsedAccounts,
    ParsedCapacity,
)
from monitor.upstream.poll import PollResult, poll_source

__all__ = [
    "Account",
    "AccountCapacity",
    "AccountMemo",
    "ExpirySource",
    "ParsedAccounts",
    "ParsedCapacity",
    "PollResult",
    "RenewingClient",
    "UpstreamClient",
    "borrowed",
    "poll_source",
]
