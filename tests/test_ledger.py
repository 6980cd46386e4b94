"""The score is a ledger of the rubric: every selected row is accounted for, whatever ran.

Each test here reproduces one "Seen" of issue 10, section 2. The ones that need a graded test
to misbehave (skip, no check, no ``grade`` fixture) run a copy of the grader in a temporary
folder with that one test file changed; the repository's grader is never modified.
"""
from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPOSITORY, TEMPLATE, WORKED_SOLUTION, grade_file, scores_by_test
from grader_copy import grader_copy, run_pytest, statuses

from grader.rubric import DEFAULT_RUBRIC, RUBRIC

ALL_POINTS = sum(row.points for row in DEFAULT_RUBRIC)


def points_of(*parts: str) -> float:
    return sum(row.points for row in RUBRIC if row.part in parts)


@pytest.mark.parametrize("path, skip", [
    # at setup, by a mark on the pytest item: the row vanished and the total became 184 / 184
    ("grader/test_rubric.py",
     ("globals().update(items_of())\n",
      "globals().update(items_of())\n"
      "test_init_seed = __import__('pytest').mark.skip(reason='skipped on purpose')(test_init_seed)\n")),
    # in the procedure's body
    ("grader/parts/init.py",
     ("def test_init_seed(worker, grade):\n",
      "def test_init_seed(worker, grade):\n    __import__('pytest').skip('skipped on purpose')\n")),
], ids=["at-setup", "in-the-call"])
def test_a_skipped_graded_test_keeps_its_row_and_says_why(tmp_path, path, skip):
    """Seen: a skipped graded test vanished from the total (184 instead of 185)."""
    folder = grader_copy(tmp_path, {path: skip})
    code, output, data = run_pytest(folder, WORKED_SOLUTION, tmp_path / "results.json",
                                    "--parts", "init")
    assert data is not None, output
    assert data["max_score"] == points_of("init"), output
    assert data["score"] == points_of("init") - 1
    row = next(t for t in data["tests"] if t["extra_data"]["test"] == "test_init_seed")
    assert row["extra_data"]["status"] == "not run" and row["score"] == 0
    assert "skipped on purpose" in row["output"]
    assert "test_init_seed" in output and "skipped on purpose" in output   # the table says why
    assert code == 1, output   # not full marks, so not a success


def test_a_graded_test_without_the_grade_fixture_is_refused(tmp_path):
    """Seen: a graded test that never uses the ``grade`` fixture scored full marks, on the
    template too."""
    folder = grader_copy(tmp_path, {"grader/parts/update.py": (
        "def test_update(worker, grade, rng):\n", "def test_update(worker, rng):\n    return\n")})
    code, output, data = run_pytest(folder, TEMPLATE, tmp_path / "results.json", "--parts", "update")
    assert code not in (0, 1), output
    assert data is None or data["score"] == 0, output
    assert "grade fixture" in output and "test_update" in output, output


def test_a_graded_test_that_makes_no_check_is_a_grader_error(tmp_path):
    """A graded test that takes ``grade`` but returns without a check is a grader error, never a
    pass (before: an internal error of pytest and no results)."""
    folder = grader_copy(tmp_path, {"grader/parts/update.py": (
        "def test_update(worker, grade, rng):\n", "def test_update(worker, grade, rng):\n    return\n")})
    code, output, data = run_pytest(folder, WORKED_SOLUTION, tmp_path / "results.json",
                                    "--parts", "update")
    assert data is not None, output
    assert statuses(data) == {"test_update": "error"}
    assert data["score"] == 0 and data["max_score"] == points_of("update")
    assert "made no check" in data["tests"][0]["output"]
    assert "GRADER ERROR" in output and code == 1, output


def test_the_template_has_no_graded_test_that_passes_without_checking(tmp_path):
    """Every graded test reaches a check or a failed call on the template, so the grader's
    no-check error would show here (and in the worked solution's full-marks test) in CI."""
    code, output, data = grade_file(TEMPLATE, tmp_path / "results.json")
    assert code == 1 and data["score"] == 0, output
    assert "made no check" not in output and "GRADER ERROR" not in output
    assert set(statuses(data).values()) == {"failed"}


def test_parallel_grading_is_refused_with_a_reason(tmp_path):
    """Seen: ``pytest grader -n 2`` printed no table and results.json kept 2 of 9 tests."""
    results = tmp_path / "results.json"
    process = subprocess.run(
        [sys.executable, "-m", "pytest", "grader", "-n", "2", "-q", "-p", "no:cacheprovider",
         "--submission", str(WORKED_SOLUTION), "--parts", "softmax", "--results-json", str(results)],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=600)
    output = process.stdout + process.stderr
    assert process.returncode not in (0, 1), output
    assert "-n" in output and "one process" in output, output
    assert not results.exists()


@pytest.mark.parametrize("arguments, what", [(("-k", "softmax"), "-k"), (("-x",), "-x"),
                                             (("--maxfail=1",), "--maxfail"), (("-n", "2"), "-n")])
def test_grade_refuses_arguments_that_would_shrink_the_maximum(tmp_path, arguments, what):
    """Seen: arguments passed through ``python -m grader grade`` (-k, -x) shrank the maximum
    without saying so."""
    code, output, data = grade_file(WORKED_SOLUTION, tmp_path / "results.json", *arguments)
    assert code == 2 and data is None, output
    assert what in output and "--parts" in output, output


def test_a_keyword_selection_is_marked_partial_and_keeps_the_maximum(tmp_path):
    """``pytest grader -k``: the maximum stays the rubric's, the rows left out say so."""
    code, output, data = run_pytest(REPOSITORY, WORKED_SOLUTION, tmp_path / "results.json",
                                    "-k", "softmax")
    assert data is not None, output
    assert data["max_score"] == ALL_POINTS
    assert data["score"] == points_of("softmax")
    partial = data["extra_data"]["nngrade"]["partial"]
    assert partial and "-k" in partial["reason"], partial
    by_status = statuses(data)
    assert len(by_status) == len(DEFAULT_RUBRIC)
    assert {test for test, status in by_status.items() if status != "not selected"} == {
        row.test for row in RUBRIC if row.part == "softmax"}
    assert "PARTIAL" in output and "not selected" in output
    assert "PARTIAL" in data["output"]


def test_stopping_at_the_first_failure_leaves_rows_not_run(tmp_path):
    """``pytest grader -x``: the tests after the stop are "not run" and the result is partial."""
    code, output, data = run_pytest(REPOSITORY, TEMPLATE, tmp_path / "results.json",
                                    "-x", "--parts", "softmax")
    assert data is not None, output
    assert data["max_score"] == points_of("softmax") and data["score"] == 0
    by_status = statuses(data)
    assert list(by_status.values()).count("failed") == 1
    not_run = [t for t in data["tests"] if t["extra_data"]["status"] == "not run"]
    assert len(not_run) == len(by_status) - 1
    assert all("stopp" in t["output"] for t in not_run), not_run
    assert data["extra_data"]["nngrade"]["partial"]["reason"]


def test_selected_parts_keep_their_full_maximum(tmp_path):
    """``--parts`` stays the supported selection: complete, not partial."""
    code, output, data = grade_file(WORKED_SOLUTION, tmp_path / "results.json", "--parts", "softmax")
    assert code == 0, output
    assert data["score"] == data["max_score"] == points_of("softmax")
    assert data["extra_data"]["nngrade"]["partial"] is None
    assert set(scores_by_test(data)) == {row.test for row in RUBRIC if row.part == "softmax"}
