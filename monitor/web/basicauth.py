"""HTTP basic authentication against bcrypt hashes, as the exporter toolkit does it.

bcrypt is slow on purpose, so each check runs in a worker thread, one at a time, and successful
(user, hash, password) triples are remembered under a keyed digest, never in plain text.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import os
from collections import OrderedDict
from collections.abc import Mapping

import bcrypt

from monitor.secret import Secret

CHALLENGE = 'Basic realm="pixverse-monitor", charset="UTF-8"'
MAX_CACHED = 1024
# An unknown user is checked against this hash (of a random string, cost 10 like the toolkit's
# own) so that the answer takes as long as for a known user: no user enumeration by timing.
_UNKNOWN_USER_HASH = b"$2b$10$y4uT.C4/HuW3ksUOdHBsGuMKA2Bm7yeW7Kh6OyVpjU5opPO4cdmU."


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
    try:
        return bcrypt.checkpw(password, hashed)
    except ValueError:  # over 72 bytes or otherwise unusable: never a match
        return False


class BasicAuth:
    """Checks `Authorization` headers against a user table that may change between calls."""

    def __init__(self, max_cached: int = MAX_CACHED) -> None:
        self._key = os.urandom(32)  # keys the cache digests; never leaves this process
        self._verified: OrderedDict[bytes, None] = OrderedDict()
        self._max_cached = max_cached
        self._bcrypt_lock = asyncio.Lock()

    async def check(self, users: Mapping[str, Secret], header: str | None) -> bool:
        credentials = parse_basic(header) if header else None
        if credentials is None:
            return False
        user, password = credentials
        stored = users.get(user)
        hashed = stored.reveal().encode() if stored is not None else _UNKNOWN_USER_HASH
        digest = hmac.new(
            self._key,
            b"\0".join((user.encode(), hashed, hashlib.sha256(password).digest())),
            hashlib.sha256,
        ).digest()
        if stored is not None and digest in self._verified:
            self._verified.move_to_end(digest)
            return True
        # One bcrypt at a time: a flood of wrong passwords costs one core, not all of them.
        async with self._bcrypt_lock:
            matches = await asyncio.to_thread(_checkpw, password, hashed)
        if not (matches and stored is not None):
            return False
        self._verified[digest] = None
        if len(self._verified) > self._max_cached:
            self._verified.popitem(last=False)
        return True

    def forget(self) -> None:
        """Drop remembered successes, e.g. when the user table is replaced."""
        self._verified.clear()
