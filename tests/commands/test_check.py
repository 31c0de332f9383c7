"""`check`, the one-shot monitoring plugin (Nagios, Icinga, NRPE): one poll of each source; the
status line and its perfdata parsed back by the guidelines' grammar, the table and the JSON;
every exit status, the worst state winning; `--timeout`; usage and config errors as UNKNOWN;
and a closed pipe."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from orjson import loads

from monitor.cli import main
from monitor.commands.started import process_age_seconds
from monitor.exposition import ACCOUNT_KEYS
from monitor.testing.fakeapi import ACCOUNTS, FakeAccount, FakeUpstream, Fault
from tests.helpers import DAY, HOUR, ConfigWriter
from tests.helpers.commands import cli

# The Monitoring Plugins Development Guidelines, "Performance data":
#   'label'=value[UOM];[warn];[crit];[min];[max]
# A label with spaces is quoted; value is a number or U; UOM one of s, ms, us, %, B, KB, MB,
# TB, c, or none.
_PERF = re.compile(
    r"""(?P<label>'[^'=]+'|[^'=\s]+)=(?P<value>-?\d+(?:\.\d+)?|U)(?P<uom>s|ms|us|%|B|KB|MB|TB|c)?
        (?:;(?P<warn>[^;\s]*))?(?:;(?P<crit>[^;\s]*))?(?:;(?P<min>[^;\s]*))?(?:;(?P<max>[^;\s]*))?
        (?:\s+|$)""",
    re.VERBOSE,
)
_STATUS_LINE = re.compile(r"PIXVERSE (OK|WARNING|CRITICAL|UNKNOWN) - (.+)")


@dataclass(frozen=True)
class Perf:
    value: float | None
    uom: str
    warn: str
    crit: str
    min: str


def parse_plugin_output(first_line: str) -> tuple[str, str, dict[str, Perf]]:
    """(status, summary, perfdata by label) of a plugin's first line; fails unless every
    byte after the "|" is perfdata the grammar accepts."""
    text, bar, perf_text = first_line.partition(" | ")
    match = _STATUS_LINE.fullmatch(text)
    assert match, first_line
    perf: dict[str, Perf] = {}
    position = 0
    while bar and position < len(perf_text):
        item = _PERF.match(perf_text, position)
        assert item, f"bad perfdata at {perf_text[position:]!r}"
        label = item["label"].strip("'")
        value = None if item["value"] == "U" else float(item["value"])
        perf[label] = Perf(
            value, item["uom"] or "", item["warn"] or "", item["crit"] or "", item["min"] or ""
        )
        position = item.end()
    return match[1], match[2], perf


def test_perfdata_parses_back_per_source(
    configs: ConfigWriter, capsys: pytest.CaptureFixture[str], now: float
) -> None:
    with (
        FakeUpstream(token=_token(configs), accounts=[]) as main_api,
        FakeUpstream(token=_token(configs), accounts=[]) as spare_api,
    ):
        main_api.set_accounts(
            [
                FakeAccount("ok@x.io", now + 10 * DAY, max_jobs=8, executing=3),
                FakeAccount("warn@x.io", now + 2 * DAY, max_jobs=3),
                FakeAccount("gone@x.io", now - HOUR, max_jobs=5),
                FakeAccount("what@x.io", None, max_jobs=1),
            ]
        )
        spare_api.fail_always(ACCOUNTS, Fault(500))
        path = configs.write(
            f"""
[[sources]]
name = "main"
base_url = "{main_api.base_url}"
token_file = "{configs.token_file}"
[[sources]]
name = "spare pool"
base_url = "{spare_api.base_url}"
token_file = "{configs.token_file}"
[poll]
interval = "1h"
timeout = "2s"
jitter = 0
[thresholds]
min_usable_capacity = 4
[alerts]
state_dir = "{configs.dir / "state"}"
"""
        )
        code = main(["check", "--config", str(path)])
    first = capsys.readouterr().out.splitlines()[0]
    status, summary, perf = parse_plugin_output(first)
    assert (code, status) == (2, "CRITICAL")
    # The worst first: the failed source and the expired account, then the tally.
    assert summary.startswith("source spare pool: http_error, gone@x.io expired 1h 0m ago; ")
    assert summary.endswith("4 accounts: 1 ok, 1 warning, 0 critical, 1 expired, 1 unknown")
    assert perf["main_usable_jobs"] == Perf(11, "", "4:", "", "0")
    assert perf["main_free_jobs"] == Perf(8, "", "", "", "0")
    counts = {state: perf[f"main_accounts_{state}"].value for state in _STATES}
    assert counts == {"ok": 1, "warning": 1, "critical": 0, "expired": 1, "unknown": 1}
    ttl = perf["main_min_ttl"]
    assert ttl.uom == "s" and ttl.value is not None and -HOUR - 10 < ttl.value <= -HOUR
    assert (ttl.warn, ttl.crit) == (f"{3 * DAY:g}:", f"{DAY:g}:")
    # A source that could not be read: every value unknown, never a made-up zero.
    assert "spare pool_usable_jobs" in perf  # quoted in the line: it has a space
    assert "'spare pool_usable_jobs'=U" in first
    assert all(p.value is None for label, p in perf.items() if label.startswith("spare pool_"))


def test_ttl_perfdata_is_judged_by_the_thresholds_that_set_the_state(
    configs: ConfigWriter, capsys: pytest.CaptureFixture[str], now: float
) -> None:
    """An account under an [[accounts]] rule with thresholds of its own is graphed against
    those: its own min_ttl item, so that a graph's colours agree with the status. Rules that
    leave the thresholds alone, or ignore accounts, add nothing."""
    with FakeUpstream(token=_token(configs), accounts=[]) as api:
        api.set_accounts(
            [
                FakeAccount("vip@x.io", now + 5 * DAY + 30),  # warning by its rule's 10d
                FakeAccount("a@x.io", now + 10 * DAY + 30),
                FakeAccount("b@team.x.io", now + 4 * DAY + 30),  # ok by the global 72h
                FakeAccount("gone@x.io", now + HOUR),  # ignored: never counted
            ]
        )
        path = configs.for_upstream(
            api.base_url,
            """
[[accounts]]
match = "vip@x.io"
warning = "10d"
critical = "3d"
[[accounts]]
match = "*@team.x.io"
labels = { team = "t" }
[[accounts]]
match = "nobody@x.io"
critical = "2d"
[[accounts]]
match = "gone@x.io"
ignore = true
warning = "20d"
""",
        )
        code = main(["check", "--config", str(path)])
    first = capsys.readouterr().out.splitlines()[0]
    status, summary, perf = parse_plugin_output(first)
    assert (code, status) == (1, "WARNING"), first
    assert summary.startswith("vip@x.io expires in 5d 0h; ")
    ttl, vip = perf["main_min_ttl"], perf["main_min_ttl_vip@x.io"]
    assert (ttl.uom, ttl.warn, ttl.crit, ttl.min) == ("s", "259200:", "86400:", "")
    assert ttl.value is not None and 4 * DAY <= ttl.value <= 4 * DAY + 30  # b@team.x.io
    assert (vip.uom, vip.warn, vip.crit, vip.min) == ("s", "864000:", "259200:", "")
    assert vip.value is not None and 5 * DAY <= vip.value <= 5 * DAY + 30
    # A rule that fits none of this source's accounts: unknown, and its ranges all the same.
    assert perf["main_min_ttl_nobody@x.io"] == Perf(None, "", "259200:", "172800:", "")
    assert [label for label in perf if "min_ttl" in label] == [
        "main_min_ttl",
        "main_min_ttl_vip@x.io",
        "main_min_ttl_nobody@x.io",
    ]


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


_STATES = ("ok", "warning", "critical", "expired", "unknown")


def _token(configs: ConfigWriter) -> str:
    return configs.token_file.read_text().strip()


@pytest.mark.parametrize(
    ("ttl", "fault", "status", "code", "named"),
    [
        (10 * DAY, None, "OK", 0, "soonest a@x.io expires in 10d 0h"),
        (2 * DAY, None, "WARNING", 1, "a@x.io expires in 2d 0h"),
        (5 * HOUR, None, "CRITICAL", 2, "a@x.io expires in 5h 0m"),
        (-HOUR, None, "CRITICAL", 2, "a@x.io expired 1h 0m ago"),
        (None, None, "UNKNOWN", 3, "a@x.io expiry unknown"),
        (10 * DAY, Fault(401), "CRITICAL", 2, "source main: unauthorized"),
    ],
)
def test_every_status_of_a_poll_in_the_plugin_line_and_the_json(
    fake: FakeUpstream,
    configs: ConfigWriter,
    capsys: pytest.CaptureFixture[str],
    now: float,
    ttl: float | None,
    fault: Fault | None,
    status: str,
    code: int,
    named: str,
) -> None:
    # Half a minute beyond each whole TTL, so that the seconds a test takes do not show.
    expiry = None if ttl is None else now + ttl + (30 if ttl > 0 else -30)
    fake.set_accounts([FakeAccount("a@x.io", expiry, max_jobs=4)])
    path = configs.for_upstream(fake.base_url)
    if fault is not None:
        fake.fail_next(ACCOUNTS, fault, fault)  # the plugin line's poll, then the JSON's
    assert main(["check", "--config", str(path)]) == code
    got_status, summary, perf = parse_plugin_output(capsys.readouterr().out.splitlines()[0])
    assert got_status == status
    assert named in summary
    assert "main_min_ttl" in perf

    assert main(["check", "--config", str(path), "--json"]) == code
    document = loads(capsys.readouterr().out)
    assert document["status"] == status.lower()
    assert document["exit_code"] == code
    (source,) = document["sources"]
    assert source["name"] == "main"
    if fault is not None:
        assert source["outcome"] == "unauthorized"
        assert source["accounts"] == []
        return
    assert source["outcome"] == "success"
    (account,) = source["accounts"]
    # The fields of docs/operations.md, in order, shared with /api/v1/status; the plan's are
    # in tests/commands/test_check_plan_report.py.
    assert tuple(account) == ACCOUNT_KEYS
    assert account["labels"] == {}
    assert account["account"] == "a@x.io"
    assert account["max_jobs"] == 4
    assert (account["executing"], account["available"]) == (0, 4)
    if expiry is None:
        assert account["expires_at"] is None and account["ttl_seconds"] is None
    else:
        assert account["expires_at"].endswith("Z")
        assert abs(account["ttl_seconds"] - (expiry - now)) < 10


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


def test_low_capacity_is_a_warning(
    fake: FakeUpstream, configs: ConfigWriter, capsys: pytest.CaptureFixture[str], now: float
) -> None:
    fake.set_accounts([FakeAccount("a@x.io", now + 10 * DAY, max_jobs=2)])
    path = configs.for_upstream(fake.base_url, "[thresholds]\nmin_usable_capacity = 5")
    assert main(["check", "--config", str(path)]) == 1
    assert "below thresholds.min_usable_capacity" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args",
    [
        ["--no-such-option"],
        ["--timeout", "soon"],
        ["--timeout", "0"],
        ["--timeout", "-3"],
        ["--config"],
        ["extra-argument"],
    ],
)
def test_usage_errors_are_unknown_on_stdout(args: list[str]) -> None:
    result = cli("check", *args)
    assert result.returncode == 3, result
    (line,) = result.stdout.splitlines()
    assert line.startswith("PIXVERSE UNKNOWN - usage: "), line
    assert "Traceback" not in result.stderr


def test_other_commands_keep_argparse_exit_2() -> None:
    result = cli("config", "check")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "error: the following arguments are required: file" in result.stderr


@pytest.mark.parametrize(
    ("config", "said"),
    [
        ("absent.toml", "config error: cannot read config file "),
        ("often.toml", "config error: poll.interval: "),
    ],
)
def test_a_config_that_cannot_be_used_is_unknown(
    configs: ConfigWriter, capsys: pytest.CaptureFixture[str], config: str, said: str
) -> None:
    """A monitoring plugin that cannot run says UNKNOWN (3), not CRITICAL, on stdout."""
    path = configs.for_upstream("http://127.0.0.1:1")
    path.write_text(path.read_text().replace('interval = "1h"', 'interval = "often"'))
    path.rename(configs.dir / "often.toml")
    assert main(["check", "--config", str(configs.dir / config)]) == 3
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith(f"PIXVERSE UNKNOWN - {said}"), line


def test_a_config_error_as_json_is_unknown(configs: ConfigWriter) -> None:
    path = configs.write("[poll]\ninterval = 'often'\n")
    result = cli("check", "--json", "--config", str(path), env={"USEAPI_TOKEN": "t"})
    assert result.returncode == 3
    assert '"status":"unknown"' in result.stdout
    assert "poll.interval" in result.stdout


def test_timeout_bounds_the_whole_run(
    fake: FakeUpstream, configs: ConfigWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    """An upstream that hangs: past --timeout the check answers UNKNOWN, long before its
    own poll.timeout of 15 s (NRPE would have cut it off at 10 s)."""
    fake.fail_always(ACCOUNTS, Fault(200, delay_seconds=30))
    path = configs.for_upstream(fake.base_url, timeout="15s")
    started = time.monotonic()
    code = main(["check", "--timeout", "1.5", "--config", str(path)])
    elapsed = time.monotonic() - started
    assert code == 3
    (line,) = capsys.readouterr().out.splitlines()
    assert line == "PIXVERSE UNKNOWN - no answer within --timeout 1.5s (source main)"
    assert 1.5 <= elapsed < 5


def test_default_timeout_is_eight_seconds() -> None:
    """Below check_nrpe's own 10 s, so that a hang is the plugin's UNKNOWN, not NRPE's
    "Socket timeout" (tests/e2e/test_nrpe.py proves it through a real NRPE)."""
    result = cli("check", "--help")
    assert result.returncode == 0
    assert "default: 8," in " ".join(result.stdout.split())


def test_the_timeout_counts_from_the_process_start(
    fake: FakeUpstream, configs: ConfigWriter
) -> None:
    """A start-up that takes longer than --timeout (a loaded host, a cold disk; simulated by
    a pause before the program is imported) leaves nothing to poll with: UNKNOWN at once, and
    no request made. Counting from when the program got going, it would poll."""
    path = configs.for_upstream(fake.base_url)
    slow_start = (
        "import time; time.sleep(1.5); import sys; from monitor.cli import main; sys.exit(main())"
    )
    result = subprocess.run(
        [sys.executable, "-c", slow_start, "check", "--timeout", "1", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 3, result
    (line,) = result.stdout.splitlines()
    spent = re.fullmatch(
        r"PIXVERSE UNKNOWN - --timeout 1s spent before any request \((\d+\.\d)s starting up "
        r"and reading the config\)",
        line,
    )
    assert spent, line
    assert float(spent[1]) >= 1.5
    assert fake.count(ACCOUNTS) == 0


def test_the_process_start_is_read_from_proc(tmp_path: Path) -> None:
    """Field 22 of /proc/self/stat, counted after the command name, which may hold spaces
    and parentheses of its own."""
    ticks = os.sysconf("SC_CLK_TCK")
    started = int((time.clock_gettime(time.CLOCK_BOOTTIME) - 30) * ticks)
    after_name = ["S", *["0"] * 18, str(started), "0", "0"]
    stat = tmp_path / "stat"
    stat.write_text(f"4242 (odd) name (x)) {' '.join(after_name)}\n")
    age = process_age_seconds(stat)
    assert age is not None and 30 <= age < 31
    assert process_age_seconds(tmp_path / "absent") is None
    stat.write_text("4242 (cut short) S 1\n")
    assert process_age_seconds(stat) is None
    # This very process: started before this test did.
    own = process_age_seconds()
    assert own is not None and own > 0


def test_a_5xx_is_retried_once_within_the_timeout(
    fake: FakeUpstream, configs: ConfigWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the default poll.timeout of 15s, longer than the whole check may take."""
    fake.fail_next(ACCOUNTS, Fault(503))
    path = configs.for_upstream(fake.base_url, timeout="15s")
    code = main(["check", "--config", str(path)])
    first = capsys.readouterr().out.splitlines()[0]
    assert code == 1, first  # bob@example.com is in warning: the retry read the accounts
    assert first.startswith("PIXVERSE WARNING - bob@example.com expires in "), first
    assert fake.count(ACCOUNTS) == 2


@pytest.mark.parametrize(
    ("fault", "ending"),
    [
        (Fault(500), r", gave up after 2 attempts"),
        (
            Fault(503, headers={"Retry-After": "30"}),
            r", not retried: a retry in 30\.0s would not fit in the \d\.\ds left of --timeout",
        ),
    ],
)
def test_a_failing_upstream_is_told_in_a_one_shot_s_words(
    fake: FakeUpstream,
    configs: ConfigWriter,
    capsys: pytest.CaptureFixture[str],
    fault: Fault,
    ending: str,
) -> None:
    """A check has no next poll: it never says it would run past one."""
    fake.fail_always(ACCOUNTS, fault)
    path = configs.for_upstream(fake.base_url, timeout="15s")
    assert main(["check", "--json", "--config", str(path)]) == 2
    (source,) = loads(capsys.readouterr().out)["sources"]
    assert source["outcome"] == "http_error"
    assert re.fullmatch(
        r"/v2/pixverse/accounts: HTTP 50\d \(fake error 50\d\)" + ending, source["error"]
    )
    assert "next poll" not in source["error"]


def test_a_closed_pipe_is_no_error(fake: FakeUpstream, configs: ConfigWriter) -> None:
    """`check | head -1` once head has gone: the check's own status, and no traceback."""
    path = configs.for_upstream(fake.base_url)  # bob@example.com is in warning
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written
    try:
        result = subprocess.run(
            [sys.executable, "-m", "monitor", "check", "--config", str(path)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert result.returncode == 1, result.stderr
    assert result.stderr == ""
