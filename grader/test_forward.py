"""Part forward: the cache of a forward pass, against the float64 reference, per activation."""
import pytest

from grader import cases
from grader.checks import compare_mapping
from grader.substitutes import all_but
from reference import mlp

N_FEATURES, HIDDEN, N_CLASSES, BATCH = 15, (12, 9), 5, 6


def forward_cache_keys(n_layers: int) -> list[str]:
    keys = ["Z0"]
    for layer in range(1, n_layers + 1):
        keys += [f"A{layer}", f"Z{layer}"]
    return keys


def forward_hypotheses(weights, x, name):
    """Buggy variants of the cache that point at a likely cause."""
    layers = mlp.n_layers(weights)
    no_bias = {k: (v * 0 if k.startswith("b") else v) for k, v in weights.items()}
    variants = {"the biases b{l} were not added": mlp.forward(no_bias, x, name)}
    # The output layer passed through the hidden activation as well as (or instead of) softmax.
    cache = mlp.forward(weights, x, name)
    hidden_out = dict(cache)
    hidden_out[f"Z{layers}"] = mlp.activation(name, cache[f"A{layers}"])
    variants["the output layer used the hidden activation instead of softmax"] = hidden_out
    return variants


def grade_forward(worker, grade, rng, name, hidden=HIDDEN, n_features=N_FEATURES,
                  n_classes=N_CLASSES, batch=BATCH):
    dims = mlp.layer_dims(n_features, hidden, n_classes)
    weights = cases.weights(rng, dims)
    x = rng.normal(0.0, 1.0, size=(batch, n_features))
    outcome = worker.call("forward", args=[x], config=cases.config(hidden, activation=name),
                          state={"weights": weights}, substitute=all_but("forward"))
    got = grade.require(outcome, f"forward(x) with {name}")
    expected = mlp.forward(weights, x, name)
    keys = forward_cache_keys(len(dims) - 1)
    verdicts = compare_mapping(f"forward(x) with {name}: cache", got, expected, keys=keys,
                               hypotheses=forward_hypotheses(weights, x, name))
    for key, verdict in verdicts.items():
        grade.check(verdict, weight=0.5 if key == "Z0" else 1.0)


@pytest.mark.parametrize("name", mlp.ACTIVATIONS)
def test_forward(worker, grade, rng, name):
    grade_forward(worker, grade, rng, name)
