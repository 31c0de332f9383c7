"""The state file: round trip, atomic replacement, a torn or corrupt file survived, and what
is saved always loads back."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.alerts import statefile
from monitor.alerts.engine import Alert, AlertEvent, AlertName, AlertStatus, FiringAlert, Reason
from monitor.alerts.outbox import Notification
from monitor.alerts.statefile import FILE_NAME, MAX_TEXT, StateFile
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
    "abc", AlertStatus.RESOLVED, Reason.RESOLVED, ALERT, 100.0, 200.0, 200.0, Severity.CRITICAL
)
PENDING = Notification("n-abc", "ops", (EVENT,), attempts=3, next_attempt_unix=210.0)


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


# -- what can be saved can be loaded -------------------------------------------------------

LONG = "x" * (MAX_TEXT + 10)


def test_texts_longer_than_a_load_accepts_are_cut_on_saving(tmp_path: Path) -> None:
    """A long plan name in an alert's texts was saved whole and refused at the next start,
    which dropped the alert (announced again) and its pending notification (lost)."""
    alert = replace(ALERT, summary=LONG, description=LONG, details={"plan": LONG})
    firing = replace(FIRING, alert=alert)
    pending = replace(PENDING, events=(replace(EVENT, alert=alert),))
    encoded = StateFile(tmp_path).save({alert.fingerprint: firing}, [pending])
    assert encoded.left_out == ()
    book, outbox = StateFile(tmp_path).load()
    assert list(book) == [alert.fingerprint] and [n.events[0].id for n in outbox] == ["abc"]
    kept = book[alert.fingerprint].alert
    assert len(kept.summary) == len(kept.description) == len(kept.details["plan"]) == MAX_TEXT
    assert kept.summary.endswith("…") and LONG.startswith(kept.summary[:-1])


@pytest.mark.parametrize(
    "change",
    [
        {"account": LONG},
        {"source": LONG},
        {"extra_labels": (("team", LONG),)},
        {"details": {LONG: "v"}},
    ],
    ids=["account", "source", "label", "details key"],
)
def test_an_entry_whose_name_a_load_refuses_is_left_out_and_said(
    tmp_path: Path, change: dict[str, object]
) -> None:
    """Names are capped where they enter, far below the limit; should one still be longer,
    its entry is left out of the file (and named) rather than spoil the next start."""
    bad = replace(replace(ALERT, account="b@x.io"), **change)  # type: ignore[arg-type]
    bad_firing = replace(FIRING, alert=bad)
    bad_pending = replace(PENDING, id="bad", events=(replace(EVENT, id="bad", alert=bad),))
    book = {ALERT.fingerprint: FIRING, bad.fingerprint: bad_firing}
    encoded = StateFile(tmp_path).save(book, [bad_pending, PENDING])
    assert len(encoded.left_out) == 2
    assert "too long" in encoded.left_out[0] and LONG not in " ".join(encoded.left_out)
    assert StateFile(tmp_path).load() == ({ALERT.fingerprint: FIRING}, [PENDING])


def test_content_larger_than_a_load_accepts_is_not_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = StateFile(tmp_path)
    state.save({ALERT.fingerprint: FIRING}, [])
    before = (tmp_path / FILE_NAME).read_bytes()
    monkeypatch.setattr(statefile, "MAX_FILE_BYTES", len(before) + 100)
    encoded = state.save({ALERT.fingerprint: FIRING}, [PENDING] * 3)
    assert encoded.data is None
    assert (tmp_path / FILE_NAME).read_bytes() == before  # the old file, whole


# Short texts of anything, and texts at the limit (a character repeated, after some text).
names = st.text(max_size=40) | st.builds(
    lambda head, fill, size: (head + fill * size)[:size],
    st.text(max_size=8),
    st.characters(),
    st.integers(MAX_TEXT - 2, MAX_TEXT + 2),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=names, account=names, summary=names, detail=names, label=names, sink=names)
def test_whatever_is_saved_loads_back(
    tmp_path_factory: pytest.TempPathFactory,
    source: str,
    account: str,
    summary: str,
    detail: str,
    label: str,
    sink: str,
) -> None:
    directory = tmp_path_factory.mktemp("state")
    alert = Alert(
        AlertName.EXPIRING_SOON,
        Severity.WARNING,
        source,
        account,
        summary,
        summary,
        {"plan": detail},
        (("team", label),),
    )
    firing = FiringAlert(alert, 100.0, 150.5, Severity.WARNING)
    event = AlertEvent(
        "n1", AlertStatus.FIRING, Reason.STARTED, alert, 100.0, None, 100.0, alert.severity
    )
    pending = Notification("n1", sink, (event,))
    encoded = StateFile(directory).save({alert.fingerprint: firing}, [pending])
    book, outbox = StateFile(directory).load()  # never an entry dropped as damaged
    assert len(book) + len(outbox) + len(encoded.left_out) == 2
    for kept in [*(f.alert for f in book.values()), *(n.events[0].alert for n in outbox)]:
        assert (kept.source, kept.account, kept.extra_labels) == (
            source,
            account,
            alert.extra_labels,
        )


def test_a_version_1_file_loads_its_notifications_one_event_each(tmp_path: Path) -> None:
    """Version 1 kept one event a notification, under the event's id: an upgrade delivers
    what it owed under the same id (the receiver's Idempotency-Key)."""
    event = {
        "id": "abc",
        "status": "resolved",
        "reason": "resolved",
        "alert": {
            "name": "PixverseTokenExpiringSoon",
            "severity": "warning",
            "source": "main",
            "account": "a@x.io",
            "summary": "soon",
            "description": "desc",
            "details": dict(ALERT.details),
        },
        "starts_at_unix": 100.0,
        "ends_at_unix": 200.0,
        "at_unix": 200.0,
        "peak_severity": "critical",
    }
    outbox = [{"sink": "ops", "attempts": 3, "next_attempt_unix": 210.0, "event": event}]
    document = {"version": 1, "saved_at_unix": 300.0, "alerts": [], "outbox": outbox}
    (tmp_path / FILE_NAME).write_bytes(orjson.dumps(document))
    assert StateFile(tmp_path).load() == ({}, [Notification("abc", "ops", (EVENT,), 3, 210.0)])
    StateFile(tmp_path).save({}, [PENDING])  # and it is written back as the current version
    assert orjson.loads((tmp_path / FILE_NAME).read_bytes())["version"] == 2
