"""Every buggy submission of the bank loses points in its own part and only there."""
import pytest
from bugs import BUGS
from conftest import (TORCH_PARTS, WORKED_SOLUTION, grade_file, numpy_parts, part_scores,
                      patched_solution, scores_by_test)

NUMPY_PARTS = numpy_parts()


def parts_to_grade(bug) -> tuple:
    """A bug is graded on every part of its side: numpy (Parts 1-3) or torch (Part 4). The two
    sides share no code (a bug's replacements lie inside one side's classes), and grading the
    other side too would only repeat the worked solution's full marks there: the torch parts'
    training runs would triple the bank's time, the numpy parts add ~20 s to each torch bug."""
    return ("--parts", ",".join(NUMPY_PARTS if bug.part in NUMPY_PARTS else TORCH_PARTS))


def test_every_bug_lies_on_its_own_side():
    """What ``parts_to_grade`` relies on: a numpy bug's replacements lie before Part 4 of the
    worked solution, a torch bug's inside it."""
    source = WORKED_SOLUTION.read_text()
    part4 = source.index("\nclass BatchNorm2d(")
    for bug in BUGS:
        for old, _ in bug.replacements:
            assert (source.index(old) > part4) == (bug.part in TORCH_PARTS), bug.name


@pytest.mark.parametrize("bug", BUGS, ids=[bug.name for bug in BUGS])
def test_bug_costs_points_in_its_own_part_only(bug, tmp_path):
    submission = patched_solution(tmp_path, bug.replacements)
    code, output, data = grade_file(submission, tmp_path / "results.json", *parts_to_grade(bug))
    assert data is not None, output
    scores = part_scores(data)
    earned, possible = scores[bug.part]
    assert earned < possible, f"{bug.name} ({bug.why}) kept full points in {bug.part}\n{output}"
    tests = scores_by_test(data)
    for test, lost in bug.also:
        assert tests[test][0] == tests[test][1] - lost, (
            f"{bug.name} should cost {lost} in {test}: {tests[test]}\n{output}")
    excused = {t["tags"][0] for t in data["tests"] if t["extra_data"]["test"] in dict(bug.also)}
    # a part where the bug honestly costs named rows may lose only those
    for part in excused:
        lost_rows = {t["extra_data"]["test"] for t in data["tests"]
                     if t["tags"] == [part] and t["score"] < t["max_score"]}
        assert lost_rows <= set(dict(bug.also)), f"{bug.name} also lost {lost_rows} in {part}"
    elsewhere = {part: s for part, s in scores.items()
                 if part not in (bug.part, *excused) and s[0] != s[1]}
    assert not elsewhere, f"{bug.name} also lost points in {elsewhere}\n{output}"
    assert code == 1
    messages = "\n".join(t["output"] for t in data["tests"]
                         if t["tags"] == [bug.part] and t["score"] < t["max_score"])
    assert bug.says.lower() in messages.lower(), (
        f"the diagnosis of {bug.name} does not say {bug.says!r}:\n{messages}")
