"""Test doubles shipped with the package (the tests, `demo` and `fake-upstream` use them): a
fake useapi.net and its named scenarios, a recording webhook receiver, and a clock and a
schedule that move only when told."""

from __future__ import annotations

from monitor.testing.fakeapi import FakeAccount, FakeUpstream, Fault
from monitor.testing.fakeclock import FakeClock
from monitor.testing.fakefeatures import FakePlan, FakeSubscription
from monitor.testing.fakeschedule import FakeSchedule
from monitor.testing.receiver import Received, WebhookReceiver
from monitor.testing.scenarios import (
    DEMO_DOMAIN,
    DEMO_TOKEN,
    SCENARIO_NAMES,
    SCENARIOS,
    Scenario,
    liven,
    scenario_upstream,
)

__all__ = [
    "DEMO_DOMAIN",
    "DEMO_TOKEN",
    "SCENARIOS",
    "SCENARIO_NAMES",
    "FakeAccount",
    "FakeClock",
    "FakePlan",
    "FakeSchedule",
    "FakeSubscription",
    "FakeUpstream",
    "Fault",
    "Received",
    "Scenario",
    "WebhookReceiver",
    "liven",
    "scenario_upstream",
]
