"""The bank of Part 4 architectures (tests/submissions/part4/): the same assignment written in
the styles students really use (nn.Sequential, an explicit forward with view/flatten, functional
relu and pooling, helper blocks, a residual net, a BatchNorm2d that keeps its running statistics
out of autograd with torch.no_grad() or with .detach()). Each is a correct Part 4 and must earn
full marks on every row of batchnorm2d, mnist_cnn and cats_dogs_cnn, whatever the grader does to
capture, rebuild or train the networks."""
from pathlib import Path

import pytest
from conftest import REPOSITORY, WORKED_SOLUTION, grade_file, part_scores, scores_by_test

BANK = REPOSITORY / "tests" / "submissions" / "part4"
PARTS = ("batchnorm2d", "mnist_cnn", "cats_dogs_cnn")
"""The parts an architecture can win or lose; kaggle_submission does not look at the network."""

PART_4_HEADER = "# " + "-" * 93 + "\n# Part 4"


def with_part_4(part_4: str, folder: Path) -> Path:
    """solution.py made of Parts 1-3 of the worked solution followed by ``part_4``, which
    replaces the worked Part 4 (BatchNorm2d to write_kaggle_submission)."""
    worked = WORKED_SOLUTION.read_text()
    assert worked.count(PART_4_HEADER) == 1
    text = worked[:worked.index(PART_4_HEADER)] + part_4
    compile(text, "solution.py", "exec")
    path = folder / "solution.py"
    path.write_text(text)
    return path


def test_bank_holds_every_style():
    """The styles the issue asks for are all there (a renamed file must not drop out silently)."""
    assert {path.stem for path in BANK.glob("*.py")} >= {
        "sequential", "explicit_forward", "functional", "blocks", "residual", "bn_no_grad",
        "bn_detach"}


@pytest.mark.parametrize("style", sorted(path.stem for path in BANK.glob("*.py")))
def test_architecture_scores_full_marks(tmp_path, style):
    submission = with_part_4((BANK / f"{style}.py").read_text(), tmp_path)
    code, output, data = grade_file(submission, tmp_path / "results.json", "--parts", ",".join(PARTS))
    assert data is not None, output
    assert set(part_scores(data)) == set(PARTS), output
    lost = {test: score for test, score in scores_by_test(data).items() if score[0] != score[1]}
    assert not lost, f"{style} lost points in {lost}:\n{output}"
    assert code == 0 and data["score"] == data["max_score"] > 0, output
