"""What this process holds open, read from /proc: file descriptors and sockets, to show that
a long run of faults leaks neither."""

from __future__ import annotations

import os
from pathlib import Path

_FD_DIR = Path("/proc/self/fd")


def open_fds() -> int:
    return len(os.listdir(_FD_DIR))


def open_sockets() -> int:
    count = 0
    for name in os.listdir(_FD_DIR):
        try:
            if os.readlink(_FD_DIR / name).startswith("socket:"):
                count += 1
        except OSError:
            continue  # closed between listing and reading
    return count
