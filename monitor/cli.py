"""Command-line parsing only: each command hands over to its module in `monitor.commands`.

Parsing imports none of them, nor logging: `--version` and `--help` cost a bare interpreter's
start and argparse, and each command loads only what it runs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from monitor import __version__, commands
from monitor.errors import UsageError

LOG_LEVELS = ("debug", "info", "warning", "error")
# Options of the main parser that take a separate value: skipped when finding the command.
_VALUED_OPTIONS = ("--log-level", "--log-format")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(self.prog, self.format_usage(), message)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    # Logging options are accepted before or after the command; SUPPRESS keeps a
    # subcommand's default from overwriting a value given before it.
    common = _Parser(add_help=False)
    common.add_argument("--log-level", choices=LOG_LEVELS, default=argparse.SUPPRESS)
    common.add_argument(
        "--log-format",
        choices=("json", "console"),
        default=argparse.SUPPRESS,
        help="json (default when stdout is not a terminal) or console",
    )
    parser = _Parser(
        prog="pixverse-monitor",
        description="JWT expiry monitoring for PixVerse accounts behind useapi.net.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subcommands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )

    config_help = (
        "config file (default: $PIXVERSE_MONITOR_CONFIG or /etc/pixverse-monitor/config.toml)"
    )
    run = subcommands.add_parser("run", parents=[common], help="run the daemon")
    run.add_argument("--config", type=Path, help=config_help)

    check = subcommands.add_parser(
        "check", parents=[common], help="poll once and print a report (Nagios exit codes)"
    )
    check.add_argument("--config", type=Path, help=config_help)
    check.add_argument("--json", action="store_true", help="print JSON instead of a table")
    check.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=commands.DEFAULT_CHECK_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help="bound on the whole run, counted from the process start; past it, UNKNOWN "
        "(default: %(default)g, below check_nrpe's 10)",
    )

    demo = subcommands.add_parser(
        "demo", parents=[common], help="run against a built-in fake upstream, no token needed"
    )
    demo.add_argument("--listen", default="127.0.0.1:9877", help="metrics address (HOST:PORT)")

    fake = subcommands.add_parser(
        "fake-upstream",
        parents=[common],
        help="serve a fake useapi.net, to rehearse check, NRPE or sinks against",
    )
    fake.add_argument(
        "--listen",
        default=commands.DEFAULT_FAKE_UPSTREAM_LISTEN,
        help="HOST:PORT (default: %(default)s)",
    )
    fake.add_argument("--token", help="the bearer token it accepts (default: the demo's; printed)")
    fake.add_argument(
        "--scenario",
        default="demo",
        metavar="NAME",
        help="demo, ok, warning, critical, 401, 500 or slow (default: %(default)s)",
    )

    notify = subcommands.add_parser(
        "notify-test", parents=[common], help="send a test alert to each sink"
    )
    notify.add_argument("--config", type=Path, help=config_help)
    notify.add_argument("--sink", metavar="NAME", help="only this sink")
    notify.add_argument(
        "--severity",
        choices=("warning", "critical"),
        default="warning",
        help="severity of the test alert (default: warning)",
    )
    notify.add_argument(
        "--dry-run",
        action="store_true",
        help="print the request each sink would get, secrets masked, and send nothing",
    )

    config = subcommands.add_parser("config", parents=[common], help="configuration tools")
    config_commands = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    config_check = config_commands.add_parser(
        "check", parents=[common], help="validate a config file and print it, secrets masked"
    )
    config_check.add_argument("file", type=Path)
    return parser


def _command(argv: Sequence[str]) -> str | None:
    """The command word of a command line, found without parsing it."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _VALUED_OPTIONS:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """The program, on `argv` (default: this process's command line, whose start is then
    where `check --timeout` counts from)."""
    own_process = argv is None
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        if _command(argv) == "check":
            # A monitoring plugin's usage error is UNKNOWN, on stdout where NRPE looks.
            return commands.check_unknown(
                f"usage: {exc.message} (see pixverse-monitor check --help)"
            )
        sys.stderr.write(exc.usage)
        print(f"{exc.prog}: error: {exc.message}", file=sys.stderr)
        return 2
    from monitor.logs import configure_logging  # noqa: PLC0415 - not for --help or a usage error

    level = getattr(args, "log_level", None)
    fmt = getattr(args, "log_format", None)
    if args.command == "run":
        configure_logging(level or "info", fmt)
        return commands.run_command(args.config)
    if args.command == "demo":
        configure_logging(level or "info", fmt)
        return commands.demo_command(args.listen)
    if args.command == "fake-upstream":
        configure_logging(level or "warning", fmt, stream=sys.stderr)
        return commands.fake_upstream_command(args.listen, args.token, args.scenario)
    # The other commands print their result on stdout: logs go to stderr, and only when they
    # matter.
    configure_logging(level or "warning", fmt, stream=sys.stderr)
    if args.command == "check":
        return commands.check_command(
            args.config,
            as_json=args.json,
            timeout_seconds=args.timeout,
            from_process_start=own_process,
        )
    if args.command == "notify-test":
        return commands.notify_test_command(
            args.config, args.sink, severity=args.severity, dry_run=args.dry_run
        )
    return commands.config_check_command(args.file)
