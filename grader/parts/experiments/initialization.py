"""The experiments part: study 1, initialization."""
from __future__ import annotations

import math
import secrets

import numpy as np

from grader import tolerances as tol
from grader.outputs import experiment_figures
from grader.parts.mnist_cnn import digits   # the part's cached copy: the digits load once per grading
from grader.verdicts import cases
from reference import distributions, mlp
from grader.parts.experiments.common import (CALL_TIMEOUT_S, INIT_METHODS, LN10, RunFailed,
                                             add_figures, balanced_digits, one_hot, path_error,
                                             score_problems, trained_weights)


# -- study 1: initialization ---------------------------------------------------------------------

def law_problem(method: str, weights, hidden) -> str:
    """Why ``weights``, the student's ``initialize_weights`` at a seed the grader chose, are not
    a draw of ``method``'s law ("" when they are): shapes, zero biases, and every ``W``'s mean,
    variance and Kolmogorov-Smirnov distance (``reference.distributions``, false-alarm rate
    ``tol.STAT_ALPHA`` per check), exactly 0 for "zero"."""
    if not isinstance(weights, dict):
        return f"self.weights is {type(weights).__name__}, not a dict"
    dims = [784, *hidden, 10]
    for layer in range(1, len(dims)):
        w, b = weights.get(f"W{layer}"), weights.get(f"b{layer}")
        shapes = ((dims[layer - 1], dims[layer]), (1, dims[layer]))
        if not (isinstance(w, np.ndarray) and isinstance(b, np.ndarray)
                and w.shape == shapes[0] and b.size == dims[layer]):
            return f"W{layer} and b{layer} are not arrays of shapes {shapes[0]} and {shapes[1]}"
        if not np.all(np.asarray(b, dtype=np.float64) == 0):
            return f"b{layer} is not all zeros"
        law = distributions.weight_distribution(method, *shapes[0])
        failed = [c for c in distributions.check_sample(w, law, tol.STAT_ALPHA) if not c.passed]
        if failed and method == "zero":
            return f"W{layer} is not all zeros ({failed[0].describe()})"
        if failed:
            return f"W{layer} is not a draw of {law.describe()} ({failed[0].describe()})"
    return ""


def init_problems(runs: dict, laws: dict) -> list[tuple[float, str]]:
    """The missed outcomes of study 1, as (weight, message): each needs the initializers it
    compares to draw their laws, and the outcome of the grader's training of those draws."""
    problems = []
    zero = runs.get("zero", {}).get("train_loss", [])
    off = [(epoch, loss) for epoch, loss in enumerate(zero, start=1)
           if not abs(loss - LN10) <= tol.INIT_EXPERIMENT_ZERO_TOLERANCE]
    if laws["zero"]:
        problems.append((2, f"with init_method='zero': {laws['zero']}. Zero weights give every "
                            "unit of a layer the same gradient, so the "
                            f"network should not learn and its loss stay at ln 10 = {LN10:.4f}. "
                            "Are the zero method's weights all 0?"))
    elif off:
        epoch, loss = off[0]
        problems.append((2, f"with init_method='zero' the training loss after epoch {epoch} is "
                            f"{loss:.4f}, not ln 10 = {LN10:.4f} (within "
                            f"{tol.INIT_EXPERIMENT_ZERO_TOLERANCE}): zero weights give every unit "
                            "of a layer the same gradient, so the network should not learn. Are "
                            "the zero method's weights all 0?"))
    wrong = [f"init_method={m!r}: {laws[m]}" for m in ("normal", "glorot") if laws[m]]
    if wrong:
        problems.append((2, "the Glorot-versus-normal comparison needs your initializers to draw "
                            "their laws, N(0, 1) and U(-d, d) with d = sqrt(6 / (d_in + d_out)), "
                            "at a seed the grader chose; " + "; ".join(wrong)))
    else:
        normal, glorot = runs["normal"]["train_loss"][-1], runs["glorot"]["train_loss"][-1]
        if not glorot < normal:
            problems.append((2, f"after {len(runs['glorot']['train_loss'])} epochs the Glorot "
                                f"network's training loss ({glorot:.4f}) is not below the normal "
                                f"one's ({normal:.4f}): N(0, 1) weights saturate the softmax (the "
                                "loss starts near 12), Glorot's keep the layers' scale. Check both "
                                "methods' scales: normal is N(0, 1), Glorot U(-d, d) with "
                                "d = sqrt(6 / (d_in + d_out))."))
    return problems


def reference_epochs(start: dict, train, valid) -> tuple[list[dict], list[float]]:
    """The grader's epochs (``mlp.train``: SGD in data order, torch float64) from ``start``: the
    weights and the training loss after each."""
    weights, after, losses = start, [], []
    for _ in range(tol.INIT_EXPERIMENT_EPOCHS):
        weights, logs = mlp.train(weights, train, valid, 1, tol.INIT_EXPERIMENT_BATCH,
                                  tol.INIT_EXPERIMENT_LR, "relu", 1e-6)
        after.append(weights)
        loss = logs["train_loss"][0]
        losses.append(float(loss) if np.isfinite(loss) else math.inf)
    return after, losses


def test_experiment_initialization(worker, grade):
    seed = secrets.randbits(31)
    rng = np.random.default_rng(seed)
    train = balanced_digits(rng, tol.INIT_EXPERIMENT_PER_CLASS)
    valid = (digits().valid[0][:100], one_hot(digits().valid[1][:100]))
    hidden = tol.INIT_EXPERIMENT_HIDDEN
    config = cases.config(hidden, activation="relu", lr=tol.INIT_EXPERIMENT_LR,
                          batch_size=tol.INIT_EXPERIMENT_BATCH, seed=int(rng.integers(2 ** 31)))
    state = {"train": train, "valid": valid, "test": valid}
    how = (f"784-500-400-10 relu, SGD lr {tol.INIT_EXPERIMENT_LR:g}, batch "
           f"{tol.INIT_EXPERIMENT_BATCH}, {len(train[0]):,} digits")
    runs, laws, own = {}, {}, {}
    data = {"seed": seed, "nn_seed": config["seed"], "how": how, "epochs": tol.INIT_EXPERIMENT_EPOCHS,
            "runs": runs, "trained_by": "the grader (torch, float64), from your initializer's weights",
            "your_train_loop": own}
    grade.experiment = data
    for method in INIT_METHODS:
        method_config = {**config, "init_method": method}
        # The "before" state is the student's initializer at a seed the grader chose, checked
        # against its law here; the epochs that follow are the grader's.
        outcome = worker.call("initialize_weights", args=[[784, 10]], config=method_config,
                              return_state=["weights"], timeout_s=CALL_TIMEOUT_S)
        if not outcome.ok:
            laws[method] = f"initialize_weights failed: {outcome.failure_text().splitlines()[0][:300]}"
            continue
        start = outcome.state.get("weights")
        laws[method] = law_problem(method, start, hidden)
        if laws[method]:
            continue
        layers = len(hidden) + 1
        start = {f"{kind}{layer}": np.asarray(start[f"{kind}{layer}"], dtype=np.float64).reshape(
            (-1, start[f"W{layer}"].shape[1]) if kind == "W" else (1, -1))
            for layer in range(1, layers + 1) for kind in "Wb"}
        after, losses = reference_epochs(start, train, valid)
        runs[method] = {"train_loss": losses}
        # The student's own first epoch from the same Glorot start, compared with the grader's:
        # a feedback note only (a fault there is graded in the train_loop part), so once.
        if method != "glorot":
            continue
        try:
            off = path_error(trained_weights(worker, method_config, state, 1), after[0], start)
            own[method] = {"epoch_1_off_by": off}
            if not off <= tol.INIT_EXPERIMENT_EPOCH_RTOL:
                own[method]["problem"] = (f"its weights ended {off:.3g} times the reference's "
                                          "displacement away from the reference's")
        except RunFailed as error:
            own[method] = {"problem": str(error)[:300]}
    problems = init_problems(runs, laws)
    differs = {m: r["problem"] for m, r in own.items() if "problem" in r}
    if differs:
        grade.notes.append("Your train_loop(1) from your own initial weights did not reproduce the "
                           "grader's first epoch (" + "; ".join(f"{m}: {p}" for m, p in
                                                                differs.items())
                           + "); the outcomes here are judged on the grader's training of your "
                           "initial weights. Forward, backward, update, loss and train_loop are "
                           "graded in their own parts.")
    if runs:
        add_figures(grade, experiment_figures.initialization, data)
    score_problems(grade, problems, 4)
