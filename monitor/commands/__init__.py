"""What each command does, once `cli.py` has parsed its arguments: run, check, demo,
fake-upstream, notify-test and config check. Each command's module is imported when the
command is first asked for, so that a command line loads only the command it runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from monitor import lazy_face

if TYPE_CHECKING:
    from monitor.commands.check import check_command, check_unknown, poll_all
    from monitor.commands.check_output import build_report, render_json, render_table
    from monitor.commands.config_check import config_check_command
    from monitor.commands.defaults import (
        DEFAULT_CHECK_TIMEOUT_SECONDS,
        DEFAULT_FAKE_UPSTREAM_LISTEN,
    )
    from monitor.commands.demo import demo_command, run_demo
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

__getattr__ = lazy_face(
    __name__,
    {
        "check": ("check_command", "check_unknown", "poll_all"),
        "check_output": ("build_report", "render_json", "render_table"),
        "config_check": ("config_check_command",),
        "defaults": ("DEFAULT_CHECK_TIMEOUT_SECONDS", "DEFAULT_FAKE_UPSTREAM_LISTEN"),
        "demo": ("demo_command", "run_demo"),
        "fake_upstream": ("fake_upstream_command",),
        "notify_test": ("notify_test_command", "send_test_notifications"),
        "run": ("run_command",),
    },
)
