"""Sink types, one module each (webhook, slack, alertmanager, ntfy, telegram, discord, teams),
each implementing the one `Channel` protocol (channel.py); what the HTTP types share (http.py)
and how chat services count and cut text (textlimits.py); and the sender that puts them to
work (sender.py). docs/design.md says how to add a type."""

from __future__ import annotations

from monitor.alerts.sinks.channel import Channel, Context, SendResult, Transport
from monitor.alerts.sinks.sender import CHANNELS, Sender, channel_of
from monitor.alerts.sinks.webhook import SIGNATURE_HEADER, verify_signature

__all__ = [
    "CHANNELS",
    "SIGNATURE_HEADER",
    "Channel",
    "Context",
    "SendResult",
    "Sender",
    "Transport",
    "channel_of",
    "verify_signature",
]
