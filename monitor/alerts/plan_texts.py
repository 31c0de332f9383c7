"""What the subscription and plan alerts say to people, while they fire and when they resolve (what
happened: renewed until ..., topped up, fixed, removed, no longer known). Pure: plain values in,
text out."""

from __future__ import annotations

from monitor.timefmt import format_ttl, iso_utc
from monitor.upstream import format_credits

Texts = tuple[str, str]  # (summary, description)


def subscription_inactive(source: str, renewed: float | None) -> Texts:
    when = iso_utc(renewed) if renewed is not None else "unknown"
    return (
        f"useapi.net subscription of source {source} is inactive",
        f"useapi.net reports the subscription behind the API token of source {source} as "
        f"inactive (last renewal: {when}). Every account behind that token stops working "
        "until the subscription is renewed at useapi.net.",
    )


def accounts_in_error(source: str, error: int, total: int | None) -> Texts:
    of = f"of the {total} " if total is not None else ""
    return (
        f"useapi.net marks {error} PixVerse account(s) of source {source} as in error",
        f"useapi.net counts {error} {of}PixVerse account(s) of source {source} as in error: "
        "it cannot use them, typically because it could not refresh their token. Check the "
        "accounts at useapi.net and configure them again.",
    )


def plan_ending(label: str, source: str, plan: str, ends: float, *, now: float, jobs: int) -> Texts:
    return (
        f"PixVerse plan of {label} ends in {format_ttl(ends - now)}",
        f"The PixVerse plan ({plan}) of account {label} (source {source}) ends at "
        f"{iso_utc(ends)}. Renew it at PixVerse before then, or its {jobs} job slot(s) stop "
        "working.",
    )


def plan_lapsed(label: str, source: str, plan: str, ends: float | None, jobs: int) -> Texts:
    when = f"ended at {iso_utc(ends)}" if ends is not None else "has lapsed"
    return (
        f"PixVerse plan of {label} has lapsed",
        f"The PixVerse plan ({plan}) of account {label} (source {source}) {when}. Its {jobs} "
        "job slot(s) stop working until the plan is renewed at PixVerse.",
    )


def credits_low(
    label: str, source: str, plan: str, left: float, *, kinds: str, minimum: int
) -> Texts:
    shown = format_credits(left)
    return (
        f"PixVerse account {label} has {shown} credits left",
        f"Account {label} (source {source}, plan {plan}) has {shown} credits left "
        f"({kinds}), below the minimum of {minimum}. Top up, or its jobs start failing.",
    )


def max_jobs_above_plan(label: str, source: str, plan: str, jobs: int, allowed: int) -> Texts:
    return (
        f"maxJobs of {label} ({jobs}) is above what its plan allows ({allowed})",
        f"Account {label} (source {source}) is configured at useapi.net with maxJobs {jobs}, "
        f"but its PixVerse plan ({plan}) runs {allowed} job(s) at once. useapi.net says maxJobs "
        "must not exceed it: lower maxJobs, or jobs beyond the plan fail.",
    )


# -- resolutions ----------------------------------------------------------------------------


def subscription_active(source: str) -> Texts:
    return (
        f"useapi.net subscription of source {source} is active again",
        f"useapi.net reports the subscription behind the API token of source {source} as "
        "active again.",
    )


def subscription_unwatched(source: str) -> Texts:
    return (
        f"useapi.net subscription of source {source} is no longer watched",
        f"/v2/account is no longer read for source {source} (account_endpoint = false), or no "
        "longer says whether the subscription is active.",
    )


def no_accounts_in_error(source: str) -> Texts:
    return (
        f"useapi.net marks no PixVerse account of source {source} as in error",
        f"useapi.net no longer counts any PixVerse account of source {source} as in error.",
    )


def plan_renewed(label: str, source: str, ends: float | None, now: float) -> Texts:
    if ends is None:
        return (
            f"PixVerse plan of {label} is active again",
            f"PixVerse no longer reports the plan of account {label} (source {source}) as lapsed.",
        )
    return (
        f"PixVerse plan of {label} renewed until {iso_utc(ends)}",
        f"The PixVerse plan of account {label} (source {source}) now ends at {iso_utc(ends)}, "
        f"in {format_ttl(ends - now)}: beyond the plan_warning in force.",
    )


def credits_restored(label: str, source: str, left: float | None, minimum: int) -> Texts:
    if left is None:
        return plan_unknown(label, source)
    shown = format_credits(left)
    return (
        f"PixVerse account {label} has {shown} credits left again",
        f"Account {label} (source {source}) has {shown} credits left, at or above the minimum "
        f"in force ({minimum}).",
    )


def max_jobs_within_plan(label: str, source: str, jobs: int, allowed: int | None) -> Texts:
    if allowed is None:
        return plan_unknown(label, source)
    return (
        f"maxJobs of {label} ({jobs}) is within its plan ({allowed}) again",
        f"Account {label} (source {source}) is configured with maxJobs {jobs}, which its "
        f"PixVerse plan allows ({allowed} at once).",
    )


def plan_unknown(label: str, source: str) -> Texts:
    return (
        f"PixVerse plan of {label} is no longer known",
        f"useapi.net no longer tells the plan of account {label} (source {source}): "
        "/features does not know the account, or features_endpoint is off.",
    )


def plan_account_gone(label: str, source: str) -> Texts:
    return (
        f"PixVerse account {label} is no longer watched in source {source}",
        f"useapi.net no longer lists account {label} for source {source}, or an [[accounts]] "
        "rule now ignores it: nothing is left to watch.",
    )
