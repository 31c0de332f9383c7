"""The state directory's lock: one holder at a time, named to the next one, let go on release."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from monitor.alerts.statelock import LOCK_NAME, StateLock
from monitor.errors import ConfigError


def test_one_holder_at_a_time(tmp_path: Path) -> None:
    first = StateLock(tmp_path)
    first.acquire()
    assert first.held
    assert (tmp_path / LOCK_NAME).read_text() == f"{os.getpid()}\n"
    second = StateLock(tmp_path)
    with pytest.raises(ConfigError) as caught:
        second.acquire()  # flock is per open file: the same process is refused too
    assert caught.value.key == "alerts.state_dir"
    assert str(tmp_path) in caught.value.problem
    assert f"(pid {os.getpid()})" in caught.value.problem
    assert not second.held
    first.release()
    assert not first.held
    second.acquire()
    second.release()


def test_a_directory_that_cannot_hold_the_lock_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        StateLock(tmp_path / "missing").acquire()
    assert caught.value.key == "alerts.state_dir"
    assert "cannot lock" in caught.value.problem


def test_a_link_in_place_of_the_lock_file_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("keep me")
    (tmp_path / LOCK_NAME).symlink_to(target)
    with pytest.raises(ConfigError):
        StateLock(tmp_path).acquire()
    assert target.read_text() == "keep me"
