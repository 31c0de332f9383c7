"""HTTP basic authentication against bcrypt hashes, as the exporter toolkit does it.

bcrypt is slow on purpose, so checks run off the event loop in a `CheckQueue` that takes turns
between peers. Every check that reaches bcrypt costs the same whether the user exists or not
(an unknown user is checked against a hash of the same cost), so timing tells nothing about
which users exist. Successful (user, hash, password) triples are remembered under a keyed
digest, never in plain text, so a scraper pays for bcrypt once, not at every scrape.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from collections import OrderedDict
from collections.abc import Mapping

from monitor.secret import Secret
from monitor.web.checkqueue import CheckQueue, peer_key
from monitor.web.messages import Verdict

CHALLENGE = 'Basic realm="pixverse-monitor", charset="UTF-8"'
MAX_CACHED = 1024
_BCRYPT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def parse_basic(header: str) -> tuple[str, bytes] | None:
    """(user, password) from an `Authorization: Basic ...` value; None when it is not one."""
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
        user, sep, password = decoded.partition(b":")
        if not sep:
            return None
        return user.decode("utf-8"), password
    except (binascii.Error, UnicodeDecodeError):
        return None


def _checkpw(password: bytes, hashed: bytes) -> bool:
    # bcrypt is imported by the first user table that needs it, not by every daemon.
    import bcrypt  # noqa: PLC0415

    try:
        return bcrypt.checkpw(password, hashed)
    except ValueError:  # over 72 bytes or otherwise unusable: never a match
        return False


def bcrypt_cost(hashed: bytes) -> int:
    """The cost factor of a bcrypt hash ($2b$12$... -> 12); the web config validated it."""
    return int(hashed[4:6])


def decoy_hash(cost: int) -> bytes:
    """A well-formed bcrypt hash of `cost` that no password matches: checking a password
    against it costs exactly what checking against a real hash of that cost does. Made without
    hashing anything (a random salt and a random digest), so it costs nothing to make."""
    import bcrypt  # noqa: PLC0415 - as in _checkpw

    digest = "".join(secrets.choice(_BCRYPT_ALPHABET) for _ in range(31))
    return bcrypt.gensalt(cost) + digest.encode()


class BasicAuth:
    """Checks `Authorization` headers against a user table that may change between calls."""

    def __init__(self, max_cached: int = MAX_CACHED, queue: CheckQueue | None = None) -> None:
        self._key = os.urandom(32)  # keys the cache digests; never leaves this process
        self._verified: OrderedDict[bytes, None] = OrderedDict()
        self._max_cached = max_cached
        self._queue = queue or CheckQueue()
        self._decoys: dict[int, bytes] = {}

    async def check(
        self, users: Mapping[str, Secret], header: str | None, peer: str = ""
    ) -> Verdict:
        """ALLOW for a configured user with the right password; DENY otherwise; BUSY when the
        peer (an address) already has as many checks waiting as it may."""
        credentials = parse_basic(header) if header else None
        if credentials is None or not users:
            return Verdict.DENY
        user, password = credentials
        stored = users.get(user)
        hashed = stored.reveal().encode() if stored is not None else self._decoy(users)
        digest = hmac.new(
            self._key,
            b"\0".join((user.encode(), hashed, hashlib.sha256(password).digest())),
            hashlib.sha256,
        ).digest()
        if stored is not None and digest in self._verified:
            self._verified.move_to_end(digest)
            return Verdict.ALLOW
        key = peer_key(peer)
        matches = await self._queue.run(key, lambda: _checkpw(password, hashed))
        if matches is None:
            return Verdict.BUSY
        if not (matches and stored is not None):
            self._queue.failed(key)
            return Verdict.DENY
        self._verified[digest] = None
        if len(self._verified) > self._max_cached:
            self._verified.popitem(last=False)
        return Verdict.ALLOW

    @property
    def remembered(self) -> tuple[bytes, ...]:
        """What it remembers of the successes it will not check again: keyed digests, never
        a password, the oldest first (at most `max_cached`)."""
        return tuple(self._verified)

    def forget(self) -> None:
        """Drop remembered successes, e.g. when the user table is replaced."""
        self._verified.clear()

    def close(self) -> None:
        self._queue.close()

    def _decoy(self, users: Mapping[str, Secret]) -> bytes:
        """The hash an unknown user is checked against: as costly as the costliest configured
        one, so that an unknown user takes as long as a wrong password."""
        cost = max(bcrypt_cost(s.reveal().encode()) for s in users.values())
        decoy = self._decoys.get(cost)
        if decoy is None:
            decoy = self._decoys[cost] = decoy_hash(cost)
        return decoy
