"""Part backward: every gradient key against PyTorch autograd of the mean cross-entropy.

The sizes (``cases.BACKWARD*``) include a square layer, and ``self.batch_size`` differs from
every batch, so that code dividing by it instead of by the batch at hand shows."""
import pytest

from grader.verdicts import cases
from grader.verdicts.nn_parts import grade_backward
from reference import mlp


@pytest.mark.parametrize("name", mlp.ACTIVATIONS)
def test_backward(worker, grade, rng, name):
    grade_backward(worker, grade, rng, name, cases.BACKWARD)


def test_backward_depths(worker, grade, rng):
    grade_backward(worker, grade, rng, "tanh", cases.BACKWARD_NO_HIDDEN)
    grade_backward(worker, grade, rng, "relu", cases.BACKWARD_THREE_HIDDEN)


def test_backward_batch_of_one(worker, grade, rng):
    grade_backward(worker, grade, rng, "sigmoid", cases.BACKWARD_ONE_EXAMPLE)
