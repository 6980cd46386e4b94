"""Part backward: every gradient key against PyTorch autograd of the mean cross-entropy."""
import pytest

from grader.verdicts.nn_parts import grade_backward
from reference import mlp


@pytest.mark.parametrize("name", mlp.ACTIVATIONS)
def test_backward(worker, grade, rng, name):
    grade_backward(worker, grade, rng, name)


def test_backward_depths(worker, grade, rng):
    grade_backward(worker, grade, rng, "tanh", hidden=())
    grade_backward(worker, grade, rng, "relu", hidden=(9, 7, 5), n_features=8, n_classes=3)


def test_backward_batch_of_one(worker, grade, rng):
    grade_backward(worker, grade, rng, "sigmoid", batch=1)
