"""The wheel holds every module of the package, and the status page's template.
(.ci/wheel-smoke goes further in CI: it installs the wheel in a fresh venv and runs
`--version` and `demo` from it, and loads the status page.)"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_holds_every_module(tmp_path: Path) -> None:
    # Built from a copy: an in-tree build reuses build/, which can hide a package left out.
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "monitor", source / "monitor", ignore=shutil.ignore_patterns("__pycache__")
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",  # the test environment's setuptools: no network
            "--wheel-dir",
            str(tmp_path / "dist"),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = (tmp_path / "dist").glob("pixverse_monitor-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        in_wheel = {name for name in archive.namelist() if name.startswith("monitor/")}
        entry_points = archive.read(
            next(n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt"))
        ).decode()
    modules = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "monitor").rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert modules - in_wheel == set()
    templates = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "monitor").rglob("templates/*")
        if path.is_file()
    }
    assert templates, "the status page's template is found"
    assert templates - in_wheel == set()
    assert "pixverse-monitor = monitor.cli:main" in entry_points
