"""Bad settings and start-up failures: exit 2 with one line naming the key, never a traceback,
and never a setting that would page by itself."""

from __future__ import annotations

import asyncio
import io
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config.load import load_config
from monitor.errors import ConfigError
from monitor.logs import configure_logging
from monitor.service.daemon import Daemon
from tests.helpers import ConfigWriter
from tests.helpers.daemons import running

HUGE = "999999999999d"
NOT_IDNA = "http://xn--a.example/"  # passes urlsplit; no IDNA codec can encode it


@pytest.fixture(autouse=True)
def quiet_logging() -> Iterator[None]:
    yield
    configure_logging("warning", "json", stream=io.StringIO())


SOURCE = '[[sources]]\nname = "main"\ntoken_file = "{token}"\n'
SINK = '[[sinks]]\nname = "ops"\nurl = "http://127.0.0.1:9/hook"\n'

# (id, config text after the [[sources]] table, the key the error must name)
BAD: list[tuple[str, str, str]] = [
    ("huge interval", f'[poll]\ninterval = "{HUGE}"', "poll.interval"),
    ("huge timeout", f'[poll]\ntimeout = "{HUGE}"', "poll.timeout"),
    ("huge stale_after", f'[poll]\nstale_after = "{HUGE}"', "poll.stale_after"),
    ("huge jitter", f'[poll]\njitter = "{HUGE}"', "poll.jitter"),
    ("huge warning", f'[thresholds]\nwarning = "{HUGE}"', "thresholds.warning"),
    ("huge critical", f'[thresholds]\ncritical = "{HUGE}"', "thresholds.critical"),
    ("huge repeat", f'[alerts]\nrepeat_interval = "{HUGE}"', "alerts.repeat_interval"),
    ("huge sink timeout", f'{SINK}timeout = "{HUGE}"', "sinks[0].timeout"),
    ("many digits", '[poll]\ninterval = "' + "9" * 400 + 's"', "poll.interval"),
    ("largest integer", "[poll]\ninterval = 9223372036854775807", "poll.interval"),
    ("interval 1ms", '[poll]\ninterval = "1ms"\njitter = 0', "poll.interval"),
    ("interval 999ms", '[poll]\ninterval = "999ms"\njitter = 0', "poll.interval"),
    (
        "stale_after equal to interval",
        '[poll]\ninterval = "1m"\njitter = "5s"\nstale_after = "1m"',
        "poll.stale_after",
    ),
    (
        "stale_after without room for a slow poll",
        '[poll]\ninterval = "1m"\njitter = "10s"\ntimeout = "15s"\nstale_after = "84s"',
        "poll.stale_after",
    ),
    ("base_url port too large", "base_url_port", "sources[0].base_url"),
    ("base_url port 0", "base_url_zero", "sources[0].base_url"),
    ("base_url not IDNA", "base_url_idna", "sources[0].base_url"),
    ("base_url bad IPv6", "base_url_ipv6", "sources[0].base_url"),
    ("sink port too large", SINK.replace(":9/", ":99999/"), "sinks[0].url"),
    ("sink host not IDNA", SINK.replace("http://127.0.0.1:9/hook", NOT_IDNA), "sinks[0].url"),
    ("sink host snowman", SINK.replace("127.0.0.1:9", "\u2603.example"), "sinks[0].url"),
    ("listen port too large", '[metrics]\nlisten = "127.0.0.1:99999"', "metrics.listen"),
    ("a matcher without an operator", f"{SINK}matchers = ['team:studio']", "sinks[0].matchers[0]"),
    ("a matcher's regex unclosed", f"{SINK}matchers = ['team=~\"(x\"']", "sinks[0].matchers[0]"),
    # Names and labels go into every alert the state file keeps: one it could not load back
    # made the next start drop every alert and pending notification it was on.
    ("sink name too long", SINK.replace('"ops"', f'"{"o" * 129}"'), "sinks[0].name"),
    (
        "label value too long",
        f'[[accounts]]\nmatch = "*"\nlabels = {{ team = "{"t" * 1025}" }}',
        "accounts[0].labels.team",
    ),
    (
        "label name too long",
        f'[[accounts]]\nmatch = "*"\nlabels = {{ {"n" * 129} = "x" }}',
        "accounts[0].labels",
    ),
    (
        "too many labels",
        '[[accounts]]\nmatch = "*"\nlabels = { '
        + ", ".join(f'l{i} = "x"' for i in range(33))
        + " }",
        "accounts[0].labels",
    ),
]

BASE_URLS = {
    "base_url_port": "http://127.0.0.1:99999",
    "base_url_zero": "http://127.0.0.1:0",
    "base_url_idna": NOT_IDNA,
    "base_url_ipv6": "http://[::1",
}


def write_bad(configs: ConfigWriter, text: str) -> Path:
    source = SOURCE.format(token=configs.token_file)
    if text in BASE_URLS:
        source += f'base_url = "{BASE_URLS[text]}"\n'
        text = ""
    state = f'\n[alerts]\nstate_dir = "{configs.dir / "state"}"\n' if "[alerts]" not in text else ""
    return configs.write(source + "\n" + text + "\n" + state)


@pytest.mark.parametrize(("text", "key"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_setting_is_refused_naming_the_key(
    configs: ConfigWriter, capsys: pytest.CaptureFixture[str], text: str, key: str
) -> None:
    path = write_bad(configs, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert caught.value.key == key

    for argv in (["config", "check", str(path)], ["run", "--config", str(path)]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        (line,) = err.splitlines()
        assert key in line, line
        assert "Traceback" not in err


def test_bad_settings_from_a_shell(configs: ConfigWriter) -> None:
    """The same as a user meets it: a process, exit 2, one line, no traceback."""
    path = write_bad(configs, f'[poll]\ninterval = "{HUGE}"')
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert "poll.interval" in line
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("interval", "jitter", "timeout"),
    [("5m", "10s", "15s"), ("1s", "0s", "15s"), ("10s", "9s", "1m"), ("1h", "0s", "15s")],
)
def test_the_default_stale_after_never_pages_by_itself(
    configs: ConfigWriter, interval: str, jitter: str, timeout: str
) -> None:
    source = SOURCE.format(token=configs.token_file)
    poll = f'[poll]\ninterval = "{interval}"\njitter = "{jitter}"\ntimeout = "{timeout}"\n'
    config = load_config(configs.write(source + poll), env={})
    slowest_gap = config.poll.interval + config.poll.jitter + config.poll.timeout
    assert config.poll.stale_after >= slowest_gap
    assert config.poll.stale_after >= 3 * config.poll.interval
    if interval == "5m":
        assert config.poll.stale_after.total_seconds() == 15 * 60  # the documented default


def _busy_port() -> tuple[socket.socket, int]:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    return holder, int(holder.getsockname()[1])


def test_a_listen_address_in_use_is_retried_then_exit_2(configs: ConfigWriter) -> None:
    holder, port = _busy_port()
    with holder:
        path = configs.for_upstream("http://127.0.0.1:9", metrics=f'listen = "127.0.0.1:{port}"')
        path.write_text(path.read_text().replace('listen = "127.0.0.1:0"\n', "", 1))
        began = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "monitor", "run", "--config", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        waited = time.monotonic() - began
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert "metrics.listen" in line and "in use" in line
    assert "Traceback" not in done.stdout + done.stderr
    assert 9.5 <= waited < 30


@pytest.mark.anyio
async def test_a_listen_address_freed_while_retrying_is_taken(configs: ConfigWriter) -> None:
    holder, port = _busy_port()
    path = configs.for_upstream("http://127.0.0.1:9", metrics=f'listen = "127.0.0.1:{port}"')
    path.write_text(path.read_text().replace('listen = "127.0.0.1:0"\n', "", 1))
    daemon = Daemon(load_config(path, env={}))

    async def free_it() -> None:
        await asyncio.sleep(1.0)
        holder.close()

    freeing = asyncio.create_task(free_it())
    async with running(daemon):
        assert daemon.metrics_port == port
    await freeing


@pytest.mark.parametrize(
    "listen",
    [
        "192.0.2.1:9877",  # TEST-NET-1: on no interface of this host
        "no-such-host.invalid:9877",
    ],
)
def test_an_address_that_cannot_be_bound_exits_2_at_once(
    configs: ConfigWriter, capsys: pytest.CaptureFixture[str], listen: str
) -> None:
    path = configs.for_upstream("http://127.0.0.1:9", metrics=f'listen = "{listen}"')
    path.write_text(path.read_text().replace('listen = "127.0.0.1:0"\n', "", 1))
    began = time.monotonic()
    assert main(["run", "--config", str(path)]) == 2
    assert time.monotonic() - began < 8
    err = capsys.readouterr().err
    (line,) = err.splitlines()
    assert "metrics.listen" in line
    assert "Traceback" not in err


def test_an_unexpected_start_up_failure_is_one_line(
    configs: ConfigWriter, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = configs.for_upstream("http://127.0.0.1:9")

    async def broken(self: object, external_url: str) -> None:
        raise RuntimeError("the disk caught fire")

    monkeypatch.setattr("monitor.alerts.alerting.Alerting.start", broken)
    code = main(["run", "--config", str(path)])
    assert code != 0
    err = capsys.readouterr().err
    (line,) = err.splitlines()
    assert "RuntimeError" in line and "the disk caught fire" in line
    assert "Traceback" not in err
