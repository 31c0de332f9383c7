"""The one-line summary of a snapshot that `systemctl status` shows (sd_notify STATUS=). Pure."""

from __future__ import annotations

from monitor.evaluate import STATES
from monitor.snapshot import Snapshot

# Of a failed reload's problem, shown first; the rest of the line may be cut by systemd.
MAX_PROBLEM_CHARS = 100


def systemd_status(snapshot: Snapshot, reload_problem: str | None = None) -> str:
    """E.g. "2/2 sources up; 5 accounts: 3 ok, 1 warning, 0 critical, 1 expired, 0 unknown;
    usable capacity 14 jobs". After a failed reload, and until a good one, it starts with
    "RELOAD FAILED (<key: problem>), running the previous configuration; "."""
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
    line = (
        f"{up}/{len(sources)} sources up; {sum(counts.values())} accounts: {states}; "
        f"usable capacity {usable} jobs"
    )
    if reload_problem is None:
        return line
    problem = " ".join(reload_problem.split())
    if len(problem) > MAX_PROBLEM_CHARS:
        problem = problem[: MAX_PROBLEM_CHARS - 1] + "…"
    return f"RELOAD FAILED ({problem}), running the previous configuration; {line}"
