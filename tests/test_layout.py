"""The shape of the package, kept by tests rather than by memory: a short top level, short
modules with docstrings, a face (`__init__.py` with `__all__`) on every package, eager or lazy
(importing each name on first use), imports that go through faces, and no import cycle,
between modules or between the top-level stages. And the shape of the tests: each test module
named for the module it tests, in the folder mirroring it, and no test reading what a module
keeps private."""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator, Mapping, Set
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "monitor"
TESTS = PACKAGE.parent / "tests"
MAX_TOP_LEVEL_ENTRIES = 20
MAX_MODULE_LINES = 400


@dataclass(frozen=True)
class Module:
    name: str  # dotted: monitor.alerts.alerting
    path: Path
    tree: ast.Module

    @property
    def is_package(self) -> bool:
        return self.path.name == "__init__.py"

    @property
    def package(self) -> str:
        """The package this module belongs to (a face belongs to its own package)."""
        return self.name if self.is_package else self.name.rpartition(".")[0]


def modules(root: Path = PACKAGE) -> dict[str, Module]:
    found = {}
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = Module(name, path, ast.parse(path.read_text(encoding="utf-8")))
    return found


@dataclass(frozen=True)
class Import:
    importer: str
    target: str  # a module of the package
    names: tuple[str, ...]  # what `from target import ...` takes; () for `import target`
    line: int


def imports(module: Module, known: Set[str]) -> Iterator[Import]:
    """The package's modules each statement imports; `from pkg import mod` is an import of
    the module pkg.mod. Imports inside functions count too."""
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    yield Import(module.name, alias.name, (), node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module not in known:
                continue
            plain = []
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if submodule in known:
                    yield Import(module.name, submodule, (), node.lineno)
                else:
                    plain.append(alias.name)
            if plain:
                yield Import(module.name, node.module, tuple(plain), node.lineno)


def graph(found: Mapping[str, Module]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {name: set() for name in found}
    for module in found.values():
        for imp in imports(module, found.keys()):
            if imp.target != module.name:
                edges[module.name].add(imp.target)
    return edges


def cycles(edges: Mapping[str, Set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def stage(name: str) -> str:
    """The top-level stage a module belongs to: monitor.alerts.sinks.http -> monitor.alerts."""
    return ".".join(name.split(".")[:2])


def docstring_of(module: Module) -> str | None:
    return ast.get_docstring(module.tree)


def all_of(module: Module) -> list[str] | None:
    for node in module.tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            value = ast.literal_eval(node.value)
            assert isinstance(value, list), module.name
            return value
    return None


FOUND = modules()


# -- the checks themselves are checked on small trees --------------------------------------


def fake_package(tmp_path: Path, files: Mapping[str, str]) -> dict[str, Module]:
    root = tmp_path / "monitor"
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return modules(root)


def test_the_checks_find_a_cycle_and_an_import_past_a_face(tmp_path: Path) -> None:
    found = fake_package(
        tmp_path,
        {
            "__init__.py": "",
            "a/__init__.py": "from monitor.a.x import X\n__all__ = ['X']\n",
            "a/x.py": "from monitor.b import Y\nX = 1\n",
            "b/__init__.py": "from monitor.b.y import Y\n__all__ = ['Y']\n",
            "b/y.py": "def f():\n    from monitor.a import x\nY = 2\n",
        },
    )
    assert cycles(graph(found)) == [["monitor.a.x", "monitor.b", "monitor.b.y"]]
    assert past_faces(found) == ["monitor.b.y:2 imports monitor.a.x"]


def test_the_checks_find_a_shared_name(tmp_path: Path) -> None:
    found = fake_package(
        tmp_path,
        {
            "__init__.py": "",
            "a/__init__.py": "from monitor.a.y import plans\n__all__ = ['plans']\n",
            "a/plans.py": "",
            "a/y.py": "def plans(): ...\n",
            "b/__init__.py": "__all__ = []\n",
            "b/plans.py": "",
        },
    )
    assert shared_file_names(found) == {"plans.py": ["monitor.a.plans", "monitor.b.plans"]}
    assert modules_named_like_their_face(found) == ["monitor.a.plans"]


# -- the package ----------------------------------------------------------------------------


def test_the_top_level_is_short() -> None:
    entries = [p.name for p in PACKAGE.iterdir() if p.name != "__pycache__"]
    assert len(entries) <= MAX_TOP_LEVEL_ENTRIES, sorted(entries)


@pytest.mark.parametrize("name", sorted(FOUND))
def test_module_is_short_and_says_what_it_holds(name: str) -> None:
    module = FOUND[name]
    lines = len(module.path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{module.path}: {lines} lines; split it along a seam"
    assert docstring_of(module), f"{module.path} has no docstring"


def test_every_directory_of_modules_is_a_package_with_a_face() -> None:
    directories = {p.parent for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}
    for directory in directories:
        assert (directory / "__init__.py").is_file(), directory
    for module in FOUND.values():
        if not module.is_package:
            continue
        names = all_of(module)
        assert names is not None, f"{module.path} has no __all__"
        defined = (
            {
                alias.asname or alias.name
                for node in module.tree.body
                if isinstance(node, ast.ImportFrom)
                for alias in node.names
            }
            | set(lazy_imports(module))
            | {
                t.id
                for node in module.tree.body
                if isinstance(node, ast.Assign)
                for t in node.targets
                if isinstance(t, ast.Name)
            }
        )
        assert set(names) <= defined, (module.name, set(names) - defined)


def lazy_imports(module: Module) -> dict[str, tuple[str, str]]:
    """What a lazy face offers (one that defines `__getattr__`), as its `if TYPE_CHECKING:`
    block imports it for the type checker: name -> (module, name there)."""
    lazy = any(
        isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "__getattr__" for t in node.targets)
        for node in module.tree.body
    )
    found: dict[str, tuple[str, str]] = {}
    for node in module.tree.body:
        if lazy and isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom) and imp.module, ast.unparse(imp)
                for alias in imp.names:
                    found[alias.asname or alias.name] = (imp.module, alias.name)
    return found


LAZY_FACES = sorted(name for name, module in FOUND.items() if lazy_imports(module))


def test_the_lazy_faces_are_found() -> None:
    assert {"monitor.commands", "monitor.web"} <= set(LAZY_FACES)


@pytest.mark.parametrize("name", LAZY_FACES)
def test_a_lazy_face_serves_what_it_declares(name: str) -> None:
    """A face that imports on first use offers exactly what its `__all__` and its
    TYPE_CHECKING block (what the type checker sees) say, each the very object of its
    module; anything else is an AttributeError, as for an eager face."""
    module = FOUND[name]
    declared = lazy_imports(module)
    assert sorted(declared) == sorted(all_of(module) or [])
    face = importlib.import_module(name)
    for offered, (home, original) in declared.items():
        assert getattr(face, offered) is getattr(importlib.import_module(home), original)
    with pytest.raises(AttributeError):
        face.no_such_name  # noqa: B018


def past_faces(found: Mapping[str, Module]) -> list[str]:
    """Imports of another package's private module, or of a name its face does not offer."""
    wrong = []
    for module in found.values():
        for imp in imports(module, found.keys()):
            target = found[imp.target]
            inside = module.name == target.package or module.name.startswith(target.package + ".")
            if not target.is_package and not inside:
                wrong.append(f"{module.name}:{imp.line} imports {imp.target}")
            elif target.is_package and not inside and imp.names:
                offered = set(all_of(target) or [])
                missing = [n for n in imp.names if n not in offered]
                if missing:
                    wrong.append(f"{module.name}:{imp.line} takes {missing} from {imp.target}")
    return sorted(wrong)


def shared_file_names(found: Mapping[str, Module]) -> dict[str, list[str]]:
    """File names that more than one module has (faces aside): `plans.py` in four folders was
    four ideas under one name."""
    by_name: dict[str, list[str]] = {}
    for module in found.values():
        if not module.is_package:
            by_name.setdefault(module.path.name, []).append(module.name)
    return {name: sorted(names) for name, names in by_name.items() if len(names) > 1}


def modules_named_like_their_face(found: Mapping[str, Module]) -> list[str]:
    """Modules named like something their package's face offers, so that `from pkg import x`
    could mean either."""
    return sorted(
        module.name
        for module in found.values()
        if not module.is_package
        and module.name.rpartition(".")[2] in set(all_of(found[module.package]) or [])
    )


def test_no_two_modules_share_a_name() -> None:
    assert shared_file_names(FOUND) == {}
    assert modules_named_like_their_face(FOUND) == []


def test_other_packages_are_used_through_their_face() -> None:
    assert past_faces(FOUND) == []


def test_no_import_cycle_between_modules() -> None:
    assert cycles(graph(FOUND)) == []


def test_no_import_cycle_between_stages() -> None:
    """Data flows one way: config -> upstream -> evaluate -> snapshot -> exposition and
    alerts -> web -> service -> commands -> cli; no stage imports one that imports it."""
    edges: dict[str, set[str]] = {}
    for importer, targets in graph(FOUND).items():
        for target in targets:
            if stage(importer) != stage(target):
                edges.setdefault(stage(importer), set()).add(stage(target))
    assert cycles(edges) == []


def test_every_exception_class_lives_in_errors() -> None:
    """One exception tree, drawn in errors.py's docstring: no module defines another."""
    stray = []
    for module in FOUND.values():
        if module.name.endswith(".__main__"):
            continue  # importing it runs the program
        loaded = importlib.import_module(module.name)
        for value in vars(loaded).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__ == module.name
                and module.name != "monitor.errors"
            ):
                stray.append(f"{module.name}.{value.__name__}")
    assert stray == []
    tree = docstring_of(FOUND["monitor.errors"]) or ""
    errors = importlib.import_module("monitor.errors")
    for value in vars(errors).values():
        if isinstance(value, type) and issubclass(value, errors.MonitorError):
            assert value.__name__ in tree, f"{value.__name__} is not drawn in the tree"


# -- the tests' own shape ---------------------------------------------------------------------

# Folders of tests/ that mirror no package: kinds of test, each documented (the document names
# every module of the folder).
KINDS = {
    "adversarial": ("docs/faults.md", "the fault campaign, a row of the fault matrix each"),
    "e2e": ("docs/development.md", "the daemon with a real Prometheus, Alertmanager and NRPE"),
    "systemd": ("docs/development.md", "the shipped unit (systemd/) under a real systemd"),
    "grafana": ("docs/development.md", "the shipped rules and dashboard (grafana/)"),
}
# Test modules of mirroring folders named for a subject rather than a module, and why.
SUBJECTS = {
    "test_contrib.py": "the files of contrib/ (NRPE and Icinga 2 commands)",
    "test_docs.py": "the docs: links, anchors and every path they name",
    "test_cli_imports.py": "what each command imports, across the package's lazy faces",
    "test_layout.py": "the shape of the package and of the tests",
    "test_packaging.py": "the wheel built from the package",
    "alerts/test_grouping.py": "one message per burst, from Alerting through each sink type",
    "alerts/test_signature_doc.py": "the signature check docs/notifications.md gives receivers",
    "exposition/test_metrics_doc.py": "docs/metrics.md against the metric families",
    "exposition/test_names.py": "one home per metric name, across monitor/",
    "exposition/test_promtool.py": "Prometheus's linter on a live body of every family",
    "web/test_abuse.py": "the daemon as a process under floods (marker abuse)",
    "web/test_statuspage_browser.py": "the status page in headless Chromium (marker browser)",
}
# Tests of the whole daemon: tests/service/test_daemon_<aspect>.py, named for that.
WHOLE_DAEMON = re.compile(r"test_daemon(_[a-z0-9_]+)?\.py")


def misnamed_tests(tests: Path = TESTS, package: Path = PACKAGE) -> list[str]:
    """Test modules named for no module (or subpackage) of the package folder they mirror,
    and neither a whole-daemon test nor a listed subject; modules of a kind folder its
    document does not name; folders that mirror nothing and are no kind."""
    wrong = []
    for path in sorted(tests.rglob("test_*.py")):
        relative = path.relative_to(tests)
        folder = relative.parent
        if folder.parts and folder.parts[0] in KINDS:
            document, _ = KINDS[folder.parts[0]]
            if path.name not in (package.parent / document).read_text(encoding="utf-8"):
                wrong.append(f"{relative}: not named in {document}")
            continue
        mirrored = package / folder
        if not (mirrored / "__init__.py").is_file():
            wrong.append(f"{relative}: {folder} mirrors no package of monitor/")
            continue
        name = path.name.removeprefix("test_").removesuffix(".py")
        if (mirrored / f"{name}.py").is_file() or (mirrored / name / "__init__.py").is_file():
            continue
        if folder == Path("service") and WHOLE_DAEMON.fullmatch(path.name):
            continue
        if relative.as_posix() not in SUBJECTS:
            wrong.append(f"{relative}: names no module of {mirrored.relative_to(package.parent)}")
    return wrong


def test_the_name_check_finds_a_test_named_for_nothing(tmp_path: Path) -> None:
    package, tests = tmp_path / "monitor", tmp_path / "tests"
    for relative in ("__init__.py", "web/__init__.py", "web/server.py", "service/__init__.py"):
        (package / relative).parent.mkdir(parents=True, exist_ok=True)
        (package / relative).write_text("")
    for relative in (
        "web/test_server.py",
        "web/test_book.py",
        "service/test_daemon_alerts.py",
        "web/test_daemon_alerts.py",
        "stuff/test_server.py",
        "adversarial/test_floods.py",
    ):
        (tests / relative).parent.mkdir(parents=True, exist_ok=True)
        (tests / relative).write_text("")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "faults.md").write_text("`test_storms.py`\n")
    assert misnamed_tests(tests, package) == [
        "adversarial/test_floods.py: not named in docs/faults.md",
        "stuff/test_server.py: stuff mirrors no package of monitor/",
        "web/test_book.py: names no module of monitor/web",
        "web/test_daemon_alerts.py: names no module of monitor/web",
    ]


def test_every_test_module_is_named_for_what_it_tests() -> None:
    assert misnamed_tests() == []
    unused = [name for name in SUBJECTS if not (TESTS / name).is_file()]
    assert unused == [], "subjects listed for test modules that are gone"


# A test reads nothing a module keeps private: what it checks must be what the code shows.
PRIVATE = re.compile(r"_[^_]")  # one leading underscore; dunders are public
# Underscored by the namedtuple API, public all the same.
NAMEDTUPLE_API = frozenset({"_replace", "_asdict", "_fields", "_make"})
# Private names a test module may read anyway, each with the reason.
PRIVATE_READS_ALLOWED = {
    ("test_contrib.py", "_parser"): "the CLI's parser, to check contrib's commands against",
    ("test_contrib.py", "_actions"): "argparse lists a parser's options nowhere public",
    ("test_contrib.py", "_SubParsersAction"): "argparse's type of subcommands has no public name",
}


def private_reads(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, name) of every private name a module reads of something not its own: an
    attribute of anything but `self`, `cls` or `super()`, a name imported from monitor, and a name
    given as text to setattr or getattr (`monkeypatch.setattr("monitor.x._y", ...)`,
    `setattr(daemon, "_y", ...)`)."""
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Attribute):
            # Its own: of `self`, `cls`, or `super()` (a subclass calling the hook it overrides).
            own = (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")) or (
                isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Name)
                and node.value.func.id == "super"
            )
            names = [] if own else [node.attr]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("monitor"):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name | ast.Attribute):
            called = node.func.id if isinstance(node.func, ast.Name) else node.func.attr
            if called in ("setattr", "getattr", "delattr", "hasattr"):
                texts = [a.value for a in node.args[:2] if isinstance(a, ast.Constant)]
                names = [t.rpartition(".")[2] for t in texts if isinstance(t, str)]
        found += [
            (node.lineno, name)
            for name in names
            if PRIVATE.match(name) and name not in NAMEDTUPLE_API
        ]
    return sorted(set(found))


def test_the_private_check_finds_every_way_in() -> None:
    tree = ast.parse(
        "from monitor.service.timers import Timers, _every\n"
        "daemon._evaluate()\n"
        "monkeypatch.setattr(Daemon, '_evaluate', spy)\n"
        "monkeypatch.setattr('monitor.web.tls._check_readable', None)\n"
        "x = self._own + cls._also_own + row._replace(a=1).__class__.__name__\n"
        "super()._hook_it_overrides()\n"
        "other()._hook()\n"
    )
    assert private_reads(tree) == [
        (1, "_every"),
        (2, "_evaluate"),
        (3, "_evaluate"),
        (4, "_check_readable"),
        (7, "_hook"),
    ]


def test_no_test_reads_a_private_attribute() -> None:
    wrong = []
    for path in sorted(TESTS.rglob("*.py")):
        relative = path.relative_to(TESTS).as_posix()
        for line, name in private_reads(ast.parse(path.read_text(encoding="utf-8"))):
            if (relative, name) not in PRIVATE_READS_ALLOWED:
                wrong.append(f"{relative}:{line} reads {name}")
    assert wrong == []
