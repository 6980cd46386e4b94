"""Hidden tests stay hidden: what a student can see on Gradescope names no hidden test and shows
no hidden expected value (issue 10, section 4).

Gradescope's results.json (https://gradescope-autograders.readthedocs.io/en/latest/specs/): each
test has its own ``visibility`` (``visible``, ``after_due_date``, ``after_published``,
``hidden``); the top-level ``output`` is text about the whole submission; ``stdout_visibility``
governs the printed output of the run; ``extra_data`` is stored, not shown. While some tests are
hidden, students do not see their total score. So the fields a student sees before publication
are the top-level ``output`` and the visible tests; a hidden test's entry is seen after
publication only; the terminal output (with every diagnosis) is for the staff.
"""
from __future__ import annotations

from conftest import WORKED_SOLUTION, grade_file, patched_solution
from grader_copy import grader_copy, run_pytest

from grader.rubric import DEFAULT_RUBRIC, RUBRIC

HIDDEN = [row for row in RUBRIC if row.hidden]


def seen_before_publication(data: dict) -> str:
    """Every text of results.json a student can read before grades are published."""
    texts = [data["output"]]
    for test in data["tests"]:
        if test["visibility"] == "visible":
            texts += [test["name"], test["output"]]
    return "\n".join(texts)


def test_hidden_diagnoses_are_in_their_own_entries_only(tmp_path):
    """Seen: the top-level output (visible) held the whole score table, with the diagnosis and
    expected values of the lost hidden tests."""
    buggy = patched_solution(tmp_path, [("d_a = (output - labels) / batch_size",
                                         "d_a = output - labels")])
    code, output, data = grade_file(buggy, tmp_path / "results.json", "--parts", "backward")
    assert code == 1 and data is not None, output
    hidden = [t for t in data["tests"] if t["extra_data"]["test"] == "test_hidden_backward_deep"]
    assert len(hidden) == 1 and hidden[0]["score"] < hidden[0]["max_score"], output
    assert hidden[0]["visibility"] == "after_published"
    diagnosis = hidden[0]["output"]
    assert "expected" in diagnosis   # the staff and, after publication, the student see why
    visible = seen_before_publication(data)
    for row in HIDDEN:
        assert row.test not in visible and row.title not in visible, row
    for line in diagnosis.splitlines():
        if line.strip().startswith("... and "):   # the table's count of further failed checks
            continue
        assert line.strip() not in visible, line
    # The visible tests' own diagnoses stay visible.
    lost_visible = [t for t in data["tests"] if t["visibility"] == "visible" and t["score"] < t["max_score"]]
    assert lost_visible and all(t["output"] for t in lost_visible)
    assert data["stdout_visibility"] == "hidden"   # the run's output holds every diagnosis
    assert "test_hidden_backward_deep" in output   # the staff's table still names it


def test_the_visible_summary_counts_visible_points_only(worked_results):
    _, _, data = worked_results
    hidden_points = sum(row.points for row in HIDDEN)
    visible_points = sum(row.points for row in DEFAULT_RUBRIC) - hidden_points
    assert f"{visible_points:.2f} / {visible_points:g}" in data["output"], data["output"]
    assert f"{hidden_points:g} more points" in data["output"]
    assert all(t["visibility"] == ("after_published" if t["extra_data"]["test"].startswith("test_hidden")
                                   else "visible") for t in data["tests"])


def test_a_grader_error_in_a_hidden_test_shows_no_hidden_source(tmp_path):
    """Seen: a grader-error traceback showed the hidden tests' file (then
    grader/hidden/test_hidden.py) and its source line."""
    folder = grader_copy(tmp_path, {"grader/hidden/cases.py": (
        "def test_hidden_softmax_mixed_scales(worker, grade, rng):\n",
        "def test_hidden_softmax_mixed_scales(worker, grade, rng):\n"
        "    secret = {'expected': 0.123456789}\n    raise KeyError(secret['missing'])\n")})
    code, output, data = run_pytest(folder, WORKED_SOLUTION, tmp_path / "results.json",
                                    "--parts", "softmax")
    assert data is not None, output
    row = next(t for t in data["tests"] if t["extra_data"]["test"] == "test_hidden_softmax_mixed_scales")
    assert row["extra_data"]["status"] == "error" and row["score"] == 0
    before = seen_before_publication(data)
    for leak in ("hidden/cases.py", "secret", "0.123456789", "Traceback", "test_hidden_softmax"):
        assert leak not in before, leak
    for leak in ("hidden/cases.py", "secret", "0.123456789", "Traceback"):
        assert leak not in row["output"], (leak, row["output"])   # seen after publication
    assert "GRADER ERROR" in row["output"]
    # The staff keep the traceback: in the stored extra data and in the run's output.
    assert "hidden/cases.py" in row["extra_data"]["details"]
    assert "hidden/cases.py" in output
