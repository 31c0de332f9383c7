"""The state file under attack: damaged, hostile, vanishing, or on a full disk. What can be
kept is kept, what cannot is set aside and said, and the daemon never stops alerting."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from monitor.alerts.engine import Alert, AlertEvent, AlertName, AlertStatus, FiringAlert, Reason
from monitor.alerts.outbox import Notification
from monitor.alerts.statefile import FILE_NAME, StateFile
from monitor.alerts.statelock import LOCK_NAME
from monitor.config.load import load_config
from monitor.config.model import Severity
from monitor.service.daemon import Daemon
from monitor.testing.fakeapi import FakeAccount, FakeUpstream
from monitor.testing.receiver import WebhookReceiver
from tests.helpers import API_TOKEN, DAY, ConfigWriter, LogCapture, async_eventually, eventually
from tests.helpers.inprocess import get, running, series

NOW = time.time()
ALERT = Alert(AlertName.EXPIRED, Severity.CRITICAL, "main", "a@x.io", "s", "d", {"k": "v"})


def firing(account: str, starts: float = NOW) -> FiringAlert:
    alert = Alert(AlertName.EXPIRED, Severity.CRITICAL, "main", account, "s", "d", {})
    return FiringAlert(alert, starts, starts, Severity.CRITICAL)


def pending(ident: str, sink: str = "ops", starts: float = NOW) -> Notification:
    alert = Alert(AlertName.EXPIRED, Severity.CRITICAL, "main", f"{ident}@x.io", "s", "d", {})
    event = AlertEvent(
        ident, AlertStatus.FIRING, Reason.STARTED, alert, starts, None, starts, Severity.CRITICAL
    )
    return Notification(ident, sink, (event,), 0, starts)


def saved(directory: Path, alerts: list[FiringAlert], outbox: list[Notification]) -> Any:
    """The document a save writes, as JSON values the test can damage."""
    StateFile(directory).save({f.alert.fingerprint: f for f in alerts}, outbox)
    return orjson.loads((directory / FILE_NAME).read_bytes())


def write(directory: Path, document: Any) -> None:
    (directory / FILE_NAME).write_bytes(orjson.dumps(document))


# Damage done to the second entry of a file holding two alerts and two notifications; the
# first of each must survive.
DAMAGE: list[tuple[str, str, Any]] = [
    ("alert starts in year 3e12", "alerts.starts_at_unix", 1e20),
    ("alert starts before 1970", "alerts.starts_at_unix", -5.0),
    ("alert notified as text", "alerts.notified_unix", "yesterday"),
    ("alert detail not text", "alerts.alert.details", {"k": 5}),
    ("alert with unknown name", "alerts.alert.name", "PixverseEverythingFine"),
    ("notification due in year 3e12", "outbox.next_attempt_unix", 1e20),
    ("notification ends out of range", "outbox.events.0.ends_at_unix", 1e300),
    ("notification at out of range", "outbox.events.0.at_unix", -1e300),
    ("negative attempts", "outbox.attempts", -1),
    ("attempts a boolean", "outbox.attempts", True),
    ("attempts fractional", "outbox.attempts", 2.5),
    ("attempts absurd", "outbox.attempts", 10**15),
    ("empty id", "outbox.id", ""),
    ("empty event id", "outbox.events.0.id", ""),
    ("sink not text", "outbox.sink", 7),
    ("unknown status", "outbox.events.0.status", "exploded"),
    ("no events", "outbox.events", []),
    ("events not a list", "outbox.events", {"0": {}}),
    ("parts sent beyond the events", "outbox.parts_sent", 2),
    ("parts sent negative", "outbox.parts_sent", -1),
    ("held not a boolean", "outbox.held", 1),
]


def _set(document: Any, path: str, value: Any) -> None:
    section, *keys = path.split(".")
    target = document[section][1]
    for key in keys[:-1]:
        target = target[int(key) if key.isdigit() else key]
    target[keys[-1]] = value


@pytest.mark.parametrize(("path", "value"), [d[1:] for d in DAMAGE], ids=[d[0] for d in DAMAGE])
def test_a_damaged_entry_costs_only_itself(
    tmp_path: Path, logs: LogCapture, path: str, value: Any
) -> None:
    document = saved(tmp_path, [firing("a@x.io"), firing("b@x.io")], [pending("n1"), pending("n2")])
    _set(document, path, value)
    write(tmp_path, document)
    book, outbox = StateFile(tmp_path).load()
    kept_alerts = {f.alert.account for f in book.values()}
    if path.startswith("alerts"):
        assert kept_alerts == {"a@x.io"}
        assert [n.id for n in outbox] == ["n1", "n2"]
    else:
        assert kept_alerts == {"a@x.io", "b@x.io"}
        assert [n.id for n in outbox] == ["n1"]
    (dropped,) = logs.events("state.entries_dropped")
    assert dropped["level"] == "error"
    assert dropped["dropped"] == 1
    aside = [p for p in tmp_path.iterdir() if p.name.startswith(f"{FILE_NAME}.corrupt-")]
    assert len(aside) == 1, "the damaged file is kept for inspection"


@pytest.mark.parametrize(
    "content",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"version": 1, "alerts": [], "outbox": [], "x": 1e400}',
        b'{"version": 1, "alerts": {"a": 1}, "outbox": []}',
        b'{"version": 1, "alerts": [], "outbox": null}',
        b'{"version": "1", "alerts": [], "outbox": []}',
        b"\xff\xfe" + "{}".encode("utf-16-le"),
    ],
    ids=["deep", "huge number", "alerts not a list", "outbox null", "version text", "utf-16"],
)
def test_a_hostile_file_is_set_aside(tmp_path: Path, logs: LogCapture, content: bytes) -> None:
    (tmp_path / FILE_NAME).write_bytes(content)
    assert StateFile(tmp_path).load() == ({}, [])
    assert logs.events("state.corrupt")


def test_something_else_in_place_of_the_file_is_set_aside(tmp_path: Path, logs: LogCapture) -> None:
    for make in (
        lambda p: p.mkdir(),
        os.mkfifo,  # reading it would block start-up for ever
        lambda p: p.symlink_to("/dev/zero"),  # and this would fill the memory
    ):
        path = tmp_path / FILE_NAME
        make(path)
        assert StateFile(tmp_path).load() == ({}, [])
        assert not path.exists() and not path.is_symlink()
        StateFile(tmp_path).save({}, [pending("n1")])  # and saving works again
        assert [n.id for n in StateFile(tmp_path).load()[1]] == ["n1"]
        path.unlink()
    assert len(logs.events("state.corrupt")) == 3


def test_a_deleted_state_directory_is_recreated_on_the_next_save(
    tmp_path: Path, logs: LogCapture
) -> None:
    state = StateFile(tmp_path / "state")
    state.prepare()
    state.save({}, [pending("n1")])
    shutil.rmtree(tmp_path / "state")
    state.save({}, [pending("n2")])
    assert [n.id for n in state.load()[1]] == ["n2"]
    assert oct((tmp_path / "state").stat().st_mode & 0o777) == "0o700"
    assert logs.events("state.dir_recreated")


def _sink(url: str) -> str:
    return f'\n[[sinks]]\nname = "ops"\nurl = "{url}/hook"\n'


@pytest.mark.anyio
async def test_the_daemon_recreates_a_state_directory_deleted_under_it(
    fake: FakeUpstream, configs: ConfigWriter, receiver: WebhookReceiver, now: float
) -> None:
    config = configs.load(fake.base_url, _sink(receiver.url))
    state = config.alerts.state_dir / FILE_NAME
    async with running(Daemon(config)) as daemon:
        await async_eventually(lambda: _true(state.exists()), what="the first save")
        shutil.rmtree(config.alerts.state_dir)
        fake.put(FakeAccount("late@x.io", now - DAY))  # a new alert, so a new save
        await daemon.poll("main")

        async def saved_again() -> bool:
            return state.exists() and b"late@x.io" in state.read_bytes()

        await async_eventually(saved_again, what="the state file to come back")


@pytest.mark.anyio
async def test_a_failed_save_is_counted_not_only_logged(
    fake: FakeUpstream,
    configs: ConfigWriter,
    logs: LogCapture,
    monkeypatch: pytest.MonkeyPatch,
    now: float,
) -> None:
    """A save the file system refused showed only in the log."""
    real_write = StateFile.write
    refusals = {"left": 1}

    def refuse_once(self: StateFile, data: bytes) -> None:
        if refusals["left"]:
            refusals["left"] -= 1
            raise OSError(28, "No space left on device")
        real_write(self, data)

    monkeypatch.setattr(StateFile, "write", refuse_once)
    config = configs.load(fake.base_url)
    state = config.alerts.state_dir / FILE_NAME
    async with running(Daemon(config)) as daemon:
        got = await series(daemon)
        reasons = {
            dict(labels)["reason"]: value
            for (name, labels), value in got.items()
            if name == "pixverse_monitor_state_save_failures_total"
        }
        assert set(reasons) == {"write_error", "too_large", "entry_too_long"}  # from 0

        async def counted() -> bool:
            got = await series(daemon)
            return get(got, "pixverse_monitor_state_save_failures_total", reason="write_error") == 1

        await async_eventually(counted, what="the refused save, counted")
        fake.put(FakeAccount("later@x.io", now - DAY))
        await daemon.poll("main")
        await async_eventually(
            lambda: _true(state.exists() and b"later@x.io" in state.read_bytes()),
            what="the next save",
        )
    (failed,) = logs.events("state.save_failed")
    assert (failed["reason"], failed["level"]) == ("write_error", "error")
    assert "No space left" in failed["error"]
    assert not logs.events("task.failed")  # a refusal, not a bug


def test_an_out_of_range_time_in_the_state_file_stops_nothing(
    fake: FakeUpstream, configs: ConfigWriter, receiver: WebhookReceiver
) -> None:
    """A state file the daemon itself would never write, but a disk or a hand could."""
    path = configs.for_upstream(fake.base_url, _sink(receiver.url))
    state_dir = configs.dir / "state"
    state_dir.mkdir()
    document = saved(state_dir, [], [pending("bad"), pending("good")])
    document["outbox"][0]["events"][0]["starts_at_unix"] = 1e20
    write(state_dir, document)
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--config", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        eventually(
            lambda: "good" in [r.headers["idempotency-key"] for r in receiver.accepted()],
            timeout=15,
            what="the good notification",
        )
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Traceback" not in out + err
    assert "bad" not in [r.headers["idempotency-key"] for r in receiver.accepted()]
    assert API_TOKEN not in out + err


async def _true(value: bool) -> bool:
    return value


# -- a full disk ---------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs: mounting needs root, which CI and the dev machines have."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        message = f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode})"
        if os.environ.get("CI", "").lower() == "true" and os.geteuid() == 0:
            pytest.fail(f"{message}; CI runs as root and must be able to")
        pytest.skip(message)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(directory: Path) -> Path:
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 512)
        except OSError:
            pass
    return filler


@pytest.mark.anyio
async def test_a_full_disk_loses_no_alert(
    fake: FakeUpstream,
    configs: ConfigWriter,
    receiver: WebhookReceiver,
    small_disk: Path,
    logs: LogCapture,
    now: float,
) -> None:
    state_dir = small_disk / "state"
    text = configs.for_upstream(fake.base_url, _sink(receiver.url)).read_text()
    config = load_config(
        configs.write(text.replace(str(configs.dir / "state"), str(state_dir))), env={}
    )
    state = state_dir / FILE_NAME
    async with running(Daemon(config)) as daemon:
        await async_eventually(lambda: _true(state.exists()), what="the first save")
        filler = _fill(small_disk)
        for i in range(5):
            fake.put(FakeAccount(f"full{i}@x.io", now - DAY))
            await daemon.poll("main")

        async def all_delivered() -> bool:
            got = b"".join(r.body for r in receiver.accepted())
            return all(f"full{i}@x.io".encode() in got for i in range(5))

        await async_eventually(all_delivered, what="every notification, disk full or not")

        async def save_failed() -> bool:
            return bool(logs.events("state.save_failed"))

        await async_eventually(save_failed, what="a failed save")
        failures = get(
            await series(daemon), "pixverse_monitor_state_save_failures_total", reason="write_error"
        )
        assert failures is not None and failures >= 1
        assert b"full0@x.io" not in state.read_bytes()  # the old file is intact ...
        # ... and no temp file beside it (the lock file is the daemon's own).
        assert sorted(p.name for p in state_dir.iterdir()) == sorted([FILE_NAME, LOCK_NAME])
        filler.unlink()
        fake.put(FakeAccount("after@x.io", now - DAY))
        await daemon.poll("main")

        async def saved_again() -> bool:
            return b"after@x.io" in state.read_bytes()

        await async_eventually(saved_again, what="a save once there is room")
    assert daemon.snapshot.sources[0].up
