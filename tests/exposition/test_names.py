"""One home per metric name: every pixverse_* name is written once in monitor/, in the family
that defines it, and every other line takes it from there."""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

from monitor.exposition import HELP

PACKAGE = Path(__file__).resolve().parents[2] / "monitor"
NAME = re.compile(r"\bpixverse_[A-Za-z0-9_]*[A-Za-z0-9]")


def name_literals(source: str) -> Counter[str]:
    """pixverse_* names in the string literals of a module (f-string parts included),
    docstrings and other bare strings left out: they document, they do not define."""
    tree = ast.parse(source)
    prose = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    found: Counter[str] = Counter()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose:
            found.update(NAME.findall(node.value))
    return found


def test_the_counter_sees_names_in_strings_and_f_strings_but_not_in_docstrings() -> None:
    source = '''"""pixverse_a in a docstring."""
x = "pixverse_a"
def f(v):
    """pixverse_b"""
    return f"pixverse_a{{source=\\"{v}\\"}} 1"
'''
    assert name_literals(source) == Counter({"pixverse_a": 2})


def test_every_metric_name_is_written_once_in_the_package() -> None:
    where: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for name, count in name_literals(path.read_text(encoding="utf-8")).items():
            where.setdefault(name, []).extend([str(path.relative_to(PACKAGE))] * count)
    repeated = {name: files for name, files in where.items() if len(files) > 1}
    assert not repeated, repeated
    # ... and each is the name of a family /metrics shows, defined where families are.
    assert set(where) == set(HELP)
    assert {f for files in where.values() for f in files} == {
        "exposition/account_families.py",
        "exposition/internal.py",
        "exposition/plan_families.py",
    }
