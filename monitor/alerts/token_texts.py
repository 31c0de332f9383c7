"""What the alerts of the polls (token expiry, capacity, a source down, the clock) say to
people: the summary and description of each while it fires, and of its resolution, which says
what happened (renewed until ..., removed, read again). Pure: plain values in, text out."""

from __future__ import annotations

from monitor.timefmt import format_ttl, iso_utc

Texts = tuple[str, str]  # (summary, description)


def expiring_soon(label: str, source: str, expiry: float | None, now: float, jobs: int) -> Texts:
    """Fires from the warning threshold until renewal, so through expiry as well."""
    if expiry is None:  # kept through a spell of unknown expiry
        summary = f"PixVerse token of {label} expires at an unknown time"
        when = "expires at an unknown time"
    elif expiry > now:
        summary = f"PixVerse token of {label} expires in {format_ttl(expiry - now)}"
        when = f"expires at {iso_utc(expiry)}"
    else:
        summary = f"PixVerse token of {label} expired {format_ttl(now - expiry)} ago"
        when = f"expired at {iso_utc(expiry)}"
    return (
        summary,
        f"The PixVerse JWT of account {label} (source {source}) {when}. Renew it on "
        f"useapi.net, or its {jobs} job slot(s) are lost until it is.",
    )


def expired(label: str, source: str, expiry: float, now: float, jobs: int) -> Texts:
    return (
        f"PixVerse token of {label} expired {format_ttl(now - expiry)} ago",
        f"The PixVerse JWT of account {label} (source {source}) expired at {iso_utc(expiry)}. "
        f"Its {jobs} job slot(s) are unusable until the token is renewed on useapi.net.",
    )


def expiry_unknown(label: str, source: str) -> Texts:
    return (
        f"Expiry of the PixVerse token of {label} is unknown",
        f"useapi.net gave no usable ExpireTime, ExpireTimeUTC or JWT exp for account {label} "
        f"(source {source}), so its expiry cannot be watched.",
    )


def capacity_low(source: str, usable: int, minimum: int) -> Texts:
    return (
        f"Usable PixVerse capacity of {source} is {usable} job(s), below {minimum}",
        f"Accounts of source {source} with a valid token offer {usable} job slot(s); "
        f"thresholds.min_usable_capacity is {minimum}. Renew expired tokens or add accounts.",
    )


def source_down(source: str, outcome: str | None, last_success: float | None, now: float) -> Texts:
    last = iso_utc(last_success) if last_success else "never in this run"
    if outcome is None or outcome in ("success", "capacity_unavailable", "no_accounts"):
        # Stale although the last poll that ended read it: polls no longer end.
        since = f" for {format_ttl(now - last_success)}" if last_success else ""
        summary = f"No poll of source {source} has read useapi.net{since}"
    elif outcome == "unauthorized":
        summary = f"useapi.net rejects the API token of source {source} (unauthorized)"
    else:
        summary = f"useapi.net cannot be read for source {source} ({outcome})"
    return (
        summary,
        f"The last poll of source {source} ended with {outcome or 'nothing yet'}; the last "
        f"successful poll was {last}. Account data is stale and expiry alerts rely on it.",
    )


def clock_skew(source: str, skew: float, limit: float) -> Texts:
    side = "ahead of" if skew > 0 else "behind"
    return (
        f"The clock of pixverse-monitor is {format_ttl(abs(skew))} {side} useapi.net's "
        f"(source {source})",
        f"useapi.net's answers to source {source} are dated {format_ttl(abs(skew))} "
        f"{'earlier' if skew > 0 else 'later'} than this host's clock says, more than the "
        f"{format_ttl(limit)} expiries can be judged with. Token and plan expiries are judged "
        "on the last clock reading that agreed with useapi.net, moved on by the monotonic "
        "clock, until the clocks agree again: no account is paged, nor resolved, by the wrong "
        "clock. Check time synchronisation on the monitor's host (timedatectl status).",
    )


# -- resolutions ----------------------------------------------------------------------------


def renewed(label: str, source: str, expiry: float, now: float) -> Texts:
    return (
        f"PixVerse token of {label} renewed until {iso_utc(expiry)}",
        f"The PixVerse JWT of account {label} (source {source}) was renewed: it now expires at "
        f"{iso_utc(expiry)}, in {format_ttl(expiry - now)}.",
    )


def no_longer_expiring(label: str, source: str, expiry: float, now: float) -> Texts:
    """Resolved with the same expiry: the thresholds changed (a reload)."""
    return (
        f"PixVerse token of {label} no longer expiring soon (expires {iso_utc(expiry)})",
        f"The PixVerse JWT of account {label} (source {source}) expires at {iso_utc(expiry)}, "
        f"in {format_ttl(expiry - now)}: beyond the warning threshold now in force.",
    )


def expiry_lost(label: str, source: str) -> Texts:
    return (
        f"Expiry of the PixVerse token of {label} is no longer known",
        f"useapi.net no longer gives an expiry for account {label} (source {source}); "
        "PixverseTokenExpiryUnknown follows it.",
    )


def expiry_known(label: str, source: str, expiry: float) -> Texts:
    return (
        f"Expiry of the PixVerse token of {label} is known again: {iso_utc(expiry)}",
        f"useapi.net gives an expiry for account {label} (source {source}) again: "
        f"{iso_utc(expiry)}.",
    )


def removed(label: str, source: str) -> Texts:
    return (
        f"PixVerse account {label} removed from source {source}",
        f"useapi.net no longer lists account {label} for source {source}: nothing is left to "
        "watch.",
    )


def source_unwatched(source: str) -> Texts:
    return (
        f"Source {source} is no longer watched",
        f"Source {source} was removed from the configuration; its alerts end with it.",
    )


def capacity_restored(source: str, usable: int, minimum: int) -> Texts:
    return (
        f"Usable PixVerse capacity of {source} is back to {usable} job(s)",
        f"Accounts of source {source} with a valid token offer {usable} job slot(s), at or "
        f"above thresholds.min_usable_capacity ({minimum}).",
    )


def source_up(source: str, outcome: str, success: float) -> Texts:
    return (
        f"useapi.net is read again for source {source}",
        f"The poll of source {source} at {iso_utc(success)} read the accounts ({outcome}).",
    )


def clock_agrees(source: str, skew: float) -> Texts:
    return (
        f"The clock of pixverse-monitor agrees with useapi.net's again (source {source})",
        f"useapi.net's answers to source {source} are dated within {format_ttl(abs(skew))} of "
        "this host's clock: expiries are judged on it again.",
    )
