"""Part backward: every gradient key against PyTorch autograd of the mean cross-entropy.

The sizes (``cases.BACKWARD*``) include a square layer, and ``self.batch_size`` differs from
every batch, so that code dividing by it instead of by the batch at hand shows."""

from grader.parts import each
from grader.verdicts import cases
from grader.verdicts.nn_parts import grade_backward
from reference import mlp

PUBLIC_CASES = {
    **{f"test_backward[{name}]": ((name, cases.BACKWARD),) for name in mlp.ACTIVATIONS},
    "test_backward_depths": (("tanh", cases.BACKWARD_NO_HIDDEN), ("relu", cases.BACKWARD_THREE_HIDDEN)),
    "test_backward_batch_of_one": (("sigmoid", cases.BACKWARD_ONE_EXAMPLE),),
}
"""``{test: ((activation, sizes), ...)}``, graded in this order from the test's ``rng``. The
release replays them (``nn_parts.backward_case``) to record the withheld hypotheses' outputs."""


def grade_cases(worker, grade, rng, test: str) -> None:
    for name, sizes in PUBLIC_CASES[test]:
        grade_backward(worker, grade, rng, name, sizes)


@each("name", mlp.ACTIVATIONS)
def test_backward(worker, grade, rng, name):
    grade_cases(worker, grade, rng, f"test_backward[{name}]")


def test_backward_depths(worker, grade, rng):
    grade_cases(worker, grade, rng, "test_backward_depths")


def test_backward_batch_of_one(worker, grade, rng):
    grade_cases(worker, grade, rng, "test_backward_batch_of_one")
