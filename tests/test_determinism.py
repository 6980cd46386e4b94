"""Grading is deterministic: the same file graded twice gives the same results.json.

Moved from tests/test_grading.py, with the fix of issue 10: each run must first earn what its
bug deserves, because two gradings that cannot start a worker agree too (0 and 0)."""
from conftest import grade_file, patched_solution, rubric_scores, score_differences, scores_by_test
from hostile import BACKWARD_BUG, BACKWARD_BUG_ZEROES


def test_two_runs_give_identical_results(tmp_path):
    buggy = patched_solution(tmp_path, BACKWARD_BUG)
    runs = []
    for index in range(2):
        _, output, data = grade_file(buggy, tmp_path / f"run{index}.json")
        assert data is not None, output
        scores, expected = scores_by_test(data), rubric_scores(BACKWARD_BUG_ZEROES)
        assert scores == expected, (f"run {index} did not score what the backward bug deserves:\n"
                                    f"{score_differences(scores, expected)}\n{output[-3000:]}")
        data.pop("execution_time")
        # What the grading spent (CPU and idle seconds) is measured, like the execution time;
        # no verdict reads it back.
        spent = data["extra_data"]["nngrade"]["sandbox"].pop("spent")
        assert spent["calls_over_cpu"] == spent["calls_over_idle"] == 0, spent
        runs.append(data)
    assert runs[0] == runs[1]
