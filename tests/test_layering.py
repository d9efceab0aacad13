"""The layers of docs/architecture.md hold: every import of every module points down.

The allowed graph is read from the "Layers" table of docs/architecture.md, so the map and
this check cannot drift apart. Every import counts: at module level, inside a function
(an import hidden in a function is how a wire in the wrong room dodges a cycle), and
under `if TYPE_CHECKING:` (a type is a dependency too).
"""

from __future__ import annotations

import ast
import re
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ARCHITECTURE = REPO / "docs" / "architecture.md"


def read_layers(text: str) -> tuple[dict[str, str], dict[str, set[str]]]:
    """(module prefix → layer, layer → layers it may import) from the "Layers" table."""
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    prefixes: dict[str, str] = {}
    allowed: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not line.startswith("|") or cells[0] in ("layer", "---"):
            continue
        layer, modules, imports = cells
        for module in re.findall(r"`([\w.]+)`", modules):
            prefixes[module] = layer
        allowed[layer] = {x.strip() for x in imports.split(",")} - {"(none)"}
    return prefixes, allowed


PREFIXES, ALLOWED = read_layers(ARCHITECTURE.read_text(encoding="utf-8"))
TOP_LEVEL = {p.split(".")[0] for p in PREFIXES}
NAMESPACE = "borderwatch"
# the design's folders, installed as borderwatch.<folder> (setup.py); borderwatch/ itself is
# the application
FOLDERS = ("collector", "alerts", "exporters", "history", "reports", "grafana", "lab")


def layer_of(module: str) -> str | None:
    """The layer of a module: the row with the longest matching module name."""
    best = max((p for p in PREFIXES if module == p or module.startswith(p + ".")),
               key=len, default=None)
    return PREFIXES[best] if best is not None else None


def module_name(path: Path) -> str:
    """The name a file imports as: `collector/poller.py` is `borderwatch.collector.poller`."""
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    if parts[0] in FOLDERS:
        parts.insert(0, NAMESPACE)
    return ".".join(parts)


def folder_of(name: str) -> Path:
    """The file or folder a module name points at (the inverse of module_name)."""
    parts = name.split(".")
    if parts[0] == NAMESPACE and len(parts) > 1 and parts[1] in FOLDERS:
        parts.pop(0)
    return REPO.joinpath(*parts)


def imported_modules(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, module) for every import in the file, wherever it stands; for
    `from package import name`, package and, when name is a module, package.name
    (`from borderwatch.alerts import promrules` imports the layer of
    borderwatch.alerts.promrules)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            out.append((node.lineno, base))
            out.extend((node.lineno, f"{base}.{a.name}") for a in node.names
                       if _is_module(f"{base}.{a.name}"))
    return out


def _is_module(name: str) -> bool:
    """True when `name` is a module or package of the repository (not a class, say)."""
    path = folder_of(name)
    return path.with_suffix(".py").exists() or path.is_dir()


def wrong_imports(path: Path, module: str) -> list[str]:
    """`file:line: layer imports module (its layer)` for each import that does not point down."""
    source = layer_of(module)
    found = []
    for line, target in imported_modules(path, module):
        if target.split(".")[0] not in TOP_LEVEL:
            continue  # the standard library, a dependency
        dest = layer_of(target)
        if dest is None or dest == source or dest in ALLOWED[source]:
            continue
        found.append(f"{path.name}:{line}: {source} imports {target} ({dest})")
    return sorted(found)


def violations() -> list[str]:
    """Every wrong import in the packages the table names."""
    found = []
    for top in (NAMESPACE, *FOLDERS):
        for path in sorted((REPO / top).rglob("*.py")):
            found.extend(f"{path.parent.relative_to(REPO)}/{v}"
                         for v in wrong_imports(path, module_name(path)))
    return found


def test_the_table_is_read() -> None:
    """The table names every top-level package of the design and the application."""
    assert {NAMESPACE, *(f"{NAMESPACE}.{f}" for f in FOLDERS)} <= set(PREFIXES)
    assert {NAMESPACE} == TOP_LEVEL
    assert ALLOWED["collector"] == set()
    for layer, allowed in ALLOWED.items():
        assert allowed <= set(ALLOWED), f"{layer} names an unknown layer: {allowed}"


def test_the_allowed_graph_has_no_cycle() -> None:
    """The table itself cannot allow two layers to import each other, even indirectly."""
    try:
        order = list(TopologicalSorter(ALLOWED).static_order())
    except CycleError as exc:
        pytest.fail(f"docs/architecture.md's layers allow a cycle: {exc.args[1]}")
    assert order[0] == "collector"


def test_every_import_points_down() -> None:
    assert violations() == []


def test_a_wrong_import_is_found(tmp_path: Path) -> None:
    """The check sees an import inside a function, a type-only one and a module imported
    by name from its package; a relative import is resolved against the module."""
    probe = tmp_path / "probe.py"
    probe.write_text("from typing import TYPE_CHECKING\n"
                     "if TYPE_CHECKING:\n    from borderwatch.alerts.topology import Topology\n"
                     "def f():\n    from borderwatch import service\n"
                     "from .. import state\n"
                     "import borderwatch.exporters.http\n"
                     "from borderwatch.lab import quality\n", encoding="utf-8")
    found = sorted(v.split(": ", 1)[1]
                   for v in wrong_imports(probe, "borderwatch.collector.snmp.probe"))
    assert found == [
        "collector imports borderwatch (application)",
        "collector imports borderwatch.alerts.topology (alerts)",
        "collector imports borderwatch.exporters.http (exporters)",
        "collector imports borderwatch.lab (lab)",
        "collector imports borderwatch.lab.quality (lab harness)",
        "collector imports borderwatch.service (application)",
    ]


def old_names(path: Path) -> list[str]:
    """`file:line: module` for each import of a folder by its bare name (`collector.x`)."""
    module = module_name(path) if path.is_relative_to(REPO) else path.stem
    return [f"{path.name}:{line}: {target}" for line, target in imported_modules(path, module)
            if target.split(".")[0] in FOLDERS]


def test_nothing_imports_a_folder_by_its_bare_name() -> None:
    """From a checkout, `import collector` still works (the folder is on sys.path), but the
    wheel has no such package, and a module imported under both names runs twice, with two
    copies of its state. Every import, in tests and bench/ too, uses the namespace."""
    found = [v for top in (NAMESPACE, *FOLDERS, "tests", "bench", "scripts")
             for path in sorted((REPO / top).rglob("*.py")) for v in old_names(path)]
    assert found == []


def test_a_bare_name_import_is_found(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import collector.clock as clock\nfrom borderwatch.lab import gate\n"
                     "def f():\n    from alerts import engine\n", encoding="utf-8")
    assert old_names(probe) == ["probe.py:1: collector.clock", "probe.py:4: alerts",
                                "probe.py:4: alerts.engine"]
