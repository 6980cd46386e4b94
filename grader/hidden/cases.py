"""Hidden variants of the visible tests, on sizes and settings the student has not seen."""
import math

from grader.verdicts import cases
from grader.verdicts.checks import compare_array
from grader.verdicts.nn_parts import (
    call_softmax,
    softmax_failure_cause,
    check_statistics,
    check_structure,
    grade_against_reference,
    grade_backward,
    grade_forward,
    initialized_weights,
    run_train_loop,
    variants,
)
from grader.verdicts.substitutes import all_but
from reference import mlp


def test_hidden_init_glorot_wide(worker, grade):
    hidden, n_features, n_classes = (64, 512), 784, 10
    weights = initialized_weights(worker, grade, "glorot", seed=99, hidden=hidden,
                                  n_features=n_features, n_classes=n_classes)
    dims = mlp.layer_dims(n_features, hidden, n_classes)
    check_structure(grade, weights, dims)
    check_statistics(grade, weights, dims, "glorot")


def test_hidden_softmax_mixed_scales(worker, grade, rng):
    x = rng.normal(0.0, 1.0, size=(5, 9))
    x[0] *= 1e-3
    x[1] *= 300.0
    x[2] = 0.0
    x[3] -= 700.0
    got = call_softmax(worker, grade, x)
    verdict = compare_array("softmax(x) on rows of very different scales", got, mlp.softmax(x))
    cause = softmax_failure_cause(x, got)
    if not verdict.passed and cause and not verdict.names_cause:
        verdict.blame(cause)
    grade.check(verdict)


HIDDEN_FORWARD = cases.Sizes("forward", n_features=5, hidden=(11, 13, 7, 9), n_classes=6, batch=3)
HIDDEN_BACKWARD = cases.Sizes("backward", n_features=9, hidden=(12, 10, 10, 6), n_classes=5,
                              batch=33)
"""W3 is square; batch 33 is neither self.batch_size nor a multiple of it."""


def test_hidden_forward_deep(worker, grade, rng):
    grade_forward(worker, grade, rng, "leaky_relu", HIDDEN_FORWARD)


def test_hidden_backward_deep(worker, grade, rng):
    grade_backward(worker, grade, rng, "relu", HIDDEN_BACKWARD)


def test_hidden_train_loop_other_sizes(worker, grade, callback_log, rng):
    n_train, batch_size, n_epochs = 75, 25, 3
    outcome, logs, calls, weights, expected_logs, wrong_loops = run_train_loop(
        worker, grade, callback_log, rng, hidden=(10, 6), n_train=n_train, batch_size=batch_size,
        n_epochs=n_epochs, lr=0.05, activation="sigmoid", seed=17, n_features=7, n_classes=3)
    grade_against_reference(grade, outcome, logs, calls, weights, expected_logs, n_epochs,
                            math.ceil(n_train / batch_size), wrong_loops=wrong_loops)


def test_hidden_finite_difference_last_layer(worker, grade, rng):
    hidden, name, layer, p, epsilon = (6,), "relu", 2, 12, 1e-5
    dims = mlp.layer_dims(4, hidden, 3)
    weights = cases.weights(rng, dims)
    x, labels = cases.batch(rng, 8, 4, 3)
    outcome = worker.call("finite_difference", args=[x, labels, epsilon],
                          kwargs={"layer": layer, "p": p},
                          config=cases.config(hidden, activation=name, epsilon=1e-6),
                          state={"weights": weights}, substitute=all_but("finite_difference"))
    got = grade.require(outcome, f"finite_difference(x, labels, {epsilon}, layer={layer}, p={p})")
    expected = mlp.central_differences(weights, x, labels, name, epsilon, layer, p, 1e-6)
    grade.check(compare_array(f"finite_difference(..., layer={layer}, p={p})", got, expected,
                              hypotheses=variants(weights, x, labels, name, epsilon, layer, p)))
