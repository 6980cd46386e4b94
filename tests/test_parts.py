"""The parts: one table of them (``grader/rubric.py``), one ``select_parts``, a procedure for
every row, and a part added in four places (its solution code, its module, its rubric rows, its
tests) graded end to end, with and without pytest."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPOSITORY
from grader_copy import grader_copy, run_pytest

from grader.parts import (DEFAULT_PARTS, OPT_IN_PARTS, PARTS, REGISTRY, UnknownParts, procedure_of,
                          procedures, select_parts)
from grader.rubric import RUBRIC


def test_every_row_has_a_procedure_and_every_procedure_a_row():
    import importlib

    for row in RUBRIC:
        procedure, _ = procedure_of(row.part, row.test)
        assert "grade" in procedure.__code__.co_varnames, row.test
    rows = {row.test for row in RUBRIC}
    for part in REGISTRY:
        found = set(procedures(importlib.import_module(part.module_name)))
        assert found <= rows, f"procedures of {part.name} without a rubric row: {found - rows}"


def test_select_parts():
    assert select_parts() == DEFAULT_PARTS
    assert select_parts("loss, init") == ("init", "loss")          # registry order, spaces
    assert select_parts(["update"], experiments=True) == ("update", *OPT_IN_PARTS)
    assert select_parts("", experiments=True) == (*DEFAULT_PARTS, *OPT_IN_PARTS)
    with pytest.raises(UnknownParts, match="unknown parts nope; the parts are init"):
        select_parts("init,nope")
    assert set(PARTS) == {row.part for row in RUBRIC}


def test_nothing_imports_a_test_module():
    """Graded procedures live in grader/parts; no module (grader, reference, report, tests)
    imports grader's test modules."""
    offenders = []
    for root in ("grader", "reference", "report", "tests", "benchmarks"):
        for path in (REPOSITORY / root).rglob("*.py"):
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                if (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
                        and isinstance(node.args[0].value, str)):   # importlib.import_module("...")
                    names.append(node.args[0].value)
                offenders += [f"{path.relative_to(REPOSITORY)}: {name}" for name in names
                              if name.startswith(("grader.test_", "grader.hidden.test_"))]
    assert offenders == []


TOY_MODULE = '''"""Part toy: Doubler.forward doubles its input."""
from grader.verdicts.checks import compare_array


def test_toy_doubles(worker, grade, rng):
    x = rng.normal(size=(3, 4))
    got = grade.require(worker.call("forward", cls="Doubler", args=[x]), "Doubler().forward(x)")
    grade.check(compare_array("Doubler().forward(x)", got, 2 * x))
'''

TOY_SOLUTION = "class Doubler:\n    def forward(self, x):\n        return {}\n"


def toy_grader(tmp_path: Path) -> Path:
    """A copy of the grader with the part "toy" added: its registry line and row in the
    rubric, and its module (the solution file is the fourth place, this test the fifth)."""
    folder = grader_copy(tmp_path, {"grader/rubric.py": (
        '    Part("kaggle_submission", TORCH, stub="write_kaggle_submission"),\n',
        '    Part("kaggle_submission", TORCH, stub="write_kaggle_submission"),\n'
        '    Part("toy", TORCH, stub="Doubler"),\n')})
    rubric = folder / "grader" / "rubric.py"
    text = rubric.read_text()
    anchor = "\n)\n\nHIDDEN_RUBRIC"
    assert text.count(anchor) == 1
    rubric.write_text(text.replace(anchor, '\n    Row("test_toy_doubles", "toy", 2, '
                                           '"Doubler.forward doubles its input"),' + anchor))
    (folder / "grader" / "parts" / "toy.py").write_text(TOY_MODULE)
    return folder


@pytest.mark.parametrize("answer, score", [("2 * x", 2.0), ("x + x + 1", 0.0)])
def test_a_toy_part_is_graded_end_to_end(tmp_path, answer, score):
    folder = toy_grader(tmp_path)
    submission = tmp_path / "solution.py"
    submission.write_text(TOY_SOLUTION.format(answer))
    results = tmp_path / "results.json"
    process = subprocess.run([sys.executable, "-m", "grader", "grade", str(submission), "--parts",
                              "toy", "--results-json", str(results)],
                             cwd=folder, capture_output=True, text=True, timeout=300)
    output = process.stdout + process.stderr
    data = json.loads(results.read_text())
    assert (data["score"], data["max_score"]) == (score, 2.0), output
    assert process.returncode == (0 if score == 2.0 else 1), output
    assert "toy" in output
    if score < 2.0:
        assert "Doubler().forward(x)" in data["output"] and "entries differ" in data["output"]
    # the same grading through pytest grader
    code, pytest_output, pytest_data = run_pytest(folder, submission, tmp_path / "pytest.json",
                                                  "--parts", "toy")
    assert pytest_data["score"] == score and pytest_data["max_score"] == 2.0, pytest_output
    assert [t["output"] for t in pytest_data["tests"]] == [t["output"] for t in data["tests"]]
