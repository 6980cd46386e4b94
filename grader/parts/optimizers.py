"""Part optimizers: each optimizer against torch.optim (or the RMSPropNesterov reference) over
many steps, and NN.update delegating to an optimizer.

Two gradient streams per optimizer: default hyper-parameters with dense gradients, then other
hyper-parameters with weight decay, an all-zero step and sparse steps. The parameters after
every step are compared; a failure names the first step and parameter that differ and, when the
trajectory matches a known wrong variant, the likely cause.
"""
import numpy as np

from grader import causes
from grader.parts import each
from grader.verdicts import cases
from grader.verdicts.checks import Verdict, compare_mapping
from grader.verdicts.optimizer_patterns import variant_trajectories
from grader.verdicts.substitutes import all_but
from reference import optim

STEPS = 12

# Non-default hyper-parameters for the second stream (weight decay included).
OTHER_HYPER = {
    "SGD": {"lr": 0.05, "weight_decay": 0.01},
    "Momentum": {"lr": 0.05, "momentum": 0.8, "weight_decay": 0.01},
    "Nesterov": {"lr": 0.05, "momentum": 0.7, "weight_decay": 0.01},
    "AdaGrad": {"lr": 0.1, "eps": 1e-6, "weight_decay": 0.01},
    "RMSProp": {"lr": 0.02, "alpha": 0.9, "eps": 1e-6, "weight_decay": 0.01},
    "AdaDelta": {"lr": 0.5, "rho": 0.8, "eps": 1e-5, "weight_decay": 0.01},
    "Adam": {"lr": 0.02, "betas": [0.8, 0.95], "eps": 1e-6, "weight_decay": 0.01},
    "RMSPropNesterov": {"lr": 0.01, "alpha": 0.8, "momentum": 0.7, "eps": 1e-6,
                        "weight_decay": 0.01},
}
DEFAULT_HYPER = {name: ({"lr": 0.1} if name in ("SGD", "Momentum", "Nesterov") else {})
                 for name in optim.OPTIMIZERS}


def parameters(rng) -> dict:
    """Parameters of several shapes: a matrix, a row of biases and a vector."""
    return {"W1": rng.normal(0, 1, (5, 4)), "b1": rng.normal(0, 0.1, (1, 4)),
            "W2": rng.normal(0, 1, (4, 3)), "v": rng.normal(0, 1, (3,))}


def gradient_stream(rng, params: dict, awkward: bool) -> list:
    """``STEPS`` gradient dicts; with ``awkward``, step 3 is all zero and steps 6-8 are sparse.
    Extra keys (``dA1``) are there to be ignored."""
    stream = []
    for step in range(STEPS):
        grads = {"d" + k: rng.normal(0, 1, v.shape) * 2.0 for k, v in params.items()}
        if awkward and step == 3:
            grads = {k: np.zeros_like(v) for k, v in grads.items()}
        if awkward and step in (6, 7, 8):
            grads = {k: v * (rng.random(v.shape) < 0.1) for k, v in grads.items()}
        grads["dA1"] = rng.normal(0, 1, (2, 4))
        stream.append(grads)
    return stream


def first_difference(got: list, expected: list) -> Verdict | None:
    """The verdict of the first parameter that differs, in the first step where one does, or
    None when the whole trajectory matches."""
    for step, (got_step, expected_step) in enumerate(zip(got, expected, strict=False), start=1):
        verdicts = compare_mapping(f"params after step {step}", got_step, expected_step)
        wrong = [v for v in verdicts.values() if not v.passed]
        if wrong:
            return wrong[0]
    return None


def trajectory_verdict(name, hyper, params, stream, label, got, expected) -> Verdict:
    """``got`` (the parameters after each step) against the reference trajectory ``expected``;
    a failure names the first difference and, when the whole trajectory is a known wrong
    variant's, that variant's cause in place of any the difference named."""
    difference = first_difference(got, expected)
    if difference is None:
        return Verdict(True)
    verdict = difference.restated(f"{name} with {label} {hyper}: {difference.message}")
    for cause, trajectory in variant_trajectories(name, hyper, params, stream).items():
        if first_difference(got, trajectory) is None:
            return verdict.reblame(cause)
    return verdict


def grade_stream(worker, grade, name, hyper, params, stream, label):
    outcome = worker.optimizer_steps(name, hyper, params, [[g] for g in stream])
    shared = None
    if "broadcast" in outcome.error_message:
        # a call's failure, which ends the test: said in its text, and recorded as its cause
        shared = causes.OPTIMIZER_SHARED_STATE
        outcome.error_message += causes.said(shared, causes.IN_PARENTHESES, ")")
    got = grade.require(outcome, f"{name}(**{hyper}).step(params, grads)", cause=shared)
    expected = optim.trajectory(name, hyper, params, stream)
    if not (isinstance(got, list) and len(got) == len(expected)):
        grade.fail(f"{name}: the worker could not record the parameters after each step")
    grade.check(trajectory_verdict(name, hyper, params, stream, label, got, expected))


def runs(rng, name) -> list[tuple[dict, dict, list, str]]:
    """``(hyper, params, gradient stream, label)`` of the two runs of optimizer ``name``. The
    release calls it too, to record RMSPropNesterov's outputs on these cases for the handout."""
    params = parameters(rng)
    return [(DEFAULT_HYPER[name], params, gradient_stream(rng, params, awkward=False),
             "default hyper-parameters"),
            (OTHER_HYPER[name], params, gradient_stream(rng, params, awkward=True),
             "weight decay, a zero step and sparse steps,")]


@each("name", optim.OPTIMIZERS)
def test_optimizer(worker, grade, rng, name):
    for hyper, params, stream, label in runs(rng, name):
        grade_stream(worker, grade, name, hyper, params, stream, label)


def test_update_delegates_to_optimizer(worker, grade, rng):
    hidden, lr = (6,), 0.01
    dims = [5, 6, 3]
    weights = cases.weights(rng, dims)
    x, labels = cases.batch(rng, 4, 5, 3)
    from reference import mlp

    grads = mlp.backward(weights, x, labels, "relu")
    outcome = worker.call("update", args=[grads],
                          config=cases.config(hidden, lr=lr, optimizer="probe"),
                          state={"weights": weights}, substitute=all_but("update"),
                          return_state=["weights"])
    grade.require(outcome, "update(grads) with an optimizer set")
    probe = {k: weights[k] - 0.5 * grads["d" + k] for k in weights}
    plain = mlp.sgd_update(weights, grads, lr)
    verdicts = compare_mapping("self.weights after update(grads) with optimizer=...",
                               outcome.state.get("weights"), probe,
                               hypotheses={causes.UPDATE_IGNORES_OPTIMIZER: plain})
    for verdict in verdicts.values():
        grade.check(verdict)
