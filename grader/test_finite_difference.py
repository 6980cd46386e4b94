"""Part finite_difference: central differences of the loss, weights restored afterwards.

The submission's forward and loss run as their reference versions, so the estimates can be
compared with exact central differences computed here in float64.
"""

from grader.verdicts import cases
from grader.verdicts.checks import compare_array, compare_mapping
from grader.verdicts.nn_parts import EPSILON_LOSS, variants
from grader.verdicts.substitutes import all_but
from reference import mlp


def call_finite_difference(worker, grade, rng, *, layer, p, epsilon, name="tanh",
                           sizes=cases.FINITE_DIFFERENCE):
    weights = cases.weights(rng, sizes.dims)
    x, labels = cases.batch(rng, sizes.batch, sizes.n_features, sizes.n_classes)
    outcome = worker.call("finite_difference", args=[x, labels, epsilon],
                          kwargs={"layer": layer, "p": p},
                          config=sizes.config(activation=name, epsilon=EPSILON_LOSS),
                          state={"weights": weights}, substitute=all_but("finite_difference"),
                          return_state=["weights"])
    got = grade.require(outcome, f"finite_difference(x, labels, {epsilon}, layer={layer}, p={p})")
    expected = mlp.central_differences(weights, x, labels, name, epsilon, layer, p, EPSILON_LOSS)
    return got, expected, outcome, weights, x, labels, name


def test_finite_difference_values(worker, grade, rng):
    # A large epsilon is fine (the reference is the exact central difference, not the gradient)
    # and separates a one-sided difference clearly.
    layer, p, epsilon = 2, 10, 1e-2
    got, expected, _, weights, x, labels, name = call_finite_difference(
        worker, grade, rng, layer=layer, p=p, epsilon=epsilon)
    grade.check(compare_array(f"finite_difference(..., layer={layer}, p={p})", got, expected,
                              hypotheses=variants(weights, x, labels, name, epsilon, layer, p)))


def test_finite_difference_restores_weights(worker, grade, rng):
    layer, p, epsilon = 2, 10, 1e-3
    _, _, outcome, weights, *_ = call_finite_difference(worker, grade, rng, layer=layer, p=p,
                                                        epsilon=epsilon)
    after = outcome.state.get("weights")
    verdicts = compare_mapping("self.weights after finite_difference", after, weights,
                               hypotheses=_perturbed_hypotheses(weights, layer, p, epsilon))
    failed = [v.message for v in verdicts.values() if not v.passed]
    grade.expect(not failed, "finite_difference must leave the weights exactly as it found them "
                 "(restore each entry after perturbing it): " + "; ".join(failed[:2]))


def _perturbed_hypotheses(weights, layer, p, epsilon):
    result = {}
    for sign, label in ((-1, "each entry was left at theta - epsilon"),
                        (1, "each entry was left at theta + epsilon")):
        w = weights[f"W{layer}"].copy()
        flat = w.reshape(-1)
        flat[:p] += sign * epsilon
        result[label] = {f"W{layer}": w}
    return result


def test_finite_difference_other_layer(worker, grade, rng):
    layer, p, epsilon = 1, 7, 1e-3
    got, expected, _, weights, x, labels, name = call_finite_difference(
        worker, grade, rng, layer=layer, p=p, epsilon=epsilon, name="sigmoid",
        sizes=cases.FINITE_DIFFERENCE_FIRST_LAYER)
    grade.check(compare_array(f"finite_difference(..., layer={layer}, p={p})", got, expected,
                              hypotheses=variants(weights, x, labels, name, epsilon, layer, p)))
