"""One daemon per state directory. Two daemons on different ports but one state directory
delivered 240 notifications for 120 alerts, each overwriting the other's state file; now the
second start is refused, while `check` and `notify-test`, which never touch the directory,
still work beside a running daemon."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from monitor.alerts.statelock import LOCK_NAME, StateLock
from monitor.config.load import load_config
from monitor.errors import ConfigError
from monitor.service.daemon import Daemon
from monitor.testing.fakeapi import FakeUpstream
from monitor.testing.receiver import WebhookReceiver
from tests.helpers import ConfigWriter, LogCapture, async_eventually
from tests.helpers.commands import cli
from tests.helpers.daemonprocess import DaemonProcess
from tests.helpers.inprocess import running


def _sink(url: str) -> str:
    return f'\n[[sinks]]\nname = "ops"\nurl = "{url}/hook"\n'


def test_a_second_daemon_on_one_state_directory_exits_2_naming_it(
    fake: FakeUpstream, configs: ConfigWriter, receiver: WebhookReceiver
) -> None:
    path = configs.for_upstream(fake.base_url, _sink(receiver.url))
    # Listening once started: the state directory is its own by now.
    first = DaemonProcess(path, configs.dir)
    try:
        # Same state directory, another port (the config says port 0: a free one each).
        second = cli("run", "--config", str(path))
        assert second.returncode == 2
        (line,) = second.stderr.splitlines()
        assert "alerts.state_dir" in line and str(configs.dir / "state") in line
        assert f"pid {first.pid}" in line
        assert "Traceback" not in second.stdout + second.stderr
        # check and notify-test never touch the state directory: they work beside it.
        assert cli("check", "--config", str(path)).stdout.startswith("PIXVERSE ")
        tested = cli("notify-test", "--config", str(path))
        assert tested.returncode == 0, tested.stdout + tested.stderr
        assert first.running()  # the first one runs on
        assert first.stop()[0] == 0
    finally:
        first.kill()
    # Once it has stopped, the directory is free for the next one.
    lock = StateLock(configs.dir / "state")
    lock.acquire()
    lock.release()


def test_a_lock_left_by_a_killed_daemon_keeps_no_one_out(tmp_path: Path) -> None:
    """kill -9 leaves the lock file behind, never the lock: the kernel lets go of it."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path;"
            "from monitor.alerts.statelock import StateLock;"
            "StateLock(Path(sys.argv[1])).acquire(); print('held', flush=True); time.sleep(60)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(ConfigError) as caught:
            StateLock(tmp_path).acquire()
        assert caught.value.key == "alerts.state_dir"
        assert f"(pid {holder.pid})" in caught.value.problem
    finally:
        holder.kill()
        holder.wait(10)
    lock = StateLock(tmp_path)
    lock.acquire()
    assert (tmp_path / LOCK_NAME).exists()
    lock.release()


@pytest.mark.anyio
async def test_a_reload_onto_a_directory_in_use_fails_and_a_move_frees_the_old_one(
    fake: FakeUpstream, configs: ConfigWriter, logs: LogCapture
) -> None:
    taken = configs.dir / "taken"
    taken.mkdir()
    other = StateLock(taken)
    other.acquire()  # another daemon's
    path = configs.for_upstream(fake.base_url)
    text = path.read_text()
    old_dir = configs.dir / "state"
    async with running(Daemon(load_config(path, env={}))) as daemon:
        path.write_text(text.replace(str(old_dir), str(taken)))
        assert not await daemon.reload()
        (failed,) = logs.events("config.reload_failed")
        assert failed["key"] == "alerts.state_dir"
        assert "in use by another pixverse-monitor" in failed["problem"]
        with pytest.raises(ConfigError):
            StateLock(old_dir).acquire()  # still the daemon's own
        other.release()
        path.write_text(text.replace(str(old_dir), str(configs.dir / "moved")))
        assert await daemon.reload()

        async def old_one_free() -> bool:
            lock = StateLock(old_dir)
            try:
                lock.acquire()
            except ConfigError:
                return False
            lock.release()
            return True

        await async_eventually(old_one_free, what="the old state directory to be let go")
        with pytest.raises(ConfigError):
            StateLock(configs.dir / "moved").acquire()
