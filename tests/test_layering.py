"""The layers of the code base, read from the sources (issue 25, section 5).

``report`` (the report builder) may import the grader; the grader never imports ``report``: what
both need (atomic file writes, the figures' style and the figures the grader draws too) lives in
``grader/outputs/artifacts.py``, which the handout ships. The isolation boundary is split by
concern (``grader/isolation/worker.py`` names the public parts), and no part of it grows back
into one module that holds them all.
"""
from __future__ import annotations

import ast

from conftest import REPOSITORY
from grader.authoring.release import HANDOUT_FOLDERS
from grader.isolation import INSIDE_COPIES

GRADER = REPOSITORY / "grader"
ISOLATION = GRADER / "isolation"
MAX_ISOLATION_MODULE_LINES = 500
"""About the most one module of the boundary's trusted side may hold (``worker.py`` was 1146)."""
DYNAMIC_IMPORTS = {"import_module", "__import__"}


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """``(line, dotted name)`` of every absolute import in ``tree``, by line: ``import a.b``,
    ``from a.b import c`` (as ``a.b``), and ``importlib.import_module("a.b")`` or
    ``__import__("a.b")`` with a literal name. Relative imports are left out: from inside
    ``grader`` they stay in it."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(
                node.func, "id", "")
            if called in DYNAMIC_IMPORTS and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value))
    return sorted(found)


def test_the_reader_of_imports_sees_every_form():
    source = ("import report\nimport report.plots as p\nfrom report import plots\n"
              "from report.plots import data_uri\nimport importlib\n"
              "def f():\n    importlib.import_module('report.engine')\n    __import__('report')\n"
              "from grader.outputs import report\nfrom . import report\n")
    names = [name for _, name in imported_modules(ast.parse(source))]
    assert names == ["report", "report.plots", "report", "report.plots", "importlib",
                     "report.engine", "report", "grader.outputs"]


def test_no_module_of_the_grader_imports_the_report():
    """Seen: ``grader/outputs/experiment_figures.py`` imported ``report.plots`` while
    ``report/engine.py`` imported ``grader.outputs.report``: a cycle between the two packages."""
    offenders = []
    for path in sorted(GRADER.rglob("*.py")):
        for line, name in imported_modules(ast.parse(path.read_text(), filename=str(path))):
            if name.split(".")[0] == "report":
                offenders.append(f"{path.relative_to(REPOSITORY)}:{line} imports {name}")
    assert offenders == []


def test_what_the_grader_and_the_report_share_ships_in_the_handout():
    shared = GRADER / "outputs" / "artifacts.py"
    assert shared.is_file()
    assert shared.parent.relative_to(REPOSITORY).as_posix() in HANDOUT_FOLDERS
    uses = {name for path in (REPOSITORY / "report").rglob("*.py")
            for _, name in imported_modules(ast.parse(path.read_text()))}
    assert "grader.outputs.artifacts" in uses


def test_each_module_of_the_isolation_boundary_holds_one_concern():
    """The trusted side of grader/isolation (not the programs copied into the sandbox) stays in
    modules of at most ``MAX_ISOLATION_MODULE_LINES`` lines."""
    modules = [path for path in sorted(ISOLATION.glob("*.py")) if path.name not in INSIDE_COPIES]
    assert {"process.py", "limits.py", "evidence.py", "policy.py", "messages.py",
            "worker.py"} <= {path.name for path in modules}
    sizes = {path.name: len(path.read_text().splitlines()) for path in modules}
    assert {name: n for name, n in sizes.items() if n > MAX_ISOLATION_MODULE_LINES} == {}
