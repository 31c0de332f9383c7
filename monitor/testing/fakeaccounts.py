"""The accounts the fake useapi.net serves: each as `GET /accounts` lists it (expiry fields,
a JWT carrying `exp`, a password that must never leak) and as `/scheduler/available` counts
its jobs."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from monitor.testing.fakefeatures import FakePlan

ALL_EXPIRY_FIELDS = ("expire_time", "expire_time_utc", "jwt")


@dataclass(frozen=True)
class FakeAccount:
    """One account as the fake serves it. Values are sent as given, wrong types included."""

    email: str
    expires_at: float | None  # Unix seconds; None sends no expiry at all
    max_jobs: Any = 5
    executing: int = 0
    account_id: Any = None  # None: derived from the email
    username: Any = None  # None: derived from the email
    expiry_fields: tuple[str, ...] = ALL_EXPIRY_FIELDS
    expire_time_ms: bool = False
    # Merged over the generated entry last: {"jwt": "oops"} sends a wrong-typed jwt.
    overrides: dict[str, Any] = field(default_factory=dict)
    token: str = field(default_factory=lambda: "")
    password: str = field(default_factory=lambda: f"pw-{secrets.token_hex(8)}")
    # Its plan at /features; None: /features does not know the email (400).
    plan: FakePlan | None = field(default_factory=FakePlan)

    def entry(self) -> dict[str, Any]:
        """The JSON value of this account in GET /accounts, token and password included."""
        jwt: dict[str, Any] = {
            "AccountId": self.account_id if self.account_id is not None else _stable_id(self.email),
            "Username": self.username if self.username is not None else self.email.split("@")[0],
            "token": self.token_value(),
        }
        if self.expires_at is not None:
            if "expire_time" in self.expiry_fields:
                seconds = int(self.expires_at)
                jwt["ExpireTime"] = seconds * 1000 if self.expire_time_ms else seconds
            if "expire_time_utc" in self.expiry_fields:
                when = datetime.fromtimestamp(self.expires_at, UTC)
                jwt["ExpireTimeUTC"] = when.isoformat(timespec="milliseconds").replace(
                    "+00:00", "Z"
                )
        entry: dict[str, Any] = {
            "email": self.email,
            "jwt": jwt,
            "maxJobs": self.max_jobs,
            "password": self.password,
        }
        entry.update(self.overrides)
        return entry

    def token_value(self) -> str:
        """The token sent: `token` if set, else a JWT carrying `exp` (or an opaque string when
        the JWT is not an expiry source)."""
        if self.token:
            return self.token
        if "jwt" in self.expiry_fields and self.expires_at is not None:
            return make_jwt(self.email, self.expires_at)
        return "opaque-" + hashlib.sha256(self.email.encode()).hexdigest()[:24]

    def capacity_row(self) -> dict[str, Any]:
        max_jobs = self.max_jobs if isinstance(self.max_jobs, int) else 0
        return {
            "email": self.email,
            "maxJobs": max_jobs,
            "executing": self.executing,
            "available": max(0, max_jobs - self.executing),
        }


def make_jwt(subject: str, expires_at: float | None) -> str:
    """A JWT-shaped token whose payload carries `exp`; deterministic, so a scenario is stable."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    claims: dict[str, Any] = {"sub": subject}
    if expires_at is not None:
        claims["exp"] = int(expires_at)
    header = b64(orjson.dumps({"alg": "HS256", "typ": "JWT"}))
    payload = b64(orjson.dumps(claims))
    signature = b64(hashlib.sha256(f"{header}.{payload}".encode()).digest())
    return f"{header}.{payload}.{signature}"


def _stable_id(email: str) -> int:
    return 100000 + sum(email.encode()) * 37 % 900000
