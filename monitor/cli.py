"""Command-line parsing; each command hands over to the module that does the work."""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

import structlog

from monitor import __version__
from monitor.check import poll_all
from monitor.clock import SystemClock
from monitor.config import Config, default_config_path, load_config, parse_listen
from monitor.config_text import render_config
from monitor.daemon import Daemon
from monitor.delivery import send_test_notifications
from monitor.demo import run_demo
from monitor.errors import ConfigError
from monitor.logs import LEVELS, configure_logging
from monitor.report import build_report, render_json, render_table
from monitor.webconfig import WebConfigError
from monitor.webguard import as_config_error, load_web_config

EXIT_CONFIG = 2


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
    level = getattr(args, "log_level", "info")
    fmt = getattr(args, "log_format", None)
    if args.command == "run":
        configure_logging(level, fmt)
        return _run(args)
    if args.command == "check":
        # stdout carries the report; logs go to stderr and only when they matter.
        configure_logging(getattr(args, "log_level", "warning"), fmt, stream=sys.stderr)
        return _check(args)
    if args.command == "demo":
        configure_logging(level, fmt)
        return _demo(args)
    if args.command == "notify-test":
        configure_logging(getattr(args, "log_level", "warning"), fmt, stream=sys.stderr)
        return _notify_test(args)
    configure_logging(level, fmt, stream=sys.stderr)
    return _config_check(args.file)


def _load(path: Path | None) -> Config:
    return load_config(path or default_config_path(os.environ))


def _config_error(exc: ConfigError) -> int:
    structlog.get_logger("monitor.cli").error("config.invalid", key=exc.key, problem=exc.problem)
    print(f"pixverse-monitor: config error: {exc}", file=sys.stderr)
    return EXIT_CONFIG


def _run(args: argparse.Namespace) -> int:
    try:
        config = _load(args.config)
    except ConfigError as exc:
        return _config_error(exc)

    async def main() -> int:
        return await Daemon(config).run()

    try:
        return asyncio.run(main())
    except ConfigError as exc:  # found at start-up: the web config, an unusable state_dir
        return _config_error(exc)


def _check(args: argparse.Namespace) -> int:
    try:
        config = _load(args.config)
    except ConfigError as exc:
        return _config_error(exc)
    clock = SystemClock()
    results = asyncio.run(poll_all(config, clock))
    report = build_report(results, config, clock.time())
    print(render_json(report) if args.json else render_table(report))
    return int(report.status)


def _demo(args: argparse.Namespace) -> int:
    try:
        host, port = parse_listen("--listen", args.listen)
    except ConfigError as exc:
        print(f"pixverse-monitor: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return asyncio.run(run_demo(host, port))


def _notify_test(args: argparse.Namespace) -> int:
    try:
        config = _load(args.config)
    except ConfigError as exc:
        return _config_error(exc)
    sinks = [s for s in config.sinks if args.sink in (None, s.name)]
    if args.sink and not sinks:
        known = ", ".join(s.name for s in config.sinks) or "none"
        print(
            f"pixverse-monitor: no sink named {args.sink!r} (configured: {known})", file=sys.stderr
        )
        return EXIT_CONFIG
    if not sinks:
        print("pixverse-monitor: no [[sinks]] configured: nothing to test", file=sys.stderr)
        return 1
    external = f"http://{socket.getfqdn()}:{config.metrics.port}"
    results = asyncio.run(send_test_notifications(sinks, SystemClock(), external))
    for sink, result in results:
        where = f"{sink.name} ({sink.type.value} {sink.url_display})"
        if result.ok:
            print(f"{where}: delivered (HTTP {result.status})")
        else:
            print(f"{where}: FAILED: {result.error}")
    return 0 if all(result.ok for _, result in results) else 1


def _config_check(path: Path) -> int:
    try:
        config = load_config(path)
        if config.metrics.web_config_file is not None:
            try:
                load_web_config(config.metrics.web_config_file)
            except WebConfigError as exc:
                raise as_config_error(exc) from None
    except ConfigError as exc:
        print(f"pixverse-monitor: config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    sys.stdout.write(render_config(config))
    print(f"pixverse-monitor: {path} is valid", file=sys.stderr)
    return 0
