"""The one-line summary of a snapshot that `systemctl status` shows (sd_notify STATUS=). Pure."""

from __future__ import annotations

from monitor.evaluate import STATES
from monitor.snapshot import Snapshot


def status_line(snapshot: Snapshot) -> str:
    """E.g. "2/2 sources up; 5 accounts: 3 ok, 1 warning, 0 critical, 1 expired, 0 unknown;
    usable capacity 14 jobs"."""
    sources = snapshot.sources
    up = sum(1 for s in sources if s.up)
    counts = dict.fromkeys(STATES, 0)
    usable = 0
    for source in sources:
        if source.evaluation is None:
            continue
        totals = source.evaluation.totals
        usable += totals.usable_capacity
        for state in STATES:
            counts[state] += totals.accounts_by_state[state]
    states = ", ".join(f"{n} {state.value}" for state, n in counts.items())
    return (
        f"{up}/{len(sources)} sources up; {sum(counts.values())} accounts: {states}; "
        f"usable capacity {usable} jobs"
    )
