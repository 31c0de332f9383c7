"""The docs stand on their own and tell the truth about the tree: every relative link and
`#anchor` resolves (GitHub's heading slugs), every file they name exists (and the test named
after `::`), no file of the project refers to a document it does not contain, the README
stays short with a configuration that loads, and every alert has a runbook."""

from __future__ import annotations

import re
import subprocess
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
import yaml

from monitor.alerts.alert import AlertName
from monitor.config.load import parse_config

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
README_MAX_LINES = 250

FENCE = re.compile(r"^(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
LINK = re.compile(r"(?<!!)\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
# A reference to a document outside the repository: the product's old contract.
FOREIGN = [
    re.compile(r"\bSPEC\b"),
    re.compile(r"(?<!RFC \d{4} )\b[Ss]ection[- ]\d"),
    re.compile(r"\bcontract\b", re.IGNORECASE),
]
TOP_DIRS = (
    "monitor/",
    "tests/",
    "grafana/",
    "systemd/",
    "contrib/",
    "benchmarks/",
    "docs/",
    ".ci/",
)


def prose_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of the lines outside fenced code blocks."""
    fenced = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation other than
    `-` and `_` removed, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    """Every anchor of a Markdown file, repeated headings numbered as GitHub does."""
    seen: dict[str, int] = {}
    found = set()
    for _, line in prose_lines(path):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return frozenset(found)


def links(path: Path) -> Iterator[tuple[int, str]]:
    for number, line in prose_lines(path):
        for match in LINK.finditer(CODE_SPAN.sub("", line)):
            yield number, match.group(1)


def test_the_slug_rules_are_githubs() -> None:
    assert slug("TLS and basic auth (`metrics.web_config_file`)") == (
        "tls-and-basic-auth-metricsweb_config_file"
    )
    assert slug("Per-account policy (`[[accounts]]`)") == "per-account-policy-accounts"
    assert slug("When useapi.net misbehaves") == "when-useapinet-misbehaves"
    assert slug("`--json`") == "--json"
    assert slug("Trying a sink: `notify-test`") == "trying-a-sink-notify-test"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(doc: Path) -> None:
    broken = []
    for number, target in links(doc):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        destination = (doc.parent / path_part).resolve() if path_part else doc
        if not destination.exists():
            broken.append(f"{doc.name}:{number}: {target} (no such file)")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{doc.name}:{number}: {target} (no such heading)")
        elif anchor and destination.suffix != ".md":
            broken.append(f"{doc.name}:{number}: {target} (an anchor into a non-Markdown file)")
    assert not broken, "\n".join(broken)


def _named_file(text: str, last: Path | None = None) -> tuple[Path, str] | None:
    """The file (and test) a code span names, when it names one of the tree: `tests/x.py`,
    `tests/x.py::test_y`, a path relative to a folder of it, such as `service/plan_watch.py`
    (in `monitor/`) or `provisioning/datasources/prometheus.yml` (in `grafana/`), a test
    module by its name alone (`test_flapping.py::test_y`, the one of that name), or `::test_y`
    alone, a test of the module named `last` before it in the paragraph or table."""
    path, _, test = text.partition("::")
    if not path and test and last is not None:
        return last, test
    if " " in path or not re.fullmatch(
        r"[\w./-]+\.(py|md|yml|yaml|json|toml|service|cfg|conf)", path
    ):
        return None
    if path.startswith(TOP_DIRS):
        return ROOT / path, test
    if "/" in path and not path.startswith(("/", "~", ".")):
        within = [f for f in _project_files() if f.as_posix().endswith("/" + path)]
        return (within[0] if len(within) == 1 else ROOT / path), test
    if re.fullmatch(r"test_\w+\.py", path):
        named = [f for f in _project_files() if f.name == path and "tests" in f.parts]
        return (named[0] if len(named) == 1 else ROOT / "tests" / path), test
    return None


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_file_and_test_the_docs_name_exists(doc: Path) -> None:
    missing = []
    last = None  # the test module named last, in this paragraph or table
    for number, line in prose_lines(doc):
        if not line.strip() or HEADING.match(line):
            last = None
        for span in CODE_SPAN.findall(line):
            named = _named_file(span, last)
            if named is None:
                continue
            path, test = named
            if path.suffix == ".py":
                last = path
            if not path.is_file():
                missing.append(f"{doc.name}:{number}: {span} (no such file)")
            elif test and not re.search(
                rf"^\s*(async )?def {re.escape(test.split('[')[0])}\(",
                path.read_text(encoding="utf-8"),
                re.MULTILINE,
            ):
                missing.append(f"{doc.name}:{number}: {span} (no such test)")
    assert not missing, "\n".join(missing)


@cache
def _project_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    text_suffixes = {
        ".md",
        ".py",
        ".yml",
        ".yaml",
        ".json",
        ".toml",
        ".service",
        ".cfg",
        ".conf",
        "",
    }
    return [
        ROOT / name
        for name in listed
        if (ROOT / name).is_file()
        and (ROOT / name).suffix in text_suffixes
        and name != "tests/test_docs.py"  # the one place the patterns are written
    ]


def test_no_file_refers_to_a_document_the_project_does_not_contain() -> None:
    """The product once had a contract outside this repository ("SPEC section 8", "the
    contract"); every file says what is meant, or links to the project's own docs."""
    found = []
    for path in _project_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if any(pattern.search(line) for pattern in FOREIGN):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "\n".join(found)


def test_the_foreign_patterns_match_what_they_should() -> None:
    def foreign(line: str) -> bool:
        return any(pattern.search(line) for pattern in FOREIGN)

    assert foreign("as SPEC section 8 says")
    assert foreign("the section-8 alerts")
    assert foreign("beyond the Contract's list")
    assert not foreign("RFC 9110 section 12.4.2")
    assert not foreign("SUSPECT_SECONDS and _REGEX_SPECIAL")


def test_the_readme_is_short_and_its_configuration_loads() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= README_MAX_LINES
    (block,) = re.findall(r"```toml\n(.*?)```", readme, re.DOTALL)
    config = parse_config(tomllib.loads(block), env={"USEAPI_TOKEN": "t"})
    assert [sink.name for sink in config.sinks] == ["ops"]


def test_the_readme_links_every_doc() -> None:
    linked = {target for _, target in links(ROOT / "README.md")}
    for doc in (ROOT / "docs").glob("*.md"):
        assert f"docs/{doc.name}" in linked, doc.name


def test_every_alert_has_a_runbook() -> None:
    """Each alert the daemon raises and each shipped rule: a heading of its own under
    "Runbooks" in docs/operations.md."""
    rules = yaml.safe_load((ROOT / "grafana" / "prometheus-rules.yml").read_text())
    names = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    names |= {name.value for name in AlertName if name is not AlertName.MONITOR_TEST}
    operations = ROOT / "docs" / "operations.md"
    text = operations.read_text(encoding="utf-8")
    runbooks = text[text.index("\n## Runbooks") :]
    headings = {
        m.group(2) for line in runbooks.splitlines() if (m := HEADING.match(line)) and m.group(1)
    }
    assert names <= headings, names - headings


# A path of the project as comments and docstrings outside the docs name it.
PROJECT_PATH = re.compile(
    r"(?<![\w./-])(?:tests|monitor|benchmarks|grafana|contrib|systemd)/[\w./-]*\w"
)


def test_every_path_the_code_and_ci_name_exists() -> None:
    """The CI script, the package, the benchmarks and the shipped files name tests and modules
    in their comments (`tests/alerts/test_apprise.py skips without it`); a move must take
    those along, as the docs' own check makes it do for the docs."""
    checked = [
        f
        for f in _project_files()
        if f.relative_to(ROOT).parts[0] in {".ci", "monitor", "benchmarks", "systemd", "contrib"}
        or f.name == "pyproject.toml"
    ]
    missing = []
    for file in checked:
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
            for found in PROJECT_PATH.findall(line):
                if "." not in Path(found).name or "*" in found:
                    continue  # a folder, or a pattern
                if not (ROOT / found).exists():
                    missing.append(f"{file.relative_to(ROOT)}:{number}: {found}")
    assert not missing, "\n".join(missing)
