"""Test doubles shipped with the package (the tests and `demo` use them): a fake useapi.net,
a recording webhook receiver and a clock that moves only when told."""

from __future__ import annotations

from monitor.testing.clock import FakeClock
from monitor.testing.fakeapi import FakeAccount, FakeUpstream, Fault
from monitor.testing.fakeplans import FakePlan, FakeSubscription
from monitor.testing.receiver import Received, WebhookReceiver

__all__ = [
    "FakeAccount",
    "FakeClock",
    "FakePlan",
    "FakeSubscription",
    "FakeUpstream",
    "Fault",
    "Received",
    "WebhookReceiver",
]
