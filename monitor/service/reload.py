"""What a configuration reload changes, worked out from the old and the new config. Pure.

The daemon applies the diff; sources whose name persists keep their data and counters.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from monitor.config import Config, SourceConfig

# What an UpstreamClient is built from, besides the source itself.
_CLIENT_POLL_FIELDS = ("timeout", "max_response_bytes")
# What says when a source is due and when it is stale: the schedule.
_SCHEDULE_FIELDS = ("interval", "jitter", "timeout", "stale_after")


@dataclass(frozen=True, slots=True)
class ReloadDiff:
    """What differs between the old config and the new, as the daemon acts on it."""

    added: tuple[str, ...]  # new sources: create, and poll at once
    removed: tuple[str, ...]  # gone sources: drop, with their series
    new_clients: tuple[str, ...]  # kept sources whose HTTP client must be rebuilt
    reschedule: bool  # poll.interval or poll.jitter changed: re-time every poll job
    # The schedule changed (interval, jitter, timeout or stale_after): staleness of a source
    # that is not stale yet counts from this reload, so that a reload never raises an alert.
    retimed: bool
    rebind: bool  # metrics.listen changed: listen on the new address
    changed: tuple[str, ...]  # the keys that differ, for the log (names only, never values)


def diff_configs(old: Config, new: Config) -> ReloadDiff:
    old_sources = {s.name: s for s in old.sources}
    new_sources = {s.name: s for s in new.sources}
    added = tuple(name for name in new_sources if name not in old_sources)
    removed = tuple(name for name in old_sources if name not in new_sources)
    changed: list[str] = [f"sources.{name}" for name in (*added, *removed)]
    client_inputs_changed = any(
        getattr(old.poll, f) != getattr(new.poll, f) for f in _CLIENT_POLL_FIELDS
    )
    new_clients = []
    for name, source in new_sources.items():
        before = old_sources.get(name)
        if before is None:
            continue
        differing = _differing(before, source, f"sources.{name}")
        changed += differing
        if client_inputs_changed or _client_differs(before, source):
            new_clients.append(name)
    for section in ("poll", "thresholds", "metrics", "alerts"):
        changed += _differing(getattr(old, section), getattr(new, section), section)
    if old.sinks != new.sinks:
        changed.append("sinks")
    if old.accounts != new.accounts:
        changed.append("accounts")
    return ReloadDiff(
        added=added,
        removed=removed,
        new_clients=tuple(new_clients),
        reschedule=(old.poll.interval, old.poll.jitter) != (new.poll.interval, new.poll.jitter),
        retimed=any(getattr(old.poll, f) != getattr(new.poll, f) for f in _SCHEDULE_FIELDS),
        rebind=(old.metrics.host, old.metrics.port) != (new.metrics.host, new.metrics.port),
        changed=tuple(changed),
    )


def _client_differs(old: SourceConfig, new: SourceConfig) -> bool:
    # Secret compares in constant time; a rotated token file means a new client.
    return old.base_url != new.base_url or old.token != new.token


def _differing(old: Any, new: Any, prefix: str) -> list[str]:
    """Names of the dataclass fields whose values differ (compared, never shown)."""
    return [
        f"{prefix}.{field.name}"
        for field in dataclasses.fields(old)
        if field.name != "token_origin" and getattr(old, field.name) != getattr(new, field.name)
    ]
