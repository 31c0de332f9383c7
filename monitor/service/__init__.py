"""The running daemon: wires every stage to APScheduler, signals, reloads and systemd."""

from __future__ import annotations

from monitor.service.daemon import Daemon

__all__ = ["Daemon"]
