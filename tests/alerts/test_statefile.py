"""The state file: round trip, atomic replacement, and a torn or corrupt file survived."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from monitor.alerts.engine import Alert, AlertEvent, AlertName, FiringAlert, Reason, Status
from monitor.alerts.outbox import Notification
from monitor.alerts.statefile import FILE_NAME, StateFile
from monitor.config.model import Severity
from monitor.errors import ConfigError
from tests.helpers import LogCapture

ALERT = Alert(
    AlertName.EXPIRING_SOON,
    Severity.WARNING,
    "main",
    "a@x.io",
    "soon",
    "desc",
    {"expires_at": "2027-01-01T00:00:00Z", "ttl_seconds": "100", "max_jobs": "3"},
)
FIRING = FiringAlert(ALERT, 100.0, 150.5, Severity.CRITICAL)
EVENT = AlertEvent(
    "abc", Status.RESOLVED, Reason.RESOLVED, ALERT, 100.0, 200.0, 200.0, Severity.CRITICAL
)
PENDING = Notification(EVENT, "ops", attempts=3, next_attempt_unix=210.0)


def test_round_trip(tmp_path: Path) -> None:
    state = StateFile(tmp_path / "state")
    state.prepare()
    state.save({ALERT.fingerprint: FIRING}, [PENDING])
    book, outbox = StateFile(tmp_path / "state").load()
    assert book == {ALERT.fingerprint: FIRING}
    assert outbox == [PENDING]
    assert oct((tmp_path / "state" / FILE_NAME).stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in (tmp_path / "state").iterdir()] == [FILE_NAME]  # no temp files left


def test_no_file_is_a_clean_start(tmp_path: Path) -> None:
    assert StateFile(tmp_path).load() == ({}, [])


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b'{"version": 1, "alerts": [',  # torn write
        b"\x00\x00\x00",
        b"[]",
        b'{"version": 99, "alerts": [], "outbox": []}',
        b'{"version": 1, "alerts": {}, "outbox": []}',
    ],
)
def test_corrupt_file_is_logged_set_aside_and_started_clean(
    tmp_path: Path, content: bytes, logs: LogCapture
) -> None:
    (tmp_path / FILE_NAME).write_bytes(content)
    assert StateFile(tmp_path).load() == ({}, [])
    (event,) = logs.events("state.corrupt")
    assert event["level"] == "error"
    aside = [p for p in tmp_path.iterdir() if p.name.startswith(f"{FILE_NAME}.corrupt-")]
    assert len(aside) == 1
    assert aside[0].read_bytes() == content
    # And the next save works as usual.
    StateFile(tmp_path).save({}, [PENDING])
    assert StateFile(tmp_path).load() == ({}, [PENDING])


@pytest.mark.parametrize(
    "content",
    [
        b'{"version": 1, "alerts": [{"alert": {}}], "outbox": []}',
        b'{"version": 1, "alerts": [], "outbox": [{"sink": 5}]}',
    ],
)
def test_a_damaged_entry_is_dropped_and_the_file_copied_aside(
    tmp_path: Path, content: bytes, logs: LogCapture
) -> None:
    (tmp_path / FILE_NAME).write_bytes(content)
    assert StateFile(tmp_path).load() == ({}, [])
    (event,) = logs.events("state.entries_dropped")
    assert event["level"] == "error" and event["dropped"] == 1
    aside = [p for p in tmp_path.iterdir() if p.name.startswith(f"{FILE_NAME}.corrupt-")]
    assert [p.read_bytes() for p in aside] == [content]
    assert (tmp_path / FILE_NAME).read_bytes() == content  # kept until the next save


def test_an_interrupted_save_leaves_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = StateFile(tmp_path)
    state.save({ALERT.fingerprint: FIRING}, [])

    def crash(*_: object) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk on fire"):
        state.save({}, [PENDING])
    monkeypatch.undo()
    assert state.load() == ({ALERT.fingerprint: FIRING}, [])
    assert sorted(p.name for p in tmp_path.iterdir()) == [FILE_NAME]  # the temp file is gone


def test_a_file_in_the_way_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    with pytest.raises(ConfigError) as caught:
        StateFile(blocker / "state").prepare()
    assert caught.value.key == "alerts.state_dir"
    assert "cannot write" in caught.value.problem
