"""pixverse-monitor: JWT expiry monitoring for PixVerse accounts behind useapi.net."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
