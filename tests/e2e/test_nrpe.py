"""`check` through a real NRPE: Debian's `nrpe` (nagios-nrpe-server) runs the shipped
contrib/nrpe/pixverse-monitor.cfg as the user `nagios`, which reads the token only through
the group `pixverse-monitor` (root:pixverse-monitor 0640), and Debian's `check_nrpe`
(nagios-nrpe-plugin) asks it, against the fake useapi.net: OK, WARNING and CRITICAL with
their exit statuses and first lines, and a hanging useapi.net answered by the plugin's
UNKNOWN before check_nrpe's own 10 s run out.

No system service and no change to the host: nrpe runs from a config file of the test, on a
loopback port of its own, in a mount namespace where /etc/group has the group
`pixverse-monitor` with `nagios` in it, as `usermod -aG pixverse-monitor nagios` leaves it on
an installed host. Root is needed (nrpe drops to `nagios`, and the namespace); without root
or the packages the tests skip locally and fail under CI=true.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import monitor
from monitor.testing.fakeapi import ACCOUNTS, FakeAccount, FakeUpstream, Fault
from tests.e2e.servers import ServerProcess, free_port
from tests.helpers import API_TOKEN, DAY, HOUR, eventually, require_binary, require_root

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SNIPPET = ROOT / "contrib" / "nrpe" / "pixverse-monitor.cfg"
INSTALLED_PROGRAM = "/usr/local/bin/pixverse-monitor"
GROUP = "pixverse-monitor"
USER = "nagios"
CHECK_NRPE_TIMEOUT_SECONDS = 10  # check_nrpe's default -t
PLUGINS = "/usr/lib/nagios/plugins"


@dataclass
class Nrpe:
    port: int
    check_nrpe: str
    upstream: FakeUpstream
    process: ServerProcess

    def ask(self, command: str) -> tuple[int, str, float]:
        """check_nrpe -c `command` with its default timeout: (exit status, output, seconds)."""
        started = time.monotonic()
        result = subprocess.run(
            [self.check_nrpe, "-H", "127.0.0.1", "-p", str(self.port), "-c", command],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return result.returncode, result.stdout, time.monotonic() - started


def plugin_program() -> list[str]:
    """A command line that runs this checkout's pixverse-monitor as `nagios`. This venv's own
    interpreter when `nagios` may execute it; otherwise (one under /root, as pyenv's: the very
    trap docs/install.md warns of) the system's Python of the same version, with this venv's
    packages on PYTHONPATH."""
    trial = ["-c", "import httpx, monitor"]
    own = [sys.executable]
    if _as_user([*own, *trial]).returncode == 0:
        return [*own, "-m", "monitor"]
    system = "/usr/bin/python3"
    paths = [str(Path(monitor.__file__).resolve().parents[1])]
    paths += dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    program = ["/usr/bin/env", f"PYTHONPATH={os.pathsep.join(paths)}", system]
    tried = _as_user([*program, *trial])
    if tried.returncode != 0:
        pytest.fail(
            f"{USER} can execute neither {sys.executable} nor {system} with this checkout "
            f"(keep the checkout readable by all): {tried.stderr.strip()[-300:]}"
        )
    return [*program, "-m", "monitor"]


def _as_user(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["runuser", "-u", USER, "--", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd="/",
    )


def group_file(work: Path) -> tuple[Path, int]:
    """/etc/group as it is after the install (the group) and `usermod -aG` (its member)."""
    lines = Path("/etc/group").read_text().splitlines()
    try:
        gid = grp.getgrnam(GROUP).gr_gid
    except KeyError:
        used = {g.gr_gid for g in grp.getgrall()}
        gid = next(g for g in range(64999, 1000, -1) if g not in used)
        lines.append(f"{GROUP}:x:{gid}:")
    out = []
    for line in lines:
        name, password, number, members = line.split(":", 3)
        listed = [m for m in members.split(",") if m]
        if name == GROUP:
            listed.append(USER)
        out.append(":".join((name, password, number, ",".join(listed))))
    path = work / "group"
    path.write_text("\n".join(out) + "\n")
    path.chmod(0o644)
    return path, gid


@pytest.fixture(scope="module")
def nrpe() -> Iterator[Nrpe]:
    require_root("running nrpe as nagios, in a mount namespace of its own,")
    daemon = require_binary("nrpe", "nagios-nrpe-server", also_in=("/usr/sbin",))
    check_nrpe = require_binary("check_nrpe", "nagios-nrpe-plugin", also_in=(PLUGINS,))
    unshare = require_binary("unshare", "util-linux")
    try:
        pwd.getpwnam(USER)
    except KeyError:
        pytest.fail(f"no user {USER}: the nagios-nrpe-server package makes it")
    # Not under pytest's tmp_path: that is 0700, and nagios must reach the config.
    work = Path(tempfile.mkdtemp(prefix="pixverse-nrpe-"))
    try:
        work.chmod(0o755)
        group, gid = group_file(work)
        etc = work / "etc"
        etc.mkdir(mode=0o755)
        token = etc / "useapi-token"
        token.write_text(API_TOKEN + "\n")
        os.chown(token, 0, gid)
        token.chmod(0o640)
        with FakeUpstream(token=API_TOKEN) as upstream:
            # The token beside the config, as installed; poll.timeout stays at its 15s.
            config = etc / "config.toml"
            config.write_text(f'[[sources]]\nname = "default"\nbase_url = "{upstream.base_url}"\n')
            config.chmod(0o644)
            shipped = SNIPPET.read_text()
            assert INSTALLED_PROGRAM in shipped
            program = " ".join(
                ["/usr/bin/env", f"PIXVERSE_MONITOR_CONFIG={config}", *plugin_program()]
            )
            commands = work / "pixverse-monitor.cfg"
            commands.write_text(
                shipped.replace(INSTALLED_PROGRAM, program) + "command[test_id]=/usr/bin/id\n"
            )
            port = free_port()
            settings = work / "nrpe.cfg"
            settings.write_text(
                f"pid_file={work / 'nrpe.pid'}\n"
                f"log_file={work / 'nrpe.log'}\n"
                f"server_address=127.0.0.1\nserver_port={port}\n"
                f"nrpe_user={USER}\nnrpe_group={USER}\n"
                "allowed_hosts=127.0.0.1\ndont_blame_nrpe=0\n"
                "command_timeout=60\nconnection_timeout=300\ndebug=1\n"
                f"include={commands}\n"
            )
            env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
            inside = f"mount --bind {group} /etc/group && exec {daemon} -c {settings} -f"
            process = ServerProcess(
                "nrpe",
                [unshare, "--mount", "--propagation", "private", "--", "/bin/sh", "-c", inside],
                work / "nrpe.out",
                env=env,
            )
            try:
                eventually(lambda: _listening(process, port), 15, "nrpe to listen")
                yield Nrpe(port, check_nrpe, upstream, process)
            finally:
                process.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _listening(process: ServerProcess, port: int) -> bool:
    process.check_running()
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_the_plugin_runs_as_nagios_with_the_group(nrpe: Nrpe) -> None:
    code, output, _ = nrpe.ask("test_id")
    assert code == 0, output
    assert f"({USER})" in output.split()[0]  # uid=...(nagios)
    assert f"({GROUP})" in output, output


@pytest.mark.parametrize(
    ("ttl", "code", "first"),
    [
        (30 * DAY, 0, "PIXVERSE OK - 1 accounts: 1 ok, "),
        (2 * DAY, 1, "PIXVERSE WARNING - a@nrpe.test expires in 2d 0h; 1 accounts"),
        (5 * HOUR, 2, "PIXVERSE CRITICAL - a@nrpe.test expires in 5h 0m; 1 accounts"),
    ],
)
def test_each_status_through_check_nrpe(nrpe: Nrpe, ttl: float, code: int, first: str) -> None:
    # Half a minute beyond each whole TTL, so that the seconds a test takes do not show.
    nrpe.upstream.set_accounts([FakeAccount("a@nrpe.test", time.time() + ttl + 30)])
    got, output, _ = nrpe.ask("check_pixverse")
    assert got == code, output + nrpe.process.tail()
    assert output.splitlines()[0].startswith(first), output
    assert " | default_usable_jobs=" in output.splitlines()[0]


def test_a_hanging_upstream_is_the_plugin_s_unknown_before_check_nrpe_gives_up(
    nrpe: Nrpe,
) -> None:
    """Not `CHECK_NRPE STATE CRITICAL: Socket timeout after 10 seconds.`: the plugin's 8 s
    count from its own start, interpreter and imports included, and it answers first."""
    nrpe.upstream.set_accounts([FakeAccount("a@nrpe.test", time.time() + 30 * DAY)])
    nrpe.upstream.fail_always(ACCOUNTS, Fault(None, delay_seconds=60))
    try:
        code, output, seconds = nrpe.ask("check_pixverse")
    finally:
        nrpe.upstream.fail_always(ACCOUNTS, None)
    assert output == "PIXVERSE UNKNOWN - no answer within --timeout 8s (source default)\n", output
    assert code == 3
    assert seconds < CHECK_NRPE_TIMEOUT_SECONDS
