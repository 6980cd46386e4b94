"""The experiments part: what every study uses (digits, failed runs, scoring missed outcomes)."""
from __future__ import annotations

import math

import numpy as np

from grader.parts.mnist_cnn import digits   # the part's cached copy: the digits load once per grading
from grader.verdicts import cases
from reference import mlp


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


def balanced_digits(rng, per_class: int):
    """``per_class`` training digits of each class, in a random order, as (X (N, 784), Y one-hot)."""
    x, y = digits().train
    chosen = np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False)
                             for c in range(10)])
    rng.shuffle(chosen)
    return x[chosen], one_hot(y[chosen])


def not_learned(cls: str, control: float, final: float, margin: float) -> str:
    """Why the trained network's accuracy is not credit for training ("" when it is)."""
    if final - control >= margin:
        return ""
    return (f"before any training, {cls} at its own initialization (rebuilt and evaluated by the "
            f"grader on the same held-out images) classifies {control:.1%} correctly; after "
            f"training {final:.1%}, a gain of {final - control:+.1%}, less than the "
            f"{margin:.0%} that training must add: what it classifies right is not learned")


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
