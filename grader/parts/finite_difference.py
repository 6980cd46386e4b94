"""Part finite_difference: central differences of the loss, weights restored afterwards.

The submission's forward and loss run as their reference versions, so the estimates can be
compared with exact central differences computed here in float64.
"""

from grader import causes
from grader.verdicts import cases
from grader.verdicts.checks import Verdict, compare_array, compare_mapping
from grader.verdicts.nn_parts import EPSILON_LOSS, variants
from grader.verdicts.substitutes import all_but
from reference import mlp


PUBLIC_CASES = {
    # A large epsilon is fine (the reference is the exact central difference, not the gradient)
    # and separates a one-sided difference clearly. W2 is square (cases.FINITE_DIFFERENCE).
    "test_finite_difference_values": {"layer": 2, "p": 10, "epsilon": 1e-2,
                                      **cases.FINITE_DIFFERENCE.layer_sizes()},
    "test_finite_difference_restores_weights": {"layer": 2, "p": 10, "epsilon": 1e-3,
                                                **cases.FINITE_DIFFERENCE.layer_sizes()},
    "test_finite_difference_other_layer": {"layer": 1, "p": 7, "epsilon": 1e-3, "name": "sigmoid",
                                           **cases.FINITE_DIFFERENCE_FIRST_LAYER.layer_sizes()},
}
"""Each test's case, by test name; ``python -m grader release`` replays these to record the
withheld central-difference rule's outputs for the handout (``reference/withheld.py``)."""


def make_case(rng, *, layer, p, epsilon, hidden=(6, 5), name="tanh", n_features=4, n_classes=3,
              batch=5) -> dict:
    """The inputs of one case: weights of an MLP ``n_features -> hidden -> n_classes``, a batch
    ``x`` (batch, n_features) with one-hot ``labels`` (batch, n_classes), and the call's options."""
    dims = mlp.layer_dims(n_features, hidden, n_classes)
    weights = cases.weights(rng, dims)
    x, labels = cases.batch(rng, batch, n_features, n_classes)
    return {"weights": weights, "x": x, "labels": labels, "name": name, "hidden": hidden,
            "layer": layer, "p": p, "epsilon": epsilon}


def reference_estimates(case) -> tuple:
    """``(central differences (p,), {likely cause: estimates (p,)})`` of the case."""
    inputs = (case["weights"], case["x"], case["labels"], case["name"], case["epsilon"],
              case["layer"], case["p"])
    return (mlp.central_differences(*inputs, EPSILON_LOSS), variants(*inputs))


def call_finite_difference(worker, grade, case):
    layer, p, epsilon = case["layer"], case["p"], case["epsilon"]
    outcome = worker.call("finite_difference", args=[case["x"], case["labels"], epsilon],
                          kwargs={"layer": layer, "p": p},
                          config=cases.config(case["hidden"], activation=case["name"],
                                              epsilon=EPSILON_LOSS),
                          state={"weights": case["weights"]}, substitute=all_but("finite_difference"),
                          return_state=["weights"])
    got = grade.require(outcome, f"finite_difference(x, labels, {epsilon}, layer={layer}, p={p})")
    return got, outcome


def _grade_estimates(worker, grade, rng, test_name):
    case = make_case(rng, **PUBLIC_CASES[test_name])
    got, _ = call_finite_difference(worker, grade, case)
    expected, hypotheses = reference_estimates(case)
    grade.check(compare_array(f"finite_difference(..., layer={case['layer']}, p={case['p']})", got,
                              expected, hypotheses=hypotheses))


def test_finite_difference_values(worker, grade, rng):
    _grade_estimates(worker, grade, rng, "test_finite_difference_values")


def test_finite_difference_restores_weights(worker, grade, rng):
    case = make_case(rng, **PUBLIC_CASES["test_finite_difference_restores_weights"])
    _, outcome = call_finite_difference(worker, grade, case)
    weights = case["weights"]
    after = outcome.state.get("weights")
    verdicts = compare_mapping("self.weights after finite_difference", after, weights,
                               hypotheses=_perturbed_hypotheses(weights, case["layer"], case["p"],
                                                                case["epsilon"]))
    failed = [v for v in verdicts.values() if not v.passed]
    # the first wrong key's cause, if it names one
    grade.check(failed[0].restated("finite_difference must leave the weights exactly as it found "
                                   "them (restore each entry after perturbing it): "
                                   + "; ".join(v.message for v in failed[:2]))
                if failed else Verdict(True))


def _perturbed_hypotheses(weights, layer, p, epsilon):
    result = {}
    for sign, label in ((-1, causes.FD_NOT_RESTORED.format(sign="-")),
                        (1, causes.FD_NOT_RESTORED.format(sign="+"))):
        w = weights[f"W{layer}"].copy()
        flat = w.reshape(-1)
        flat[:p] += sign * epsilon
        result[label] = {f"W{layer}": w}
    return result


def test_finite_difference_other_layer(worker, grade, rng):
    _grade_estimates(worker, grade, rng, "test_finite_difference_other_layer")
