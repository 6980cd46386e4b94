"""The experiments part: study 3, the finite-difference gradient check."""
from __future__ import annotations

import math
import secrets

import numpy as np

from grader import tolerances as tol
from grader.outputs import experiment_figures
from grader.parts.mnist_cnn import digits   # the part's cached copy: the digits load once per grading
from grader.verdicts import cases
from grader.verdicts.scoring import NotGraded
from reference import mlp, withheld
from grader.parts.experiments.common import CALL_TIMEOUT_S, RunFailed, add_figures, one_hot, score_problems


# -- study 3: finite differences -----------------------------------------------------------------

def fd_case(rng):
    """Glorot weights of the assignment's network and one digit for which the first p exact
    gradients of W2 are not all (near) zero; ``(weights, x (1, 784), y (1, 10), exact (p,))``."""
    x_all, y_all = digits().train
    p, layer = tol.FD_EXPERIMENT_P, tol.FD_EXPERIMENT_LAYER
    for _ in range(20):
        weights = mlp.initialize([784, 10], tol.FD_EXPERIMENT_HIDDEN, "glorot",
                                 int(rng.integers(2 ** 31)))
        for index in rng.permutation(len(x_all))[:100]:
            x, y = x_all[index:index + 1], one_hot(y_all[index:index + 1])
            exact = mlp.backward(weights, x, y, "relu")[f"dW{layer}"].ravel()[:p]
            if np.max(np.abs(exact)) >= tol.FD_EXPERIMENT_MIN_GRADIENT:
                return weights, x, y, exact
    raise AssertionError("the grader found no digit with a non-zero gradient (a grader bug)")


FD_RETRY_SUBSTITUTES = ("forward", "loss", "compute_loss_and_accuracy", "softmax", "activation",
                        "relu", "sigmoid", "tanh", "leaky_relu", "one_hot")
"""What the retry replaces by the reference behind the student's ``finite_difference``: the
forward pass and the loss only. Never ``backward`` (it computes the study's answer, the exact
gradient) nor ``update`` or ``initialize_weights``."""


def fd_epsilons(rng) -> list[float]:
    """epsilon = 1/N for each N of the study, times a factor in [1, 2) drawn afresh: the
    submission cannot know in advance at which epsilons it will be asked."""
    return [float((1.0 + rng.uniform()) / n) for n in tol.FD_EXPERIMENT_N]


FD_LOSS_EPSILON = 1e-6
"""The clipping of the NN's loss in the finite-difference study (``NN.loss``'s default)."""


def central_differences(weights: dict, x, y, epsilon: float, layer: int, p: int) -> np.ndarray:
    """The grader's own central differences of the NN's loss (relu, softmax, cross-entropy
    clipped at ``FD_LOSS_EPSILON``) for the first ``p`` entries of ``W{layer}`` (row-major),
    float64 (p,): the withheld rule ``reference/finite_differences.py``, which the handout does
    not have (it answers part finite_difference)."""
    return mlp.central_differences(weights, x, y, "relu", epsilon, layer, p, FD_LOSS_EPSILON)


def fd_values(estimates, p: int) -> list[np.ndarray]:
    values = []
    for n, estimate in zip(tol.FD_EXPERIMENT_N, estimates, strict=True):
        try:
            value = np.asarray(estimate, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            raise RunFailed(f"finite_difference(..., epsilon near 1/{n}) returned "
                            f"{type(estimate).__name__}, not an array of p numbers") from None
        if value.shape != (p,):
            raise RunFailed(f"finite_difference(..., epsilon near 1/{n}, p={p}) returned "
                            f"{value.size} numbers, expected {p}")
        values.append(value)
    return values


def not_central(values: list[np.ndarray], central: list[np.ndarray], epsilons: list[float]) -> str:
    """Why the estimates are not central differences ("" when each is one, within the rounding
    a float64 central difference makes at its epsilon)."""
    for value, own, epsilon in zip(values, central, epsilons, strict=True):
        allowed = tol.FD_EXPERIMENT_ROUNDING / epsilon + tol.FD_EXPERIMENT_RTOL * np.abs(own)
        off = np.abs(value - own)
        bad = np.flatnonzero(~(off <= allowed))
        if bad.size:
            i = int(bad[np.argmax(off[bad] - allowed[bad])])
            return (f"at epsilon = {epsilon:.4g} your estimate for weight {i} of "
                    f"W{tol.FD_EXPERIMENT_LAYER} is {value[i]:.10g}, while the central difference "
                    f"(loss(w + epsilon) - loss(w - epsilon)) / (2 epsilon), computed by the "
                    f"grader from the same weights, is {own[i]:.10g} (difference {off[i]:.2g}, "
                    f"allowed {allowed[i]:.2g}): finite_difference does not compute a central "
                    "difference at this epsilon, so its errors are not the study's. Does "
                    "finite_difference use epsilon?")
    return ""


def fd_errors(values: list[np.ndarray], exact) -> list[float]:
    errors = [float(np.max(np.abs(value - exact))) for value in values]
    return [error if np.isfinite(error) else math.inf for error in errors]


def fd_problems(errors: list[float]) -> list[tuple[float, str]]:
    ns = tol.FD_EXPERIMENT_N
    best = int(np.argmin(errors))
    problems = []
    if best in (0, len(ns) - 1):
        end = "largest N (the smallest epsilon)" if best else "smallest N (epsilon near 1)"
        problems.append((2, f"the error is smallest at the {end}, N = {ns[best]:,}, not at a "
                            "middle N: a central difference has a truncation error of order "
                            "epsilon^2 and a rounding error of order 1e-16 / epsilon, so its "
                            "error should fall, then rise. Errors: "
                            + ", ".join(f"N={n:,}: {e:.1e}" for n, e in zip(ns, errors, strict=True))))
    if not errors[0] >= tol.FD_EXPERIMENT_LEFT_RATIO * errors[best]:
        problems.append((1, f"at N = 1 (epsilon near 1) the error, {errors[0]:.1e}, is not "
                            f"{tol.FD_EXPERIMENT_LEFT_RATIO:g} times the smallest "
                            f"({errors[best]:.1e}): an estimate that perturbs the weight by "
                            "epsilon differs from the gradient when epsilon is large. Does "
                            "finite_difference use epsilon?"))
    return problems


def fd_run(worker, config, weights, x, y, epsilons, central, exact, substitute=()) -> tuple:
    """The student's ``finite_difference`` at each epsilon (a fresh NN each time, so a method
    that does not restore the weights is graded in its own part, not here): ``(errors against
    autograd or None, problems)``, each estimate first held to the grader's central difference."""
    p, layer = tol.FD_EXPERIMENT_P, tol.FD_EXPERIMENT_LAYER
    estimates = []
    for epsilon in epsilons:
        outcome = worker.call("finite_difference", args=[x, y, epsilon],
                              kwargs={"layer": layer, "p": p}, config=config,
                              state={"weights": weights}, substitute=substitute,
                              timeout_s=CALL_TIMEOUT_S)
        if not outcome.ok:
            return None, [(3, f"finite_difference(x, labels, {epsilon:.4g}, layer={layer}, p={p}) "
                              f"failed: {outcome.failure_text().splitlines()[0][:300]}")]
        estimates.append(outcome.value)
    try:
        values = fd_values(estimates, p)
    except RunFailed as error:
        return None, [(3, str(error))]
    errors = fd_errors(values, exact)
    problem = not_central(values, central, epsilons)
    return errors, ([(3, problem)] if problem else fd_problems(errors))


def test_experiment_finite_differences(worker, grade):
    if withheld.rule("finite_differences") is None:
        # The handout: the study's epsilons are drawn afresh, so no recorded output can stand in.
        raise NotGraded("this study needs the grader's central differences, which the handout "
                        "leaves out (they answer part finite_difference); the course's grader runs it")
    seed = secrets.randbits(31)
    rng = np.random.default_rng(seed)
    weights, x, y, exact = fd_case(rng)
    epsilons = fd_epsilons(rng)
    p, layer = tol.FD_EXPERIMENT_P, tol.FD_EXPERIMENT_LAYER
    config = cases.config(tol.FD_EXPERIMENT_HIDDEN, activation="relu")
    central = [central_differences(weights, x, y, epsilon, layer, p) for epsilon in epsilons]
    ns = list(tol.FD_EXPERIMENT_N)
    data = {"seed": seed, "N": ns, "epsilon": epsilons, "p": p, "layer": layer,
            "largest_gradient": float(np.max(np.abs(exact))),
            "central_difference_errors": fd_errors(central, exact)}
    grade.experiment = data
    errors, problems = fd_run(worker, config, weights, x, y, epsilons, central, exact)
    if problems:
        # Again with the reference's forward pass and loss behind the student's finite_difference
        # (and nothing else of the reference: backward would hand it the answer).
        own = "; ".join(m for _, m in problems)[:500]
        errors_again, problems_again = fd_run(worker, config, weights, x, y, epsilons, central,
                                              exact, substitute=FD_RETRY_SUBSTITUTES)
        data.update(own_failure=own, with_reference_forward_and_loss=True)
        if not problems_again:
            grade.notes.append("With your own forward and loss the finite-difference study missed "
                               "its outcome, but with the reference's it shows it: the fault is in "
                               "forward or loss, graded in their own parts.")
        errors, problems = (errors if errors_again is None else errors_again), problems_again
    if errors is not None:
        best = int(np.argmin(errors))
        data.update(errors=errors, best_N=ns[best])
        add_figures(grade, experiment_figures.finite_differences, data)
        if not problems:
            grade.notes.append(f"smallest error at N = {ns[best]:,}: {errors[best]:.1e}")
    score_problems(grade, problems, 3)
