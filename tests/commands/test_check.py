"""`check`: one poll, a table or JSON, and Nagios exit codes."""

from __future__ import annotations

import pytest
from orjson import loads

from monitor.cli import main
from monitor.exposition import ACCOUNT_KEYS
from monitor.testing.fakeapi import ACCOUNTS, FakeAccount, FakeUpstream, Fault
from tests.helpers import DAY, HOUR, ConfigWriter


@pytest.mark.parametrize(
    ("ttl", "status", "code"),
    [
        (10 * DAY, "ok", 0),
        (2 * DAY, "warning", 1),
        (5 * HOUR, "critical", 2),
        (-HOUR, "critical", 2),  # expired
        (None, "unknown", 3),
    ],
)
def test_exit_code_per_state(
    fake: FakeUpstream,
    configs: ConfigWriter,
    capsys: pytest.CaptureFixture[str],
    now: float,
    ttl: float | None,
    status: str,
    code: int,
) -> None:
    fake.set_accounts([FakeAccount("a@x.io", None if ttl is None else now + ttl, max_jobs=4)])
    path = configs.for_upstream(fake.base_url)
    assert main(["check", "--config", str(path), "--json"]) == code
    document = loads(capsys.readouterr().out)
    assert document["status"] == status
    assert document["exit_code"] == code
    (source,) = document["sources"]
    assert source["name"] == "main"
    assert source["outcome"] == "success"
    (account,) = source["accounts"]
    # The fields of docs/operations.md, in order, shared with /api/v1/status; the plan's are
    # in tests/commands/test_check_plan_report.py.
    assert tuple(account) == ACCOUNT_KEYS
    assert account["labels"] == {}
    assert account["account"] == "a@x.io"
    assert account["max_jobs"] == 4
    assert (account["executing"], account["available"]) == (0, 4)
    if ttl is None:
        assert account["expires_at"] is None and account["ttl_seconds"] is None
    else:
        assert account["expires_at"].endswith("Z")
        assert abs(account["ttl_seconds"] - ttl) < 10


def test_json_carries_the_policy_labels_of_each_account(
    fake: FakeUpstream, configs: ConfigWriter, capsys: pytest.CaptureFixture[str], now: float
) -> None:
    fake.set_accounts([FakeAccount("a@studio.io", now + 10 * DAY), FakeAccount("b@x.io", None)])
    rule = '[[accounts]]\nmatch = "*@studio.io"\nlabels = { team = "studio", tier = "gold" }\n'
    path = configs.for_upstream(fake.base_url, rule)
    main(["check", "--config", str(path), "--json"])
    (source,) = loads(capsys.readouterr().out)["sources"]
    labels = {a["account"]: a["labels"] for a in source["accounts"]}
    assert labels == {"a@studio.io": {"team": "studio", "tier": "gold"}, "b@x.io": {}}


def test_worst_state_wins(
    fake: FakeUpstream, configs: ConfigWriter, capsys: pytest.CaptureFixture[str], now: float
) -> None:
    fake.set_accounts([FakeAccount("u@x.io", None), FakeAccount("w@x.io", now + 2 * DAY)])
    assert main(["check", "--config", str(configs.for_upstream(fake.base_url))]) == 1
    fake.put(FakeAccount("c@x.io", now + HOUR))
    assert main(["check", "--config", str(configs.for_upstream(fake.base_url))]) == 2
    capsys.readouterr()


def test_failed_poll_is_critical(
    fake: FakeUpstream, configs: ConfigWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.fail_next(ACCOUNTS, Fault(401))
    assert main(["check", "--config", str(configs.for_upstream(fake.base_url)), "--json"]) == 2
    document = loads(capsys.readouterr().out)
    assert document["status"] == "critical"
    assert document["sources"][0]["outcome"] == "unauthorized"
    assert document["sources"][0]["accounts"] == []


def test_low_capacity_is_a_warning(
    fake: FakeUpstream, configs: ConfigWriter, capsys: pytest.CaptureFixture[str], now: float
) -> None:
    fake.set_accounts([FakeAccount("a@x.io", now + 10 * DAY, max_jobs=2)])
    path = configs.for_upstream(fake.base_url, "[thresholds]\nmin_usable_capacity = 5")
    assert main(["check", "--config", str(path)]) == 1
    assert "below thresholds.min_usable_capacity" in capsys.readouterr().out


def test_table(
    fake: FakeUpstream, configs: ConfigWriter, capsys: pytest.CaptureFixture[str], now: float
) -> None:
    fake.set_accounts(
        [
            FakeAccount("later@x.io", now + 10 * DAY + 30, max_jobs=8, executing=3),
            FakeAccount("sooner@x.io", now + 2 * DAY + 3 * HOUR + 30, max_jobs=3),
            FakeAccount("never@x.io", None, max_jobs=1),
        ]
    )
    assert main(["check", "--config", str(configs.for_upstream(fake.base_url))]) == 1
    out = capsys.readouterr().out.splitlines()
    summary, perfdata = out[0].split(" | ")
    assert summary == (
        "PIXVERSE WARNING - sooner@x.io expires in 2d 3h; "
        "3 accounts: 1 ok, 1 warning, 0 critical, 0 expired, 1 unknown"
    )
    assert "main_min_ttl=" in perfdata
    header = next(i for i, line in enumerate(out) if line.startswith("ACCOUNT"))
    rows = [line.split() for line in out[header + 1 :]]
    assert [r[0] for r in rows] == ["sooner@x.io", "later@x.io", "never@x.io"]  # by TTL
    assert rows[0][1] == "warning"
    assert " ".join(rows[0][4:6]) == "2d 3h"
    # ... MAX JOBS, EXEC/AVAIL, then PLAN ("Premium - Monthly"), PLAN ENDS, CREDITS.
    assert rows[1][-8:-6] == ["8", "3/5"]
    assert rows[2][2:6] == ["-", "-", "1", "0/1"]
    assert rows[2][6:9] == ["Premium", "-", "Monthly"]
    assert rows[2][-1] == "12450"


def test_bad_config_is_unknown(configs: ConfigWriter, capsys: pytest.CaptureFixture[str]) -> None:
    """A monitoring plugin that cannot run says UNKNOWN (3), not CRITICAL, on stdout."""
    path = configs.for_upstream("http://127.0.0.1:1")
    path.write_text(path.read_text().replace('interval = "1h"', 'interval = "often"'))
    assert main(["check", "--config", str(path)]) == 3
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("PIXVERSE UNKNOWN - config error: poll.interval: ")
