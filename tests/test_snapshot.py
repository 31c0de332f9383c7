"""What readers derive from a snapshot is made once per snapshot: `PerSnapshot`."""

from __future__ import annotations

from monitor.snapshot import PerSnapshot, Snapshot

NOW = 1_800_000_000.0


def test_made_once_per_snapshot_and_again_for_a_new_one() -> None:
    made: list[Snapshot] = []

    def make(snapshot: Snapshot) -> list[Snapshot]:
        made.append(snapshot)
        return [snapshot]

    per = PerSnapshot(make)
    first = Snapshot((), NOW)
    value = per.of(first)
    assert per.of(first) is value
    assert made == [first]
    # A poll makes a new snapshot object, equal or not: told apart by identity.
    again = Snapshot((), NOW)
    assert again == first
    assert per.of(again) is not value
    assert len(made) == 2 and made[1] is again
