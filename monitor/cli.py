"""Command-line parsing only: each command hands over to its module in `monitor.commands`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from monitor import __version__
from monitor.commands import (
    check_command,
    config_check_command,
    demo_command,
    notify_test_command,
    run_command,
)
from monitor.logs import LEVELS, configure_logging


def _parser() -> argparse.ArgumentParser:
    # Logging options are accepted before or after the command; SUPPRESS keeps a
    # subcommand's default from overwriting a value given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--log-level", choices=LEVELS, default=argparse.SUPPRESS)
    common.add_argument(
        "--log-format",
        choices=("json", "console"),
        default=argparse.SUPPRESS,
        help="json (default when stdout is not a terminal) or console",
    )
    parser = argparse.ArgumentParser(
        prog="pixverse-monitor",
        description="JWT expiry monitoring for PixVerse accounts behind useapi.net.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    config_help = (
        "config file (default: $PIXVERSE_MONITOR_CONFIG or /etc/pixverse-monitor/config.toml)"
    )
    run = commands.add_parser("run", parents=[common], help="run the daemon")
    run.add_argument("--config", type=Path, help=config_help)

    check = commands.add_parser(
        "check", parents=[common], help="poll once and print a report (Nagios exit codes)"
    )
    check.add_argument("--config", type=Path, help=config_help)
    check.add_argument("--json", action="store_true", help="print JSON instead of a table")

    demo = commands.add_parser(
        "demo", parents=[common], help="run against a built-in fake upstream, no token needed"
    )
    demo.add_argument("--listen", default="127.0.0.1:9877", help="metrics address (HOST:PORT)")

    notify = commands.add_parser(
        "notify-test", parents=[common], help="send a test alert to each sink"
    )
    notify.add_argument("--config", type=Path, help=config_help)
    notify.add_argument("--sink", metavar="NAME", help="only this sink")

    config = commands.add_parser("config", parents=[common], help="configuration tools")
    config_commands = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    config_check = config_commands.add_parser(
        "check", parents=[common], help="validate a config file and print it, secrets masked"
    )
    config_check.add_argument("file", type=Path)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    level = getattr(args, "log_level", None)
    fmt = getattr(args, "log_format", None)
    if args.command == "run":
        configure_logging(level or "info", fmt)
        return run_command(args.config)
    if args.command == "demo":
        configure_logging(level or "info", fmt)
        return demo_command(args.listen)
    # The other commands print their result on stdout: logs go to stderr, and only when they
    # matter.
    configure_logging(level or "warning", fmt, stream=sys.stderr)
    if args.command == "check":
        return check_command(args.config, as_json=args.json)
    if args.command == "notify-test":
        return notify_test_command(args.config, args.sink)
    return config_check_command(args.file)
