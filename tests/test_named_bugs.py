"""The verdicts of backward and softmax, on gradients and outputs built here (no grading run):
both correct conventions of backward's intermediate keys pass, and each frequent real bug is
named exactly (issue 11, sections 3 and 5)."""
import warnings

import numpy as np
import pytest

from grader.verdicts import cases
from grader.verdicts.nn_parts import (
    backward_hypotheses,
    backward_verdicts,
    gradient_keys,
    softmax_failure_cause,
)
from reference import mlp
from reference.known_mistakes import backward_by_chain_rule

SIZES = cases.BACKWARD


@pytest.fixture
def problem():
    rng = np.random.default_rng(11)
    weights = cases.weights(rng, SIZES.dims)
    x, labels = cases.batch(rng, SIZES.batch, SIZES.n_features, SIZES.n_classes)
    return weights, x, labels, "tanh"


def verdicts(problem, got):
    weights, x, labels, name = problem
    expected = mlp.backward(weights, x, labels, name)
    return backward_verdicts("grads", got, expected, n=x.shape[0],
                             keys=gradient_keys(mlp.n_layers(weights)),
                             hypotheses=backward_hypotheses(weights, x, labels, name,
                                                            cases.CONFIGURED_BATCH_SIZE))


def failed(result):
    return {key: verdict.message for key, verdict, _ in result if not verdict.passed}


def per_example(grads, n):
    return {k: (v * n if k.startswith(("dA", "dZ")) else v) for k, v in grads.items()}


def test_both_conventions_of_the_intermediate_keys_pass(problem):
    weights, x, labels, name = problem
    mean = mlp.backward(weights, x, labels, name)
    assert failed(verdicts(problem, mean)) == {}
    assert failed(verdicts(problem, per_example(mean, x.shape[0]))) == {}


def test_the_parameters_gradients_carry_the_weight(problem):
    weights, x, labels, name = problem
    result = verdicts(problem, mlp.backward(weights, x, labels, name))
    weight = {key: w for key, _, w in result}
    intermediate = sum(w for k, w in weight.items() if k.startswith(("dA", "dZ")))
    parameters = sum(w for k, w in weight.items() if k.startswith(("dW", "db")))
    assert intermediate < parameters / 4


def test_mixed_conventions_are_named_inconsistent_not_summed(problem):
    weights, x, labels, name = problem
    got = mlp.backward(weights, x, labels, name)
    got["dZ1"] = got["dZ1"] * x.shape[0]
    messages = failed(verdicts(problem, got))
    assert list(messages) == ["dZ1"]
    assert "the same one for all" in messages["dZ1"] and "summed" not in messages["dZ1"]


def test_gradient_of_the_summed_loss_is_named_on_dw_and_db_only(problem):
    weights, x, labels, name = problem
    n = x.shape[0]
    got = {k: v * n for k, v in mlp.backward(weights, x, labels, name).items()}
    messages = failed(verdicts(problem, got))
    assert sorted(messages) == sorted(k for k in got if k.startswith(("dW", "db")))
    assert all(f"exactly {n} (the batch size) times too large: summed over the batch" in m
               for m in messages.values())


@pytest.mark.parametrize("intermediate_per_example", [False, True])
def test_division_by_self_batch_size_is_named(problem, intermediate_per_example):
    weights, x, labels, name = problem
    n, b = x.shape[0], cases.CONFIGURED_BATCH_SIZE
    got = {k: v * n / b for k, v in mlp.backward(weights, x, labels, name).items()}
    if intermediate_per_example:   # dA = output - labels, dW = Z.T @ dA / self.batch_size
        got = {k: (v * b if k.startswith(("dA", "dZ")) else v) for k, v in got.items()}
    messages = failed(verdicts(problem, got))
    assert messages and all(
        f"divided by self.batch_size ({b}) instead of the number of examples in this batch ({n})"
        in m for m in messages.values())
    assert intermediate_per_example == all(k.startswith(("dW", "db")) for k in messages)


@pytest.mark.parametrize("variant, words", [
    (dict(derivative="missing"), "derivative was not applied"),
    (dict(derivative="value"), "instead of its derivative"),
    (dict(dw_input="A"), "computed from A{l-1} (the pre-activation)"),
    (dict(transpose_square=True), "the square W2 was not transposed"),
])
def test_chain_rule_bugs_are_named(problem, variant, words):
    weights, x, labels, name = problem
    cache = mlp.forward(weights, x, name)
    for convention in (1, x.shape[0]):
        got = per_example(backward_by_chain_rule(weights, cache, labels, name, **variant),
                          convention)
        messages = failed(verdicts(problem, got))
        assert messages and all(words in m for m in messages.values()), messages


def test_db_summed_over_the_wrong_axis_is_named(problem):
    weights, x, labels, name = problem
    got = mlp.backward(weights, x, labels, name)
    got["db1"] = got["dA1"].sum(axis=1, keepdims=True)
    assert "summed over axis 1" in failed(verdicts(problem, got))["db1"]


def numpy_softmax(x, shift):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        e = np.exp(x - shift)
        return e / e.sum(axis=-1, keepdims=True)


def test_softmax_with_the_batch_maximum_is_named_where_it_shows():
    rng = np.random.default_rng(3)
    x = rng.normal(0.0, 1.0, size=(4, 6))
    assert softmax_failure_cause(x, numpy_softmax(x, x.max())) == ""   # exact there: not a bug
    x[0] += 1000.0
    x[1] -= 1000.0
    cause = softmax_failure_cause(x, numpy_softmax(x, x.max()))
    assert "maximum of the whole batch" in cause and "subtract the row maximum" not in cause
    assert "row(s) 1, 2, 3" in cause
    assert "subtract the row maximum first" in softmax_failure_cause(x, numpy_softmax(x, 0.0))
    assert softmax_failure_cause(x, numpy_softmax(x, x.max(axis=-1, keepdims=True))) == ""
