"""Part experiments (opt-in: ``pytest grader --experiments``): short runs of the report's studies
1, 3, 4 and 5 on the student's code, judged by their qualitative outcome.

A point is earned by what the student's code did, measured against a control the grader runs
itself, never by an end state the submission can choose (issue #23, section 4):

- the grader builds every "before" state: the initial weights of study 1 are the student's
  initializer at a seed the grader drew, held to each method's law, and the grader trains them;
  the optimizer study starts from Glorot weights the grader drew, computes every gradient and
  hands it to the student's ``NN.update``, whose steps must follow the optimizer's own path;
- the finite-difference estimates must equal the grader's own central differences at epsilons
  drawn afresh, before their errors against autograd are judged;
- a CNN study credits only what training changed: the trained network must gain on the same
  rebuilt network at its own initialization (evaluated by the grader on the same held-out
  images); dogs vs. cats is trained with the student's optimizer or not at all; the batch-norm
  study first checks that the student's layer normalizes a batch the grader drew.

The numpy studies run the student's ``NN`` in the worker, like every graded call; the worker
returns weights and estimates (plain arrays), and every number judged here is computed in this
process. The CNN studies train the network the grader rebuilt from the student's capture (the
path of the CNN parts), and the batch-norm study trains LeNet-5 with the student's replayed layer:
every such run on data goes through the grader's metered child (``grader/networks/runs.py``),
stopped at the study's limit or the part's budget even inside one operation. What each
test measured, and figures of it, go to the test's ``extra_data.experiment`` in results.json.

One bug, one part: when the student's own run of finite differences misses the outcome, it runs
again with the student's ``finite_difference`` behind the reference's forward pass and loss
(never its backward, which computes the study's answer); if that run shows the outcome, the
fault is in a part graded elsewhere and the test keeps its points. In study 1 the student's own
``train_loop(1)`` is compared with the grader's first epoch for a note only. Every run draws
fresh seeds; the checks were chosen as outcomes that are stable over seeds (the measurements are
in ``grader/tolerances.py``).
"""
import math
import secrets

import numpy as np
import torch

from grader import tolerances as tol
from grader.networks import capture, training
from grader.outputs import experiment_figures
from grader.parts.mnist_cnn import digits   # the part's cached copy: the digits load once per grading
from grader.verdicts import cases
from grader.verdicts.cnn_checks import accuracy
from grader.verdicts.scoring import NotGraded
from reference import distributions, mlp, optim, withheld
from reference.data.cats_dogs import striped_images

LN10 = math.log(10)
INIT_METHODS = ("zero", "normal", "glorot")
CALL_TIMEOUT_S = 120.0
"""CPU seconds one training call into the submission may take here (a few epochs of the
assignment's network; the worked solution needs under a second per epoch)."""


def one_hot(labels: np.ndarray) -> np.ndarray:
    """Digit labels (N,) as one-hot rows (N, 10)."""
    return cases.one_hot(labels, 10)


def add_figures(grade, make, data: dict, *args) -> None:
    """Figures of ``data`` by ``make`` into the record; a figure that fails is only noted."""
    try:
        data["figures"] = make(data, *args)
    except Exception as error:  # noqa: BLE001 - a figure never costs the student a point
        grade.notes.append(f"(the grader could not draw this experiment's figure: "
                           f"{type(error).__name__}: {str(error)[:200]})")


def score_problems(grade, problems: list[tuple[float, str]], total: float) -> None:
    """Each missed outcome loses its weight of ``total``; the rest is earned."""
    for weight, message in problems:
        grade.expect(False, message, min(weight, total))
    earned = total - sum(min(weight, total) for weight, _ in problems)
    if earned > 0:
        grade.expect(True, "", earned)


class RunFailed(Exception):
    """An experiment's run could not be completed; the message says why."""


def loss_of(weights, x, y) -> float:
    """The mean cross-entropy of ``weights`` (relu MLP) on ``x`` (N, 784), one-hot ``y`` (N, 10),
    computed here; inf when the weights hold NaN or Inf (a run that diverged)."""
    if not isinstance(weights, dict):
        raise RunFailed(f"self.weights is {type(weights).__name__}, not a dict")
    try:
        value = mlp.loss_and_accuracy(weights, x, y, "relu", 1e-6)[0]
    except (TypeError, ValueError, KeyError, RuntimeError, IndexError) as error:
        raise RunFailed(f"the weights left by train_loop cannot be evaluated: {error}") from None
    return float(value) if np.isfinite(value) else math.inf


def error_of(weights, x, labels) -> tuple[float, float]:
    """``(loss, error)`` of the relu MLP ``weights`` on ``x`` with integer ``labels``."""
    try:
        loss, acc, _ = mlp.loss_and_accuracy(weights, x, one_hot(labels), "relu", 1e-6)
    except (TypeError, ValueError, KeyError, RuntimeError, IndexError) as error:
        raise RunFailed(f"the weights left by train_loop cannot be evaluated: {error}") from None
    return (float(loss) if np.isfinite(loss) else math.inf), 1.0 - float(acc)


def trained_weights(worker, config: dict, state: dict, epochs: int) -> dict:
    """The weights after the student's ``train_loop(epochs)`` on a fresh ``NN(**config)``."""
    outcome = worker.call("train_loop", args=[epochs], config=config, state=state,
                          return_state=["weights"], timeout_s=CALL_TIMEOUT_S)
    if not outcome.ok:
        raise RunFailed(f"train_loop({epochs}) failed: {outcome.failure_text().splitlines()[0][:300]}")
    return outcome.state.get("weights")


# -- study 1: initialization ---------------------------------------------------------------------

def balanced_digits(rng, per_class: int):
    """``per_class`` training digits of each class, in a random order, as (X (N, 784), Y one-hot)."""
    x, y = digits().train
    chosen = np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False)
                             for c in range(10)])
    rng.shuffle(chosen)
    return x[chosen], one_hot(y[chosen])


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


# -- study 4: CNN vs MLP -------------------------------------------------------------------------

def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    t = torch.as_tensor(logits, dtype=torch.float64)
    return float(torch.nn.functional.cross_entropy(t, torch.as_tensor(labels, dtype=torch.int64)))


def mlp_curves(worker, train, held_out_x, held_out_y, rng) -> dict:
    """The student's NN, trained by its own train_loop for 1 ... E epochs; the validation loss and
    error computed here on the held-out digits, which never leave this process (the worker's
    ``valid`` split is a slice of the training digits)."""
    config = cases.config(tol.CNN_EXPERIMENT_MLP_HIDDEN, activation="relu",
                          lr=tol.CNN_EXPERIMENT_MLP_LR, batch_size=tol.MNIST_CNN_BATCH,
                          seed=int(rng.integers(2 ** 31)))
    nn_train = (train[0], one_hot(train[1]))
    state = {"train": nn_train, "valid": tuple(a[:100] for a in nn_train),
             "test": tuple(a[:100] for a in nn_train)}
    run = {"train_loss": [], "train_error": [], "validation_loss": [], "validation_error": []}
    for epochs in range(1, tol.CNN_EXPERIMENT_EPOCHS + 1):
        weights = trained_weights(worker, config, state, epochs)
        loss, error = error_of(weights, train[0][:1000], train[1][:1000])
        run["train_loss"].append(loss)
        run["train_error"].append(error)
        loss, error = error_of(weights, held_out_x, held_out_y)
        run["validation_loss"].append(loss)
        run["validation_error"].append(error)
    dims = [784, *tol.CNN_EXPERIMENT_MLP_HIDDEN, 10]
    run["parameters"] = int(sum(a * b + b for a, b in zip(dims[:-1], dims[1:], strict=False)))
    return run


def study_run(worker, grade, cls: str, description: dict, *, seed: int, input_shape: tuple,
              optimizer: dict, images, labels, calibration, evaluate: tuple, epochs: int,
              batch_size: int, train_seeds: list) -> dict:
    """A study's training of the rebuilt ``cls`` (``runs.study_training``): the untrained
    control's logits on ``evaluate[-1]``, then per epoch the mean loss and the logits on each
    array of ``evaluate``. Every step runs in the grader's metered child, under the part's budget
    and at most ``tol.CNN_TRAINING_CPU_S`` for the run, so a network whose cost the graph's
    measure misses is stopped inside any operation, as the student's verdict; ends the test
    saying why when the run was stopped or failed."""
    return capture.run_on_data(
        worker, grade, "study_training", f"the grader trained {cls}", limit_s=tol.CNN_TRAINING_CPU_S,
        capture=description, seed=seed, input_shape=list(input_shape), optimizer=optimizer,
        images=images, labels=labels, calibration=calibration, evaluate=list(evaluate),
        epochs=epochs, batch_size=batch_size, train_seeds=list(train_seeds))


def control_accuracy(grade, cls: str, logits, labels) -> float:
    """The control's accuracy: the rebuilt network at its own initialization, before any
    training, evaluated as the trained one is (batch-norm statistics estimated over some of the
    training images, then evaluation mode) on the same held-out images. Training must gain on
    it."""
    score, problem = accuracy(logits, labels, cls)
    if score is None:
        grade.fail(f"before training: {problem}")
    return score


def not_learned(cls: str, control: float, final: float, margin: float) -> str:
    """Why the trained network's accuracy is not credit for training ("" when it is)."""
    if final - control >= margin:
        return ""
    return (f"before any training, {cls} at its own initialization (rebuilt and evaluated by the "
            f"grader on the same held-out images) classifies {control:.1%} correctly; after "
            f"training {final:.1%}, a gain of {final - control:+.1%}, less than the "
            f"{margin:.0%} that training must add: what it classifies right is not learned")


def class_renaming(rng, classes: int = 10) -> np.ndarray:
    """A permutation of the classes that leaves none in place (``renaming[d]`` is the new name of
    class ``d``), drawn from ``rng``."""
    while True:
        renaming = rng.permutation(classes)
        if np.all(renaming != np.arange(classes)):
            return renaming


def test_experiment_cnn_vs_mlp(worker, grade):
    from reference.data.mnist import perturbed

    seed = secrets.randbits(31)
    rng = np.random.default_rng(seed)
    (train_x, train_y), (valid_x, valid_y) = digits().train, digits().valid
    # The classes are renamed by a permutation the grader draws, under which no digit keeps its
    # own name: a network learns the renamed labels exactly as it learns the real ones (its
    # initialization favours no class), while one whose knowledge of the digits is built in (class
    # templates in a buffer, a fixed classifier that training only rescales) cannot know them.
    renaming = class_renaming(rng)
    train_y, valid_y = renaming[train_y], renaming[valid_y]
    shape = (1, 28, 28)
    held_out = perturbed(valid_x.reshape(-1, *shape).astype(np.float32), rng)
    description = capture.captured(worker, grade, "MnistCNN", (2, *shape))
    network_seed = int(rng.integers(2 ** 31))
    # Rebuilt here too, from the same capture and seed as the child's: the graph's checks (and
    # the parameter count) read this copy; every computation on data runs in the child.
    network = capture.network(grade, description, "MnistCNN", (tol.MNIST_CNN_BATCH, *shape),
                              seed=network_seed)
    images = train_x.reshape(-1, *shape).astype(np.float32)
    study = study_run(worker, grade, "MnistCNN", description, seed=network_seed,
                      input_shape=(tol.MNIST_CNN_BATCH, *shape),
                      optimizer={"grader": "Adam", "settings": {"lr": tol.MNIST_CNN_LR}},
                      images=images, labels=train_y, calibration=None,
                      evaluate=(images[:1000], held_out), epochs=tol.CNN_EXPERIMENT_EPOCHS,
                      batch_size=tol.MNIST_CNN_BATCH, train_seeds=range(tol.CNN_EXPERIMENT_EPOCHS))
    control = control_accuracy(grade, "MnistCNN", study["untrained"], valid_y)
    run = {"train_loss": [], "train_error": [], "validation_loss": [], "validation_error": [],
           "loss_during_epoch": [], "parameters": capture.trainable_parameters(network)}
    data = {"seed": seed, "runs": {"MnistCNN": run},
            "how": (f"MnistCNN: Adam lr {tol.MNIST_CNN_LR:g}, batch {tol.MNIST_CNN_BATCH}; MLP: your "
                    f"train_loop, SGD lr {tol.CNN_EXPERIMENT_MLP_LR:g}; {len(train_y):,} training "
                    f"digits (training loss and error after each epoch on the first 1,000), "
                    f"{len(valid_y)} held-out digits (perturbed); the classes renamed by a "
                    "permutation the grader drew (digit d is called class_renaming[d])")}
    data.update(untrained_validation_accuracy=control, class_renaming=renaming.tolist())
    grade.experiment = data
    for epoch in study["epochs"]:
        loss, (train_logits, valid_logits) = epoch["loss"], epoch["logits"]
        for split, logits, labels in (("train", train_logits, train_y[:1000]),
                                      ("validation", valid_logits, valid_y)):
            score, problem = accuracy(logits, labels, "MnistCNN")
            if score is None:
                grade.fail(problem)
            run[f"{split}_error"].append(1.0 - score)
        # After the epoch, like the MLP's (the mean during the epoch is kept for the stall check).
        run["train_loss"].append(cross_entropy(train_logits, train_y[:1000]))
        run["loss_during_epoch"].append(loss)
        run["validation_loss"].append(cross_entropy(valid_logits, valid_y))
    try:
        data["runs"]["your MLP"] = mlp_curves(worker, (train_x, train_y), valid_x, valid_y, rng)
    except RunFailed as error:
        grade.notes.append(f"your MLP's curve is missing from the comparison: {error}")
    add_figures(grade, experiment_figures.cnn_vs_mlp, data)
    final = run["validation_error"][-1]
    unlearned = not_learned("MnistCNN", control, 1.0 - final, tol.CNN_EXPERIMENT_GAIN)
    if unlearned:
        grade.expect(False, f"after {tol.CNN_EXPERIMENT_EPOCHS} epochs, {unlearned}. The study "
                     "credits what training changed: does every layer take part, and is the "
                     "output computed from the trained layers?", 3)
        return
    grade.expect(1.0 - final >= tol.MNIST_CNN_FLOOR,
                 f"after {tol.CNN_EXPERIMENT_EPOCHS} epochs MnistCNN misclassifies {final:.1%} of "
                 f"the held-out digits; at most {1 - tol.MNIST_CNN_FLOOR:.0%} is expected (chance: "
                 "90%). Does forward return logits, and does every layer take part?", 2)
    first, last = run["loss_during_epoch"][0], run["loss_during_epoch"][-1]
    grade.expect(last < first * (1 - tol.LOSS_STALL_FRACTION),
                 f"MnistCNN's training loss did not fall over the epochs ({first:.4g} in the first, "
                 f"{last:.4g} in the last): are some parameters frozen or detached?")


# -- study 5: dogs vs. cats ----------------------------------------------------------------------

def test_experiment_cats_dogs(worker, grade):
    shape = (3, 64, 64)
    n_train, n_held_out = tol.CATS_DOGS_TRAIN, tol.CATS_DOGS_HELD_OUT
    description = capture.captured(worker, grade, "CatsDogsCNN", (2, *shape), optimizer=True)
    seed = secrets.randbits(31)
    rng = np.random.default_rng(seed)
    data = {"seed": seed, "how": (f"{tol.CATS_DOGS_EXPERIMENT_EPOCHS} epochs of {n_train} generated "
                                  f"striped images, batch {tol.CATS_DOGS_BATCH}, {n_held_out} "
                                  "held-out images")}
    grade.experiment = data
    runs = []
    for attempt in range(tol.CATS_DOGS_ATTEMPTS):
        network_seed = int(rng.integers(2 ** 31))
        network = capture.network(grade, description, "CatsDogsCNN", (tol.CATS_DOGS_BATCH, *shape),
                                  seed=network_seed)
        try:
            training.build_optimizer(description.get("optimizer"), network)
        except training.OptimizerRefused as error:
            # The study is "with your optimizer": the grader's own would earn the student credit
            # for learning that their code did not do.
            data.update(optimizer=f"refused: {error}", attempts=0)
            grade.expect(False, f"the grader cannot rebuild the optimizer make_cats_dogs_optimizer "
                         f"returns ({str(error)[:300]}); this study trains CatsDogsCNN with your "
                         "optimizer, so without it nothing is trained and no learning is credited. "
                         "Return one of torch.optim's optimizers over model.parameters().", 3)
            return
        how = f"your optimizer (torch.optim.{description['optimizer'].get('family')})"
        images, labels = striped_images(n_train + n_held_out, size=64,
                                        seed=int(rng.integers(2 ** 31)))
        study = study_run(
            worker, grade, "CatsDogsCNN", description, seed=network_seed,
            input_shape=(tol.CATS_DOGS_BATCH, *shape),
            optimizer={"described": description.get("optimizer")}, images=images[:n_train],
            labels=labels[:n_train], calibration=images[:4 * tol.CATS_DOGS_BATCH],
            evaluate=(images[n_train:],), epochs=tol.CATS_DOGS_EXPERIMENT_EPOCHS,
            batch_size=tol.CATS_DOGS_BATCH,
            train_seeds=[attempt * 100 + epoch for epoch in range(tol.CATS_DOGS_EXPERIMENT_EPOCHS)])
        run = {"train_loss": [], "held_out_accuracy": [],
               "untrained_accuracy": control_accuracy(grade, "CatsDogsCNN", study["untrained"],
                                                      labels[n_train:])}
        for epoch in study["epochs"]:
            score, problem = accuracy(epoch["logits"][0], labels[n_train:], "CatsDogsCNN")
            if score is None:
                grade.fail(problem)
            run["train_loss"].append(epoch["loss"])
            run["held_out_accuracy"].append(score)
        runs.append((study["first_kernels"], run))
        if learned(run):
            break
    kernels, run = max(runs, key=lambda item: (learned(item[1]), item[1]["held_out_accuracy"][-1]))
    data.update(run=run, optimizer=how, attempts=len(runs),
                every_final_accuracy=[r["held_out_accuracy"][-1] for _, r in runs],
                every_untrained_accuracy=[r["untrained_accuracy"] for _, r in runs])
    add_figures(grade, experiment_figures.cats_dogs, data, kernels)
    final, (first, last) = run["held_out_accuracy"][-1], (run["train_loss"][0], run["train_loss"][-1])
    why = []
    if final < tol.CATS_DOGS_EXPERIMENT_FLOOR:
        why.append(f"it classifies {final:.1%} of {n_held_out} held-out images correctly; at least "
                   f"{tol.CATS_DOGS_EXPERIMENT_FLOOR:.0%} is expected (chance: 50%)")
    if not loss_fell(run):
        why.append(f"its training loss hardly moved ({first:.4g} in the first epoch, {last:.4g} in "
                   "the last), so whatever it classifies right is not learned")
    unlearned = not_learned("CatsDogsCNN", run["untrained_accuracy"], final,
                            tol.CATS_DOGS_EXPERIMENT_GAIN)
    if unlearned and not why:
        why.append(unlearned)
    grade.expect(not why, f"after {tol.CATS_DOGS_EXPERIMENT_EPOCHS} epochs with {how} (best of "
                 f"{len(runs)} runs), CatsDogsCNN does not learn: {'; '.join(why)}. Check the "
                 "optimizer's learning rate and that forward returns logits.", 3)


def loss_fell(run: dict) -> bool:
    first, last = run["train_loss"][0], run["train_loss"][-1]
    return bool(np.isfinite(last) and last < first * (1 - tol.LOSS_STALL_FRACTION))


def learned(run: dict) -> bool:
    """Beat chance by the floor, by learning (a training loss that fell) and by more than the same
    network untrained: an untrained network with batch norm can separate the striped images above
    chance on its random features alone (CI saw an optimizer at lr 1e-7 reach the floor in one of
    three runs), and a network can hold a fixed classifier that training only rescales."""
    return (run["held_out_accuracy"][-1] >= tol.CATS_DOGS_EXPERIMENT_FLOOR and loss_fell(run)
            and run["held_out_accuracy"][-1] - run["untrained_accuracy"]
            >= tol.CATS_DOGS_EXPERIMENT_GAIN)


# -- practical study 8: adaptive optimizers ------------------------------------------------------

def reference_descent(name: str, hyper: dict, start: dict, train, batch_size: int, epochs: int):
    """The reference's run of optimizer ``name`` (torch.optim, or the RMSPropNesterov reference)
    from ``start`` over ``train`` in data order: ``(the gradient of each step, the weights after
    the last)``. Each gradient is the autograd gradient of the mean cross-entropy at the
    reference's weights before that step, so a correct optimizer fed these gradients walks the
    same path."""
    tensors = {key: torch.tensor(value, dtype=torch.float64, requires_grad=True)
               for key, value in start.items()}
    optimizer = optim.make(name, list(tensors.values()), dict(hyper))
    x, y = train
    stream = []
    for _ in range(epochs):
        for first in range(0, len(x), batch_size):
            current = {key: t.detach().numpy().copy() for key, t in tensors.items()}
            grads = mlp.backward(current, x[first:first + batch_size], y[first:first + batch_size],
                                 "relu")
            grads = {"d" + key: grads["d" + key] for key in tensors}
            stream.append(grads)
            for key, tensor in tensors.items():
                tensor.grad = torch.tensor(grads["d" + key])
            optimizer.step()
    return stream, {key: t.detach().numpy().copy() for key, t in tensors.items()}


def path_error(weights, reference: dict, start: dict) -> float:
    """How far ``weights`` ended from the reference's end, as a fraction of the distance the
    reference moved from ``start`` (inf for weights that cannot be compared)."""
    try:
        moved = sum(float(np.sum((reference[k] - start[k]) ** 2)) for k in start)
        off = sum(float(np.sum((np.asarray(weights[k], dtype=np.float64).reshape(start[k].shape)
                                - reference[k]) ** 2)) for k in start)
    except (TypeError, ValueError, KeyError, AttributeError):
        return math.inf
    value = math.sqrt(off / moved) if moved > 0 else math.inf
    return value if np.isfinite(value) else math.inf


def optimizer_run(worker, name: str, config: dict, start: dict, train) -> dict:
    """The student's ``NN(optimizer=name(...)).update`` driven by the grader: one call per step
    of the reference's run, each with the gradient the grader computed there, from weights the
    grader set. Returns the losses (computed here) at the start and at the weights the student's
    steps left, and how far those weights are from the reference's."""
    hyper = {**tol.OPTIMIZER_EXPERIMENT_SETTINGS[name],
             "weight_decay": tol.OPTIMIZER_EXPERIMENT_WEIGHT_DECAY}
    stream, reference = reference_descent(name, hyper, start, train,
                                          tol.OPTIMIZER_EXPERIMENT_BATCH,
                                          tol.OPTIMIZER_EXPERIMENT_EPOCHS)
    # lr 0: an NN.update that ignores self.optimizer and takes its own SGD step leaves the
    # weights where they were, so only the student's optimizer can move them.
    outcome = worker.call_sequence(
        "update", [{"args": [grads]} for grads in stream], cls="NN",
        config={**config, "lr": 0.0, "optimizer": {"class": name, "config": hyper}},
        state={"weights": start}, record_state=["weights"], timeout_s=CALL_TIMEOUT_S,
        check_inputs=False)
    if not outcome.ok:
        raise RunFailed(f"NN(optimizer={name}(...)).update failed: "
                        f"{outcome.failure_text().splitlines()[0][:300]}")
    steps = outcome.value if isinstance(outcome.value, list) else []
    last = steps[-1] if steps and isinstance(steps[-1], dict) else {}
    weights = (last.get("state") or {}).get("weights") if isinstance(last.get("state"), dict) else None
    return {"initial_loss": loss_of(start, *train), "final_loss": loss_of(weights, *train),
            "reference_final_loss": loss_of(reference, *train), "steps": len(stream),
            "path_error": path_error(weights, reference, start)}


def optimizer_problem(name: str, run: dict) -> str:
    before, after, off = run["initial_loss"], run["final_loss"], run["path_error"]
    ratio, allowed = tol.OPTIMIZER_EXPERIMENT_RATIO, tol.OPTIMIZER_EXPERIMENT_PATH_RTOL
    settings = tol.OPTIMIZER_EXPERIMENT_SETTINGS[name]
    if not after <= ratio * before:
        return (f"{name}: the training loss went from {before:.4f} to {after:.4f} in "
                f"{run['steps']} steps ({tol.OPTIMIZER_EXPERIMENT_EPOCHS} epochs); at most "
                f"{ratio:g} x the initial loss is expected ({settings}; the reference's steps "
                f"reach {run['reference_final_loss']:.4f}). Does its step move the parameters "
                "against the gradient, and does NN.update call it?")
    if not off <= allowed:
        return (f"{name}: the loss fell ({before:.4f} to {after:.4f}), but not along {name}'s "
                f"path: fed the gradients of the reference's run from the same weights, your "
                f"steps ended {off:.3g} times the reference's whole displacement away from its "
                f"end (at most {allowed:g}). The study credits {name}'s rule ({settings}), not any "
                "step that lowers the loss: compare your step with the rule, one step at a time.")
    return ""


def test_experiment_optimizers(worker, grade):
    seed = secrets.randbits(31)
    rng = np.random.default_rng(seed)
    train = balanced_digits(rng, tol.OPTIMIZER_EXPERIMENT_PER_CLASS)
    hidden = tol.OPTIMIZER_EXPERIMENT_HIDDEN
    config = cases.config(hidden, activation="relu", batch_size=tol.OPTIMIZER_EXPERIMENT_BATCH,
                          seed=int(rng.integers(2 ** 31)))
    # The start is the grader's (Glorot, a fresh seed); the student's code only takes the steps.
    start = mlp.initialize([784, 10], hidden, "glorot", int(rng.integers(2 ** 31)))
    runs = {}
    data = {"seed": seed, "runs": runs, "epochs": tol.OPTIMIZER_EXPERIMENT_EPOCHS,
            "how": (f"784-128-10 relu, batch {tol.OPTIMIZER_EXPERIMENT_BATCH}, {len(train[0]):,} "
                    f"digits, weight decay {tol.OPTIMIZER_EXPERIMENT_WEIGHT_DECAY:g}; your "
                    "NN.update and optimizer stepped by the grader on the gradients of the "
                    "reference's run, from Glorot weights the grader drew"),
            "settings": tol.OPTIMIZER_EXPERIMENT_SETTINGS}
    grade.experiment = data
    for name in tol.OPTIMIZER_EXPERIMENT_SETTINGS:
        try:
            runs[name] = optimizer_run(worker, name, config, start, train)
            problem = optimizer_problem(name, runs[name])
        except RunFailed as error:
            runs[name] = {"initial_loss": None, "final_loss": None}
            problem = str(error)
        grade.expect(not problem, problem)
    add_figures(grade, experiment_figures.optimizers, data)


# -- practical study 5: batch norm on LeNet-5 ----------------------------------------------------

def replayed_batch_norms(worker, grade) -> dict:
    """``{where: capture}`` of the student's ``BatchNorm2d`` at each batch norm of the standardized
    LeNet-5, for the batch size the grader trains with (the checks of part batchnorm2d)."""
    from grader.networks import layer
    from grader.parts.batchnorm2d import captured_layer
    from reference.lenet import BN_SHAPES

    captures = {}
    for where, shape in BN_SHAPES.items():
        if where == "input":
            continue
        batch = (tol.LENET_EXPERIMENT_BATCH, *shape)
        captures[where] = captured_layer(worker, grade, shape[0], 0.1, batch)
        problem = layer.measure(captures[where], batch)
        if problem:
            grade.fail(f"your BatchNorm2d({shape[0]}) on a batch of shape {batch}: the grader will "
                       f"not train a network with it, because {problem}")
    return captures


def gamma_beta_names(names: list) -> tuple:
    """The names of a replayed batch norm's gamma and beta (weight and bias), or None."""
    gamma = next((n for n in ("weight", "gamma") if n in names), names[0] if names else None)
    beta = next((n for n in ("bias", "beta") if n in names),
                next((n for n in names if n != gamma), None))
    return gamma, beta


def normalization_problem(captures: dict, rng) -> str:
    """Why the student's BatchNorm2d, replayed by the grader in training mode on a batch it drew
    (every channel with its own offset and scale), does not normalize each channel: its output
    must have the channel's beta as mean and |gamma| as standard deviation, from the layer's own
    initial gamma and beta ("" when it does). The study credits batch norm, so a layer that
    normalizes nothing (an affine map, fixed constants) earns nothing here."""
    from grader.networks.layer import ReplayedLayer
    from reference.lenet import BN_SHAPES

    for where, captured in captures.items():
        layer = ReplayedLayer(captured)
        gamma_name, beta_name = gamma_beta_names(list(layer.names))
        if gamma_name is None or beta_name is None:
            return (f"your BatchNorm2d at {where} has {len(layer.names)} parameters; gamma and beta "
                    "(weight and bias) are expected")
        start = captured["parameters"]
        gamma = np.abs(np.asarray(start[gamma_name]["value"], dtype=np.float64)).ravel()
        beta = np.asarray(start[beta_name]["value"], dtype=np.float64).ravel()
        channels = BN_SHAPES[where][0]
        offsets, scales = rng.uniform(-3, 3, channels), rng.uniform(0.5, 3, channels)
        x = (rng.normal(size=(tol.LENET_EXPERIMENT_BATCH, *BN_SHAPES[where]))
             * scales[None, :, None, None] + offsets[None, :, None, None])
        layer.train()
        try:
            with torch.no_grad():
                out = layer(torch.as_tensor(x, dtype=torch.float64)).numpy()
            means, stds = out.mean(axis=(0, 2, 3)), out.std(axis=(0, 2, 3))
            off = np.maximum(np.abs(means - beta) / (gamma + 1e-3),
                             np.abs(stds - gamma) / (gamma + 1e-3))
        except Exception as error:  # noqa: BLE001 - the student's layer, replayed, failed
            return (f"your BatchNorm2d at {where} failed on the grader's batch: "
                    f"{type(error).__name__}: {str(error)[:300]}")
        if not np.all(off <= tol.LENET_EXPERIMENT_NORMALIZATION_RTOL):
            c = int(np.argmax(np.where(np.isfinite(off), off, np.inf)))
            return (f"your BatchNorm2d at {where} does not normalize: in training mode, on a batch "
                    f"whose channel {c} has mean {offsets[c]:.3g} and standard deviation "
                    f"{scales[c]:.3g}, that channel comes out with mean {means[c]:.4g} and standard "
                    f"deviation {stds[c]:.4g}, where batch norm with its gamma {gamma[c]:.4g} and "
                    f"beta {beta[c]:.4g} gives mean beta and standard deviation |gamma|")
    return ""


def test_experiment_batch_norm(worker, grade):
    from reference.data.mnist import perturbed

    captures = replayed_batch_norms(worker, grade)
    seed = secrets.randbits(31)
    rng = np.random.default_rng(seed)
    not_normalizing = normalization_problem(captures, rng)
    if not_normalizing:
        grade.experiment = {"seed": seed, "normalization": not_normalizing}
        grade.expect(False, f"{not_normalizing}. The study trains LeNet-5 with your batch norm; "
                     "a layer that does not normalize earns none of it.", 3)
        return
    torch_seed = int(rng.integers(2 ** 31))
    x, y = digits().train
    order = rng.permutation(len(x))[:tol.LENET_EXPERIMENT_TRAIN]
    mean, std = float(x.mean()), float(x.std())
    images = ((x[order].reshape(-1, 1, 28, 28) - mean) / std).astype(np.float64)
    held_out_x, held_out_y = digits().valid
    held_out = (perturbed(held_out_x.reshape(-1, 1, 28, 28).astype(np.float32), rng) - mean) / std
    batch = tol.LENET_EXPERIMENT_BATCH
    data = {"seed": seed, "how": (f"LeNet-5 with your BatchNorm2d (replayed by the grader) after "
                                  f"conv1, conv2, fc1 and fc2, standardized input; Adam lr "
                                  f"{tol.LENET_EXPERIMENT_LR:g}, batch {batch}, "
                                  f"{tol.LENET_EXPERIMENT_EPOCHS} epochs of {len(order):,} digits"),
            "held_out_accuracy": [], "train_loss": []}
    grade.experiment = data
    # The whole run (the control before training, the epochs, the evaluations) in the metered
    # child: the replayed layers are the student's graphs, and their cost is theirs.
    run = capture.run_on_data(
        worker, grade, "lenet_batch_norm", "the grader trained LeNet-5 with your BatchNorm2d",
        limit_s=tol.CNN_TRAINING_CPU_S, captures=captures, torch_seed=torch_seed, images=images,
        labels=y[order], held_out=held_out, held_out_labels=held_out_y,
        epochs=tol.LENET_EXPERIMENT_EPOCHS, batch=batch, lr=tol.LENET_EXPERIMENT_LR)
    data.update(untrained_accuracy=run["untrained_accuracy"], train_loss=run["train_loss"],
                held_out_accuracy=run["held_out_accuracy"])
    moved = {}
    for where, trained in run["parameters"].items():
        gamma_name, beta_name = gamma_beta_names(list(trained))
        gamma = np.asarray(trained[gamma_name], dtype=np.float64)
        beta = np.asarray(trained[beta_name], dtype=np.float64)
        # Moved from where the layer itself started (not from 1 and 0): a layer whose parameters
        # are named or ordered otherwise cannot pass for one that moved.
        start = captures[where]["parameters"]
        gamma0 = np.asarray(start[gamma_name]["value"], dtype=np.float64)
        beta0 = np.asarray(start[beta_name]["value"], dtype=np.float64)
        moved[where] = {"gamma": gamma.tolist(), "beta": beta.tolist(),
                        "largest_change": [float(np.max(np.abs(gamma - gamma0))),
                                           float(np.max(np.abs(beta - beta0)))]}
    data["batch_norm"] = moved
    add_figures(grade, experiment_figures.batch_norm, data)
    final = data["held_out_accuracy"][-1]
    why = not_learned("LeNet-5 with your BatchNorm2d", data["untrained_accuracy"], final,
                      tol.LENET_EXPERIMENT_GAIN)
    if not why and final < tol.LENET_EXPERIMENT_FLOOR:
        why = (f"LeNet-5 with your BatchNorm2d classifies {final:.1%} of the held-out digits after "
               f"{tol.LENET_EXPERIMENT_EPOCHS} epochs; at least {tol.LENET_EXPERIMENT_FLOOR:.0%} is "
               "expected (the same network learns with torch's batch norm)")
    grade.expect(not why, why, 2)
    still = []
    for where, change in ((w, m["largest_change"]) for w, m in moved.items()):
        # Each parameter that did not move is named: a layer whose beta is never used and whose
        # gamma is detached differs from one with only one of those faults.
        names = [name for name, largest in zip(("gamma", "beta"), change, strict=True)
                 if largest < tol.LENET_EXPERIMENT_MOVE]
        if names:
            still.append(f"{where} ({' and '.join(names)})")
    grade.expect(not still, f"after training, the batch norm's gamma or beta did not move from "
                 f"where it started (by {tol.LENET_EXPERIMENT_MOVE:g} in any channel) at "
                 f"{', '.join(still)}: does forward use self.weight and self.bias, so that they "
                 "get gradients?")
