"""Part forward: the cache of a forward pass, against the float64 reference, per activation.

The layers (``cases.FORWARD``) include a square one, where code that transposes W when the
shapes allow it goes wrong."""

from grader.parts import each
from grader.verdicts import cases
from grader.verdicts.nn_parts import grade_forward
from reference import mlp


@each("name", mlp.ACTIVATIONS)
def test_forward(worker, grade, rng, name):
    grade_forward(worker, grade, rng, name, cases.FORWARD)
