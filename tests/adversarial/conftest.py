"""The fault campaign: every test here is marked `adversarial` (run by default, and on its
own with `pytest -m adversarial`)."""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.adversarial)
