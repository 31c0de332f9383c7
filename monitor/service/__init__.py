"""The running daemon: wires every stage to APScheduler, signals, reloads and systemd; and the
one-shot round of plan reads `check` makes through the daemon's plan schedule."""

from __future__ import annotations

from typing import TYPE_CHECKING

from monitor import lazy_face

if TYPE_CHECKING:
    from monitor.service.daemon import Daemon
    from monitor.service.plan_round import PlanRound, read_plan_rounds

__all__ = ["Daemon", "PlanRound", "read_plan_rounds"]

__getattr__ = lazy_face(
    __name__,
    {
        "daemon": ("Daemon",),
        "plan_round": ("PlanRound", "read_plan_rounds"),
    },
)
