"""What each command does, once `cli.py` has parsed its arguments: run, check, demo,
fake-upstream, notify-test and config check."""

from __future__ import annotations

from monitor.commands.check import DEFAULT_TIMEOUT_SECONDS as DEFAULT_CHECK_TIMEOUT_SECONDS
from monitor.commands.check import check_command, poll_all
from monitor.commands.check import unknown as check_unknown
from monitor.commands.check_output import build_report, render_json, render_table
from monitor.commands.config_check import config_check_command
from monitor.commands.demo import demo_command, run_demo
from monitor.commands.fake_upstream import DEFAULT_LISTEN as DEFAULT_FAKE_UPSTREAM_LISTEN
from monitor.commands.fake_upstream import fake_upstream_command
from monitor.commands.notify_test import notify_test_command, send_test_notifications
from monitor.commands.run import run_command

__all__ = [
    "DEFAULT_CHECK_TIMEOUT_SECONDS",
    "DEFAULT_FAKE_UPSTREAM_LISTEN",
    "build_report",
    "check_command",
    "check_unknown",
    "config_check_command",
    "demo_command",
    "fake_upstream_command",
    "notify_test_command",
    "poll_all",
    "render_json",
    "render_table",
    "run_command",
    "run_demo",
    "send_test_notifications",
]
