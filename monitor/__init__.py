"""pixverse-monitor: JWT expiry monitoring for PixVerse accounts behind useapi.net.

A package's face (its `__init__.py`) may import what it offers only when first asked for
(`lazy_face`), so that each command loads just the modules it runs."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping

__version__ = "0.1.0"

__all__ = ["__version__"]


def lazy_face(package: str, homes: Mapping[str, tuple[str, ...]]) -> Callable[[str], object]:
    """The module `__getattr__` (PEP 562) of the face of `package`: `homes` maps each of the
    package's modules (relative name) to the names the face offers from it. A name is
    imported from its module on first use, then kept in the face like an eager import."""
    home_of = {name: module for module, names in homes.items() for name in names}

    def __getattr__(name: str) -> object:
        module = home_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
