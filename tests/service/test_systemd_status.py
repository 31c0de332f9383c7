"""The STATUS= line: every source and state counted, capacity summed."""

from __future__ import annotations

from datetime import timedelta

from monitor.config.model import AccountLabel, Thresholds
from monitor.errors import Outcome
from monitor.evaluate import evaluate
from monitor.service.systemd_status import systemd_status
from monitor.snapshot import Snapshot, SourceSnapshot
from monitor.testing.fakeclock import FakeClock
from monitor.upstream.parse import parse_accounts
from tests.helpers import DAY, HOUR


def test_status_line_counts_states_and_sources() -> None:
    now = FakeClock(1_800_000_000).time()
    payload = {
        "a@x.io": {"jwt": {"ExpireTime": now + 10 * DAY}, "maxJobs": 8},
        "b@x.io": {"jwt": {"ExpireTime": now + 2 * DAY}, "maxJobs": 3},
        "c@x.io": {"jwt": {"ExpireTime": now - HOUR}, "maxJobs": 5},
    }
    thresholds = Thresholds(timedelta(hours=72), timedelta(hours=24), 0)
    parsed = parse_accounts(payload)
    evaluation = evaluate(parsed.accounts, None, thresholds, AccountLabel.EMAIL, now)
    up = SourceSnapshot("main", evaluation, True, Outcome.SUCCESS, now, 0.1)
    down = SourceSnapshot("spare", None, False, Outcome.TIMEOUT, None, 2.0)
    line = systemd_status(Snapshot((up, down), now))
    assert line == (
        "1/2 sources up; 3 accounts: 1 ok, 1 warning, 0 critical, 1 expired, 0 unknown; "
        "usable capacity 11 jobs"
    )
    assert "\n" not in line
