"""`pixverse-monitor fake-upstream`: the fake useapi.net on its own, serving a named scenario,
to rehearse `check`, NRPE, the daemon or a sink against. It prints its URL and the token to
use, and serves until Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time

from monitor.commands.exits import EXIT_CONFIG
from monitor.config import parse_listen
from monitor.errors import ConfigError
from monitor.testing import DEMO_TOKEN, SCENARIOS, FakeUpstream, liven, scenario_upstream


def fake_upstream_command(listen: str, token: str | None, scenario: str) -> int:
    """Exit 0 on Ctrl-C or SIGTERM; 2, with one line, when it cannot start."""
    known = {s.name: s for s in SCENARIOS}
    try:
        if scenario not in known:
            raise ConfigError("--scenario", f"no scenario {scenario!r}; one of {', '.join(known)}")
        host, port = parse_listen("--listen", listen)
        fake = scenario_upstream(scenario, token or DEMO_TOKEN)
        try:
            fake.start(host or "0.0.0.0", port)  # noqa: S104 - only when asked for ":PORT"
        except OSError as exc:
            problem = exc.strerror or str(exc)
            raise ConfigError("--listen", f"cannot listen on {listen}: {problem}") from None
    except ConfigError as exc:
        print(f"pixverse-monitor: fake-upstream: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        print(_banner(fake, known[scenario].name, known[scenario].summary), flush=True)
        return asyncio.run(_serve(fake, scenario))
    finally:
        fake.stop()


def _banner(fake: FakeUpstream, name: str, summary: str) -> str:
    return (
        f"pixverse-monitor fake-upstream: scenario {name}: {summary}\n"
        f"url:   {fake.base_url}\n"
        f"token: {fake.token}\n"
        f"\n"
        f"A config file for it (the token in $USEAPI_TOKEN, or in a file named by token_file):\n"
        f"  [[sources]]\n"
        f'  name = "fake"\n'
        f'  base_url = "{fake.base_url}"\n'
        f"Then: USEAPI_TOKEN={fake.token} pixverse-monitor check --config FILE\n"
        f"Ctrl-C to stop."
    )


async def _serve(fake: FakeUpstream, scenario: str) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    life = asyncio.create_task(liven(fake, time.time())) if scenario == "demo" else None
    try:
        await stop.wait()
    finally:
        if life is not None:
            life.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await life
    return 0
