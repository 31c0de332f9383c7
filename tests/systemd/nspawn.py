"""A Debian container booted with systemd as PID 1 (systemd-nspawn), for the tests that prove
the service where it runs. The root file system is made once by debootstrap and cached;
each run boots it with a throw-away overlay (--volatile=overlay), so it stays pristine.

The container shares the host's network, so it reaches the test's loopback servers (the fake
useapi.net, the webhook receiver), and the host reaches its services. Commands run inside it
with nsenter, as root, with a clean environment: as a person at its root prompt.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import require_binary, require_root

SUITE = "bookworm"  # Debian 12: systemd 252
# What a minimal Debian that boots with systemd has; the rest comes from what docs/install.md
# tells the reader to install.
PACKAGES = ("systemd", "systemd-sysv", "dbus")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BOOT_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 30.0
# Host settings a package client inside needs to reach the same registries the host does.
_PASSED_ENV = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
_CA_INSIDE = "/etc/pixverse-monitor-tests/host-ca.pem"


def require_tools() -> None:
    """systemd-nspawn and debootstrap, as root; skip locally, fail under CI=true."""
    require_binary("systemd-nspawn", package="systemd-container")
    require_binary("debootstrap", package="debootstrap")
    require_binary("nsenter", package="util-linux")
    require_root("booting a container with systemd-nspawn")


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pixverse-monitor-tests"


def debian_mirror() -> str:
    """The Debian mirror the host's apt uses (the container's apt will too)."""
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in sources:
        with contextlib.suppress(OSError):
            for match in re.finditer(r"(?m)^\s*(?:deb\s+|URIs:\s*)(\S+)", path.read_text()):
                url = match.group(1).rstrip("/")
                if url.startswith("http") and url.endswith("/debian"):
                    return url
    return DEFAULT_MIRROR


@dataclass(frozen=True)
class RootfsBuild:
    path: Path
    seconds: float  # 0 when it came from the cache


def cached_rootfs() -> RootfsBuild:
    """The debootstrapped root file system, made once per package list and kept."""
    key = hashlib.sha256(f"{SUITE} minbase {' '.join(PACKAGES)}".encode()).hexdigest()[:12]
    root = cache_dir() / f"debian-{SUITE}-{key}"
    root.parent.mkdir(parents=True, exist_ok=True)
    with (root.parent / f"{root.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time; the others reuse it
        if (root / "etc" / "os-release").exists():
            return RootfsBuild(root, 0.0)
        partial = root.with_name(root.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        started = time.monotonic()
        result = subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(PACKAGES)}",
                SUITE,
                str(partial),
                debian_mirror(),
            ],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if result.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            tail = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
            pytest.fail(f"debootstrap failed ({result.returncode}):\n{tail}")
        # debootstrap copies the host's name; a container of its own is clearer in logs.
        (partial / "etc" / "hostname").write_text("pixverse-test\n")
        partial.rename(root)
        return RootfsBuild(root, time.monotonic() - started)


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class Container:
    """A booted container: run commands in it as root, read its units' state and journal."""

    def __init__(self, process: subprocess.Popen[bytes], log_path: Path, env: dict[str, str]):
        self.process = process
        self.log_path = log_path
        self._env = env
        self.leader = 0

    @classmethod
    @contextlib.contextmanager
    def booted(
        cls,
        rootfs: Path,
        name: str,
        log_path: Path,
        *,
        binds: Mapping[Path, str] | None = None,
        read_only_binds: Mapping[Path, str] | None = None,
    ) -> Iterator[Container]:
        """Boot `rootfs` with a throw-away overlay; always stopped on the way out."""
        argv = [
            "systemd-nspawn",
            "--boot",
            "--register=no",  # no machined on the host to register with
            "--keep-unit",  # nor a host systemd to make a scope unit
            "--volatile=overlay",
            "--console=passive",
            f"--machine={name}",
            f"--directory={rootfs}",
        ]
        binds = binds or {}
        read_only_binds = read_only_binds or {}
        argv += [f"--bind={host}:{inside}" for host, inside in binds.items()]
        argv += [f"--bind-ro={host}:{inside}" for host, inside in read_only_binds.items()]
        env = _inside_env(read_only_binds)
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        container = cls(process, log_path, env)
        try:
            container.wait_booted()
            yield container
        finally:
            container.stop()

    def wait_booted(self) -> None:
        deadline = time.monotonic() + BOOT_TIMEOUT_SECONDS
        while not self.leader:
            self._check_alive()
            self.leader = _systemd_child(self.process.pid)
            if time.monotonic() > deadline:
                pytest.fail(f"the container's systemd never started:\n{self.log_tail()}")
            time.sleep(0.1)
        while True:
            self._check_alive()
            state = self.run("systemctl is-system-running", check=False).stdout.strip()
            if state in ("running", "degraded"):
                return
            if time.monotonic() > deadline:
                failed = self.run("systemctl --failed --no-pager", check=False).output
                pytest.fail(f"the container did not finish booting ({state}):\n{failed}")
            time.sleep(0.2)

    def _check_alive(self) -> None:
        if self.process.poll() is not None:
            pytest.fail(f"systemd-nspawn exited ({self.process.returncode}):\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def run(
        self,
        command: str,
        *,
        stdin: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 120.0,
        check: bool = True,
    ) -> Result:
        """`sh -c command` as root inside, with a clean login-like environment."""
        assignments = [f"{k}={v}" for k, v in {**self._env, **(env or {})}.items()]
        argv = [
            "nsenter",
            f"--target={self.leader}",
            "--all",
            "--",
            "env",
            "-i",
            *assignments,
            "/bin/sh",
            "-c",
            command,
        ]
        completed = subprocess.run(
            argv, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )
        result = Result(completed.returncode, completed.stdout, completed.stderr)
        if check and result.returncode != 0:
            pytest.fail(
                f"in the container, `{command}` exited {result.returncode}:\n{result.output}"
            )
        return result

    def script(self, text: str, *, stdin: str | None = None, timeout: float = 600.0) -> Result:
        """A shell script as a person pastes it: stops at the first failing command."""
        return self.run(f"set -eu\n{text}", stdin=stdin, timeout=timeout)

    def show(self, unit: str, *properties: str) -> dict[str, str]:
        """`systemctl show` properties of a unit."""
        names = ",".join(properties)
        out = self.run(f"systemctl show --property={names} {unit}").stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def journal(self, unit: str, *options: str) -> list[str]:
        """The unit's journal lines (message only), oldest first."""
        args = " ".join(options)
        out = self.run(f"journalctl --no-pager --output=cat --unit={unit} {args}").stdout
        return out.splitlines()

    def stop(self) -> None:
        """Power off: SIGTERM asks nspawn to shut the container down cleanly."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _systemd_child(nspawn_pid: int) -> int:
    """The container's PID 1 as the host sees it: nspawn's child running systemd."""
    try:
        children = Path(f"/proc/{nspawn_pid}/task/{nspawn_pid}/children").read_text().split()
    except OSError:
        return 0
    for pid in children:
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/comm").read_text().strip() == "systemd":
                return int(pid)
    return 0


def _inside_env(read_only_binds: Mapping[Path, str]) -> dict[str, str]:
    env = {"PATH": PATH, "HOME": "/root", "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"}
    env.update({k: os.environ[k] for k in _PASSED_ENV if k in os.environ})
    if _CA_INSIDE in read_only_binds.values():
        env["PIP_CERT"] = _CA_INSIDE
    return env


def host_ca_bundle() -> Path | None:
    """The CA bundle the host's pip trusts, when it is told one (a TLS-inspecting proxy):
    pip inside must trust it too. Not a step of docs/install.md; a fact of this network."""
    for name in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        value = os.environ.get(name)
        if value and Path(value).is_file():
            return Path(value)
    return None


CA_INSIDE = _CA_INSIDE


def source_tree_copy(source: Path, destination: Path) -> None:
    """What a clone of the repository holds (tracked files and new ones not ignored)."""
    destination.mkdir(parents=True)
    listed = subprocess.run(
        ["git", "-C", str(source), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for raw in listed:
        if not raw:
            continue
        relative = Path(os.fsdecode(raw))
        origin = source / relative
        if not origin.is_file():
            continue  # deleted in the work tree
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(origin, target)


def install_blocks(readme: str) -> dict[str, str]:
    """The install commands of a document: each ```sh block right after
    `<!-- install:NAME -->`, in order."""
    return dict(re.findall(r"<!-- install:([\w-]+) -->\n```sh\n(.*?)```", readme, re.DOTALL))


def free_tcp_port() -> int:
    """A TCP port free on 127.0.0.1 now; the container shares the host's network."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
