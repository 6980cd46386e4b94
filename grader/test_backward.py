"""Part backward: every gradient key against PyTorch autograd of the mean cross-entropy."""
import pytest

from grader import cases
from grader.checks import compare_mapping
from grader.substitutes import all_but
from reference import mlp

N_FEATURES, HIDDEN, N_CLASSES, BATCH = 6, (10, 8), 4, 7


def gradient_keys(n_layers: int) -> list[str]:
    keys = []
    for layer in range(n_layers, 0, -1):
        keys += [f"dA{layer}", f"dW{layer}", f"db{layer}"]
        if layer > 1:
            keys.append(f"dZ{layer - 1}")
    return keys


def derivative_at_activation(weights, x, labels, name):
    """The gradients a backward pass gives when it evaluates act' at Z{l} instead of A{l}."""
    layers = mlp.n_layers(weights)
    cache = mlp.forward(weights, x, name)
    grads = {}
    d_a = (cache[f"Z{layers}"] - labels) / x.shape[0]
    for layer in range(layers, 0, -1):
        grads[f"dA{layer}"] = d_a
        grads[f"dW{layer}"] = cache[f"Z{layer - 1}"].T @ d_a
        grads[f"db{layer}"] = d_a.sum(axis=0, keepdims=True)
        if layer > 1:
            d_z = d_a @ weights[f"W{layer}"].T
            grads[f"dZ{layer - 1}"] = d_z
            d_a = d_z * mlp.activation(name, cache[f"Z{layer - 1}"], grad=True)
    return grads


def grade_backward(worker, grade, rng, name, hidden=HIDDEN, n_features=N_FEATURES,
                   n_classes=N_CLASSES, batch=BATCH, weight=1.0):
    dims = mlp.layer_dims(n_features, hidden, n_classes)
    weights = cases.weights(rng, dims)
    x, labels = cases.batch(rng, batch, n_features, n_classes)
    cache = mlp.forward(weights, x, name)
    outcome = worker.call("backward", args=[cache, labels],
                          config=cases.config(hidden, activation=name),
                          state={"weights": weights}, substitute=all_but("backward"))
    label = f"backward with {name}, {len(hidden)} hidden layer(s), batch {batch}"
    got = grade.require(outcome, label)
    expected = mlp.backward(weights, x, labels, name)
    hypotheses = {}
    if name != "relu" and hidden:  # relu' is the same at A and at Z = relu(A)
        hypotheses["the activation derivative was evaluated at Z (the activation) instead of A "
                   "(the pre-activation)"] = derivative_at_activation(weights, x, labels, name)
    verdicts = compare_mapping(label + ": grads", got, expected, batch_size=batch,
                               keys=gradient_keys(len(dims) - 1), hypotheses=hypotheses)
    for verdict in verdicts.values():
        grade.check(verdict, weight)


@pytest.mark.parametrize("name", mlp.ACTIVATIONS)
def test_backward(worker, grade, rng, name):
    grade_backward(worker, grade, rng, name)


def test_backward_depths(worker, grade, rng):
    grade_backward(worker, grade, rng, "tanh", hidden=())
    grade_backward(worker, grade, rng, "relu", hidden=(9, 7, 5), n_features=8, n_classes=3)


def test_backward_batch_of_one(worker, grade, rng):
    grade_backward(worker, grade, rng, "sigmoid", batch=1)
