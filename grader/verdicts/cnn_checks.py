"""Checks the CNN parts share: output shapes, logits and held-out accuracy, all made in the
trusted process on what the grader's own rebuilt network computed (``grader/networks``)."""
from __future__ import annotations

import numpy as np

from grader import tolerances as tol
from grader.verdicts.checks import type_name

def output_verdicts(value: dict, cls: str, batch: int, classes: int) -> list[tuple[bool, str]]:
    """``(passed, message)`` for the outputs of ``cls`` in training and in evaluation mode."""
    results = []
    outputs = value.get("outputs") if isinstance(value, dict) else None
    for mode in ("train", "eval"):
        out = outputs.get(mode) if isinstance(outputs, dict) else None
        shape = f"({batch}, {classes})"
        if not isinstance(out, np.ndarray):
            results.append((False, f"{cls} in {mode} mode returned {type_name(out)}; expected "
                                   f"logits of shape {shape}"))
        elif out.shape != (batch, classes):
            hint = ""
            if out.ndim == 2 and out.shape[0] == batch:
                hint = f" (the last layer has {out.shape[1]} outputs; one per class is {classes})"
            elif out.ndim != 2:
                hint = " (flatten the features before the last layer?)"
            results.append((False, f"{cls} maps a batch of {batch} images to shape {out.shape} "
                                   f"in {mode} mode; expected {shape}{hint}"))
        elif not np.all(np.isfinite(out)):
            results.append((False, f"{cls} returned {int(np.sum(~np.isfinite(out)))} NaN or "
                                   f"infinite logits in {mode} mode for inputs in [0, 1]"))
        else:
            results.append((True, ""))
    return results


def logits_verdict(value: dict, cls: str) -> tuple[bool, str]:
    """Whether the outputs look like logits rather than probabilities (every row in [0, 1] and
    summing to 1): the loss applies the softmax, so a softmax in forward applies it twice.
    Outputs that cannot be judged (missing, not a non-empty 2-D array, NaN or infinite entries)
    fail: nothing then shows that forward returns logits."""
    outputs = value.get("outputs") if isinstance(value, dict) else None
    out = outputs.get("eval") if isinstance(outputs, dict) else None
    if not isinstance(out, np.ndarray) or out.ndim != 2 or out.size == 0:
        return False, (f"whether {cls}.forward returns logits cannot be checked: in evaluation "
                       f"mode it returned {type_name(out)}, not a (batch, classes) array")
    if not np.all(np.isfinite(out)):
        return False, (f"whether {cls}.forward returns logits cannot be checked: "
                       f"{int(np.sum(~np.isfinite(out)))} of its outputs in evaluation mode are "
                       "NaN or infinite")
    row_sums = out.astype(np.float64).sum(axis=1)
    if np.all((out >= 0) & (out <= 1)) and np.all(np.abs(row_sums - 1.0) <= tol.PROBABILITY_SUM_ATOL):
        return False, (f"{cls}.forward returns probabilities (every row sums to 1); it must return "
                       "logits, since cross-entropy applies the softmax itself")
    return True, ""


def grade_learning(grade, value: dict, what: str, labels: np.ndarray, cls: str, floor: float,
                   items: str, hint: str, diagnose=None) -> None:
    """Score a training run the grader made: the held-out accuracy of its ``value["logits"]``
    (N, C), computed with ``labels`` (N,), against ``floor``. ``what`` describes the run,
    ``items`` the held-out examples (e.g. "digits") and ``hint`` what to check when the floor is
    missed. ``diagnose(value)``, called only then, returns the likely causes ("" for none)."""
    score, problem = accuracy(value.get("logits") if isinstance(value, dict) else None, labels, cls)
    if score is None:
        grade.fail(problem)
    chance = 1 / len(np.unique(labels))
    message = ""
    if score < floor:
        message = (f"after {what}, {cls} classifies {score:.1%} of {len(labels)} held-out {items} "
                   f"correctly; at least {floor:.0%} is expected (chance: {chance:.0%}). Training "
                   f"loss per epoch: {losses(value)}. {hint}")
        cause = diagnose(value) if diagnose else ""
        if cause:
            message += f" Likely cause: {cause}"
    grade.expect(score >= floor, message)


def stalled_loss(value) -> str:
    """Whether the training loss hardly moved from the first epoch to the last (the parameters
    barely changed), as text for a message, or ""."""
    reported = value.get("losses") if isinstance(value, dict) else None
    try:
        values = [float(v) for v in reported]
    except (TypeError, ValueError):
        return ""
    if len(values) < 2 or not np.all(np.isfinite(values)) or values[0] <= 0:
        return ""
    if (values[0] - values[-1]) / values[0] >= tol.LOSS_STALL_FRACTION:
        return ""
    return (f"the training loss hardly changed over {len(values)} epochs ({values[0]:.4g} to "
            f"{values[-1]:.4g}): the parameters barely moved")


def accuracy(logits, labels: np.ndarray, cls: str) -> tuple[float | None, str]:
    """Held-out accuracy of ``logits`` (N, C) against the labels only this process has."""
    if (not isinstance(logits, np.ndarray) or logits.ndim != 2 or logits.shape[0] != len(labels)
            or logits.shape[1] < 1):
        shape = getattr(logits, "shape", None)
        return None, (f"{cls} returned logits of shape {shape} for {len(labels)} held-out images; "
                      "cannot compute an accuracy")
    if not np.all(np.isfinite(logits)):
        return None, (f"after training, {cls} returned {int(np.sum(~np.isfinite(logits)))} NaN or "
                      "infinite logits (did the loss diverge? a smaller learning rate may help)")
    return float(np.mean(np.argmax(logits, axis=1) == labels)), ""


def losses(value) -> str:
    """The per-epoch training losses the worker reported, for a message (at most 10)."""
    reported = value.get("losses") if isinstance(value, dict) else None
    try:
        return ", ".join(f"{float(v):.3g}" for v in list(reported)[:10]) or "none"
    except (TypeError, ValueError):
        return "not reported"
