"""The shape of the package, kept by tests rather than by memory: a short top level, short
modules with docstrings, a face (`__init__.py` with `__all__`) on every package, eager or lazy
(importing each name on first use), imports that go through faces, and no import cycle,
between modules or between the top-level stages."""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator, Mapping, Set
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "monitor"
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
