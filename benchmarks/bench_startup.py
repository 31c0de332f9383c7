"""CPU time of short command lines against what they cannot do without, in one run.

    python benchmarks/bench_startup.py [--runs 15]

Runs each command line `--runs` times as a process of its own and prints the median CPU time
(user + system, from the children's resource usage) with its ratio to its baseline:
`--version`, `--help` and `config check` against a bare `python -c pass`; `check`, which NRPE
runs every minute, against a process that only imports httpx, structlog and orjson, then
asks the fake upstream (in this process, so not counted) for its accounts. Goals:
`--version` <= 3x, `check` <= 1.6x.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.testing.fakeapi import FakeUpstream
from tests.helpers import API_TOKEN, ConfigWriter

GOALS = {"--version": 3.0, "check": 1.6}


def cpu_seconds(argv: list[str], runs: int) -> float:
    """The median CPU time of `argv` over `runs` runs; any exit status is accepted (check's
    is the accounts' state), but not a crash."""
    times = []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        result = subprocess.run(argv, capture_output=True, check=False)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if result.returncode not in (0, 1, 2, 3):
            raise SystemExit(f"{argv} failed: {result.stderr.decode()}")
        times.append(
            after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime,
        )
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    python = [sys.executable]
    cli = [*python, "-m", "monitor"]

    with tempfile.TemporaryDirectory() as tmp, FakeUpstream(token=API_TOKEN) as fake:
        config = ConfigWriter(Path(tmp)).for_upstream(fake.base_url, timeout="30s")
        libraries = (
            "import httpx, structlog, orjson\n"
            f"r = httpx.get('{fake.base_url}/v2/pixverse/accounts',"
            f" headers={{'Authorization': 'Bearer {API_TOKEN}'}})\n"
            "orjson.loads(r.content)\n"
        )
        bare = cpu_seconds([*python, "-c", "pass"], args.runs)
        imports = cpu_seconds([*python, "-c", libraries], args.runs)
        rows = [("command", "CPU", "baseline", "ratio", "goal")]
        for name, argv, baseline, label in (
            ("--version", [*cli, "--version"], bare, "python -c pass"),
            ("--help", [*cli, "--help"], bare, "python -c pass"),
            ("config check", [*cli, "config", "check", str(config)], bare, "python -c pass"),
            ("check", [*cli, "check", "--config", str(config)], imports, "httpx+structlog+orjson"),
        ):
            seconds = cpu_seconds(argv, args.runs)
            goal = GOALS.get(name)
            rows.append(
                (
                    name,
                    f"{seconds * 1000:.0f} ms",
                    f"{baseline * 1000:.0f} ms ({label})",
                    f"{seconds / baseline:.2f}x",
                    f"<= {goal:.1f}x" if goal else "",
                )
            )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


if __name__ == "__main__":
    main()
