"""The layout's import contract: hw1.measure imports nothing of the lab or the report, hw1.report reads results
only and never loads TensorFlow, hw1.lab may use all three. Checked twice: by what a fresh interpreter loads, and
by scanning the import statements of every module under hw1/ (so a wrong import anywhere, even inside a function,
fails here)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "hw1"

# which top-level parts of hw1 each part may import (itself included); "hw1" is hw1/__init__.py
ALLOWED = {"hw1": {"hw1", "measure"}, "__main__": {"lab"}, "measure": {"measure"}, "results": {"results"},
           "report": {"report", "results"}, "lab": {"lab", "measure", "report", "results"}}
# the only crossings of the rule above, each with its reason (a new one must be argued here, not slipped in)
EXCEPTIONS = {("hw1.report.views.part2_minimal_ratio", "hw1.lab.data"):
              "the view regenerates the 1-2c training points from their definition (numpy; inside one function) "
              "to state the loss of the best straight line, which no CSV holds"}
HEAVY = ("tensorflow", "keras", "pandas", "matplotlib")


def _modules() -> dict[str, Path]:
    """Every module under hw1/ by dotted name."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _part(module: str) -> str:
    """The top-level part of hw1 a dotted name belongs to: hw1, __main__, measure, lab, report or results."""
    return module.split(".")[1] if "." in module else module


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, at import time?) for every import statement of a file; names imported ``from`` a package
    count as its submodules when they are. Imports under ``if TYPE_CHECKING:`` are not run, and not counted."""
    tree = ast.parse(path.read_text(), str(path))
    modules = _modules()
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING":
            return
        if isinstance(node, ast.Import):
            found.extend((alias.name, top) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.append((sub if sub in modules else node.module, top))
        inner = top and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(tree, True)
    return found


def _wrong(name: str, imports: list[tuple[str, bool]]) -> list[str]:
    """The imports of module ``name`` that break :data:`ALLOWED` (less the :data:`EXCEPTIONS`)."""
    wrong = []
    for imported, _ in imports:
        if imported.split(".")[0] != "hw1":
            continue
        if imported == "hw1":  # `import hw1` / `from hw1 import f` (a public name): the measure library's face
            imported = "hw1.measure"
        if _part(imported) not in ALLOWED[_part(name)] and (name, imported) not in EXCEPTIONS:
            wrong.append(f"{name} imports {imported}")
    return wrong


def test_every_import_inside_hw1_goes_the_one_allowed_way():
    wrong = [line for name, path in _modules().items() for line in _wrong(name, _imports(path))]
    assert not wrong, "\n".join(wrong)


def test_the_measure_library_imports_no_pandas_or_matplotlib_of_its_own():
    """TensorFlow itself may load pandas; a measure module's own top-level imports never do (lazily where needed)."""
    wrong = [f"{name} imports {imported} at import time" for name, path in _modules().items()
             if _part(name) == "measure" for imported, top in _imports(path)
             if top and imported.split(".")[0] in ("pandas", "matplotlib")]
    assert not wrong, "\n".join(wrong)


def test_the_scan_sees_a_wrong_import(tmp_path):
    """The scanner itself: an import from the lab inside a function of a measure-like file is found."""
    bad = tmp_path / "bad.py"
    bad.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import hw1.lab.cli\n"
                   "def f():\n    from hw1.lab import data\n    import pandas\n")
    assert _imports(bad) == [("typing", True), ("hw1.lab.data", False), ("pandas", False)]
    assert _wrong("hw1.measure.bad", _imports(bad)) == ["hw1.measure.bad imports hw1.lab.data"]
    assert _wrong("hw1.report.bad", [("hw1.measure.core", True), ("hw1.results", True), ("hw1", False)]) == [
        "hw1.report.bad imports hw1.measure.core", "hw1.report.bad imports hw1.measure"]
    assert _wrong("hw1.lab.bad", _imports(bad)) == []


def _loaded(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; the hw1 modules and the heavy libraries it left loaded."""
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps({{'hw1': sorted(m for m in sys.modules if m.split('.')[0] == 'hw1'), "
             f"'heavy': sorted(m for m in {HEAVY!r} if m in sys.modules)}}))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd="/", timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_hw1_or_its_measure_package_loads_nothing_else():
    """The README's check: ``import hw1.measure`` lists no lab or report module, and nothing heavy yet."""
    loaded = _loaded("import hw1, hw1.measure")
    assert loaded == {"hw1": ["hw1", "hw1.measure"], "heavy": []}


def test_every_measure_module_loads_no_lab_or_report_module():
    loaded = _loaded("import importlib, pkgutil, hw1.measure\n"
                     "for m in pkgutil.walk_packages(hw1.measure.__path__, 'hw1.measure.'):\n"
                     "    importlib.import_module(m.name)")
    assert len(loaded["hw1"]) >= 10
    assert all(m == "hw1" or m.startswith("hw1.measure") for m in loaded["hw1"]), loaded["hw1"]


@pytest.mark.parametrize("start", ["hw1.report", "hw1.report.views", "hw1.report.plots"])
def test_every_report_module_loads_no_tensorflow_and_no_lab_or_measure_module(start):
    loaded = _loaded(f"import importlib, pkgutil, {start}\n"
                     f"for m in pkgutil.walk_packages({start}.__path__, '{start}.'):\n"
                     "    importlib.import_module(m.name)")
    assert "tensorflow" not in loaded["heavy"] and "keras" not in loaded["heavy"], loaded["heavy"]
    assert any(m.startswith(f"{start}.") for m in loaded["hw1"])
    face = ("hw1", "hw1.measure")  # the parent package hw1 names its public API from hw1.measure's (lazy __init__)
    assert all(m in face or m.startswith(("hw1.report", "hw1.results")) for m in loaded["hw1"]), loaded["hw1"]


def test_the_results_seam_loads_no_tensorflow_matplotlib_lab_or_report():
    """What a script imports before TensorFlow starts (its schema) and what the report reads through."""
    loaded = _loaded("import hw1.results, hw1.results.schema")
    assert sorted(loaded["hw1"]) == ["hw1", "hw1.measure", "hw1.results", "hw1.results.files", "hw1.results.folder",
                                     "hw1.results.schema"]  # hw1.measure: the parent's lazy public face
    assert loaded["heavy"] == ["pandas"]
