"""`check` beyond token expiry: plan, plan end, credits and the subscription in the table and
the JSON; the subscription and plan alerts count in the status as the daemon's do; a failed
request is shown but never changes the status; `--timeout` still bounds the whole run."""

from __future__ import annotations

import time
from typing import Any

import pytest
from orjson import loads

from monitor.cli import main
from monitor.testing.fakeapi import ACCOUNT, FEATURES, FakeAccount, FakeUpstream, Fault
from monitor.testing.fakefeatures import FakePlan
from tests.helpers import DAY, ConfigWriter


def check_json(
    configs: ConfigWriter, fake: FakeUpstream, capsys: pytest.CaptureFixture[str], *more: str
) -> tuple[int, dict[str, Any]]:
    path = configs.for_upstream(fake.base_url, "\n".join(more))
    code = main(["check", "--config", str(path), "--json"])
    return code, loads(capsys.readouterr().out)


def accounts_of(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (source,) = document["sources"]
    return {a["account"]: a for a in source["accounts"]}


def test_plan_credits_and_subscription_are_shown(
    fake: FakeUpstream, configs: ConfigWriter, capsys: pytest.CaptureFixture[str], now: float
) -> None:
    ends = int(now + 30 * DAY)
    fake.set_accounts(
        [
            FakeAccount(
                "a@x.io",
                now + 10 * DAY,
                plan=FakePlan(name="Pro", credit_daily=5, credit_package=2.5, expires_at=ends),
            ),
            FakeAccount("b@x.io", now + 10 * DAY, plan=None),  # /features: 400
        ]
    )
    code, document = check_json(configs, fake, capsys)
    assert (code, document["status"]) == (0, "ok")
    (source,) = document["sources"]
    assert source["subscription"] == {
        "outcome": "success",
        "active": True,
        "renewed_at": "2025-04-05T00:00:00Z",
        "subscriptions": 1,
        "max_accounts_per_api": 3,
        "accounts": {
            "PixVerse API": {"total": 2, "active": 2, "error": 0},
            "MiniMax API": {"total": 1, "active": 1, "error": 0},
        },
    }
    assert source["alerts"] == []
    a, b = accounts_of(document)["a@x.io"], accounts_of(document)["b@x.io"]
    assert a["plan"] == "Pro"
    assert a["plan_expires_at"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ends))
    assert a["credits"] == {"daily": 5, "monthly": 12450, "package": 2.5}
    assert (a["plan_concurrency"], a["plan_lapsed"], a["plan_error"]) == (8, False, None)
    assert (b["plan"], b["plan_expires_at"], b["credits"]) == (None, None, None)
    assert b["plan_error"] == "unknown account"
    # The table says the same.
    path = configs.for_upstream(fake.base_url)
    assert main(["check", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "  useapi.net subscription: active, renewed 2025-04-05; PixVerse API: 2 total" in out
    row = next(line for line in out.splitlines() if line.startswith("a@x.io"))
    assert row.split()[-4:] == [
        "Pro",
        *time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ends)).split(),
        "12457.5",
    ]
    assert next(line for line in out.splitlines() if line.startswith("b@x.io")).split()[-3:] == [
        "unknown",
        "-",
        "-",
    ]


@pytest.mark.parametrize(
    ("setup", "code", "named"),
    [
        ("max_jobs", 1, "maxJobs of a@x.io (6) is above what its plan allows (4)"),
        ("ending", 1, "PixVerse plan of a@x.io ends in 3d 0h"),
        ("lapsed", 2, "PixVerse plan of a@x.io has lapsed"),
        ("credits", 1, "PixVerse account a@x.io has 60 credits left"),
        ("inactive", 2, "useapi.net subscription of source main is inactive"),
        ("in_error", 1, "useapi.net marks 1 PixVerse account(s) of source main as in error"),
    ],
)
def test_each_subscription_and_plan_alert_counts_in_the_status(
    fake: FakeUpstream,
    configs: ConfigWriter,
    capsys: pytest.CaptureFixture[str],
    now: float,
    setup: str,
    code: int,
    named: str,
) -> None:
    account = FakeAccount("a@x.io", now + 10 * DAY, max_jobs=4)
    if setup == "max_jobs":
        account = FakeAccount(
            "a@x.io", now + 10 * DAY, max_jobs=6, plan=FakePlan(gen_simultaneously=4)
        )
    elif setup == "ending":
        account = FakeAccount(
            "a@x.io", now + 10 * DAY, plan=FakePlan(expires_at=now + 3 * DAY + 30)
        )
    elif setup == "lapsed":
        account = FakeAccount("a@x.io", now + 10 * DAY, plan=FakePlan(expired_member=1))
    elif setup == "credits":
        account = FakeAccount(
            "a@x.io", now + 10 * DAY, plan=FakePlan(credit_daily=10, credit_monthly=50)
        )
    fake.set_accounts([account])
    if setup == "inactive":
        fake.set_subscription(active=False)
    elif setup == "in_error":
        fake.set_subscription(error=1)
    path = configs.for_upstream(fake.base_url, "[thresholds]\nmin_credits = 100")
    assert main(["check", "--config", str(path)]) == code
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"PIXVERSE {['OK', 'WARNING', 'CRITICAL'][code]} - {named}; 1 accounts")


def test_a_failed_request_is_shown_and_never_changes_the_status(
    fake: FakeUpstream, configs: ConfigWriter, capsys: pytest.CaptureFixture[str], now: float
) -> None:
    fake.set_accounts([FakeAccount("a@x.io", now + 10 * DAY, max_jobs=4)])
    fake.fail_always(FEATURES, Fault(503))
    fake.fail_always(ACCOUNT, Fault(403))
    code, document = check_json(configs, fake, capsys)
    assert (code, document["status"]) == (0, "ok")
    (source,) = document["sources"]
    assert source["outcome"] == "success"
    assert source["subscription"]["outcome"] == "unauthorized"
    a = accounts_of(document)["a@x.io"]
    assert a["plan"] is None
    assert a["plan_error"].startswith("http_error: ")


def test_ignored_accounts_are_neither_shown_nor_asked_about(
    fake: FakeUpstream, configs: ConfigWriter, capsys: pytest.CaptureFixture[str], now: float
) -> None:
    fake.set_accounts(
        [FakeAccount("a@x.io", now + 10 * DAY), FakeAccount("bot@x.io", now - DAY, max_jobs=9)]
    )
    code, document = check_json(
        configs, fake, capsys, '[[accounts]]\nmatch = "bot@*"\nignore = true'
    )
    assert (code, document["status"]) == (0, "ok")  # the expired bot does not count
    assert set(accounts_of(document)) == {"a@x.io"}
    asked = [r.query for r in fake.requests if r.path == FEATURES]
    assert asked and not any("bot" in q for q in asked)


def test_per_account_thresholds_apply(
    fake: FakeUpstream, configs: ConfigWriter, capsys: pytest.CaptureFixture[str], now: float
) -> None:
    fake.set_accounts([FakeAccount("a@studio.io", now + 100 * 3600)])  # ok by the 72h default
    code, document = check_json(
        configs,
        fake,
        capsys,
        '[[accounts]]\nmatch = "*@studio.io"\nwarning = "200h"\ncritical = "50h"',
    )
    assert (code, accounts_of(document)["a@studio.io"]["state"]) == (1, "warning")


def test_the_timeout_cuts_slow_plan_requests_but_keeps_the_verdict(
    fake: FakeUpstream, configs: ConfigWriter, capsys: pytest.CaptureFixture[str], now: float
) -> None:
    fake.set_accounts([FakeAccount("a@x.io", now + 2 * DAY, max_jobs=4)])  # warning
    fake.fail_always(FEATURES, Fault(200, body=b"{}", delay_seconds=30))
    path = configs.for_upstream(fake.base_url, timeout="15s")
    started = time.monotonic()
    code = main(["check", "--timeout", "2", "--config", str(path), "--json"])
    elapsed = time.monotonic() - started
    document = loads(capsys.readouterr().out)
    assert (code, document["status"]) == (1, "warning")
    assert accounts_of(document)["a@x.io"]["plan_error"] == ("timeout: no answer within --timeout")
    assert document["sources"][0]["subscription"]["outcome"] == "success"
    assert elapsed < 4


def test_a_glob_that_fits_no_account_is_a_warning_not_a_status(
    fake: FakeUpstream, configs: ConfigWriter, capsys: pytest.CaptureFixture[str], now: float
) -> None:
    fake.set_accounts([FakeAccount("a@x.io", now + 10 * DAY)])
    rules = '[[accounts]]\nmatch = "a@*"\n[[accounts]]\nmatch = "*@typo.example"'
    code, document = check_json(configs, fake, capsys, rules)
    assert code == 0
    assert document["warnings"] == [
        "accounts[1].match '*@typo.example' fits none of the accounts listed"
    ]
    path = configs.for_upstream(fake.base_url, rules)
    assert main(["check", "--config", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "warning: accounts[1].match '*@typo.example' fits none of the accounts listed"


def test_config_check_warns_of_globs_that_can_never_fit(configs: ConfigWriter) -> None:
    from tests.helpers.commands import cli

    path = configs.for_upstream(
        "http://127.0.0.1:1",
        '[[accounts]]\nmatch = "studio"\n[[accounts]]\nmatch = "*"\n[[accounts]]\nmatch = "x@y.z"',
    )
    result = cli("config", "check", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "pixverse-monitor: warning: accounts[0].match: 'studio' has no @ and no wildcard: it "
        "fits no email",
        "pixverse-monitor: warning: accounts[2].match: never applies: accounts[1] (match '*') "
        "comes first and fits every account this one does",
        f"pixverse-monitor: {path} is valid",
    ]
    assert '[[accounts]]\nmatch = "studio"' in result.stdout
