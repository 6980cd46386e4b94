"""Correct code written another way keeps full marks (issue 11: never call a correct convention
a bug). Each entry of ``bugs.CONVENTIONS`` is graded on its parts only."""
import pytest
from bugs import CONVENTIONS
from conftest import grade_file, part_scores, patched_solution


@pytest.mark.parametrize("variant", CONVENTIONS, ids=[v.name for v in CONVENTIONS])
def test_correct_convention_keeps_full_marks(variant, tmp_path):
    submission = patched_solution(tmp_path, variant.replacements)
    code, output, data = grade_file(submission, tmp_path / "results.json", "--parts",
                                    ",".join(variant.parts))
    assert data is not None, output
    scores = part_scores(data)
    assert set(scores) == set(variant.parts)
    lost = {part: s for part, s in scores.items() if s[0] != s[1]}
    assert not lost, f"{variant.name} ({variant.why}) lost points: {lost}\n{output}"
    assert code == 0, output
