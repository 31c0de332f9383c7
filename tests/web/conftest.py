"""Fixtures of the web tests."""

from __future__ import annotations

import bcrypt
import pytest


@pytest.fixture
def bcrypt_hashes(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The hash of every bcrypt check basic auth makes, in order (the checks still run)."""
    seen: list[bytes] = []
    real = bcrypt.checkpw

    def recording(password: bytes, hashed: bytes) -> bool:
        seen.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", recording)
    return seen
