"""The naive exporter bench_memory.py measures the daemon against: the daemon's per-account
token and capacity series as prometheus_client gauges, set in a sleep loop from httpx and json.

    python benchmarks/naive_exporter.py BASE_URL PORT INTERVAL_SECONDS   (token: $USEAPI_TOKEN)
"""

from __future__ import annotations

import json
import os
import sys
import time

import httpx
from prometheus_client import Counter, Gauge, start_http_server

LABELS = ["source", "account"]
expiry = Gauge("pixverse_account_token_expiry_timestamp_seconds", "JWT expiry", LABELS)
ttl = Gauge("pixverse_account_token_ttl_seconds", "seconds until expiry", LABELS)
state = Gauge("pixverse_account_state", "1 for the account's state", [*LABELS, "state"])
max_jobs = Gauge("pixverse_account_max_jobs", "maxJobs", LABELS)
executing = Gauge("pixverse_account_jobs_executing", "jobs executing", LABELS)
available = Gauge("pixverse_account_jobs_available", "jobs available", LABELS)
info = Gauge("pixverse_account_info", "ids", [*LABELS, "account_id", "username"])
up = Gauge("pixverse_monitor_up", "1 when the last poll succeeded", ["source"])
polls = Counter("pixverse_monitor_polls", "polls by outcome", ["source", "outcome"])
STATES = ("ok", "warning", "critical", "expired", "unknown")


def state_of(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    return next(
        s
        for limit, s in (
            (0, "expired"),
            (86400, "critical"),
            (259200, "warning"),
            (float("inf"), "ok"),
        )
        if seconds <= limit
    )


def poll(client: httpx.Client, source: str = "main") -> None:
    accounts = json.loads(client.get("/v2/pixverse/accounts").raise_for_status().content)
    capacity = json.loads(client.get("/v2/pixverse/scheduler/available").raise_for_status().content)
    for email, entry in accounts.items():
        left = entry["jwt"]["ExpireTime"] - time.time() if "ExpireTime" in entry["jwt"] else None
        if left is not None:
            expiry.labels(source, email).set(entry["jwt"]["ExpireTime"])
            ttl.labels(source, email).set(left)
        for name in STATES:
            state.labels(source, email, name).set(int(name == state_of(left)))
        max_jobs.labels(source, email).set(entry["maxJobs"])
        jwt = entry["jwt"]
        info.labels(source, email, str(jwt["AccountId"]), jwt["Username"]).set(1)
    for row in capacity["available"]:
        executing.labels(source, row["email"]).set(row["executing"])
        available.labels(source, row["email"]).set(row["available"])


def main() -> None:
    base_url, port, interval = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    start_http_server(port, addr="127.0.0.1")
    headers = {"Authorization": f"Bearer {os.environ['USEAPI_TOKEN']}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        while True:
            try:
                poll(client)
                up.labels("main").set(1)
                polls.labels("main", "success").inc()
            except (httpx.HTTPError, ValueError, KeyError):
                up.labels("main").set(0)
                polls.labels("main", "error").inc()
            time.sleep(interval)


if __name__ == "__main__":
    main()
