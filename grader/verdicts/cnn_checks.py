"""Checks the CNN parts share: output shapes, logits and held-out accuracy, all made in the
trusted process on what the grader's own rebuilt network computed (``grader/networks``)."""
from __future__ import annotations

import numpy as np

from grader import causes
from grader import tolerances as tol
from grader.verdicts.checks import Verdict, type_name


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
                   items: str, hint: str, diagnose=None, blockers=(), *, gain: float) -> None:
    """Score a training run the grader made (``training.run_with_controls``): the held-out
    accuracy of its ``value["logits"]`` (N, C), computed with ``labels`` (N,), against
    ``floor``, and the evidence that training made it (``learning_problems``). ``what``
    describes the run, ``items`` the held-out examples (e.g. "digits") and ``hint`` what to
    check when the floor is missed. ``diagnose(value)``, called only then, returns the likely
    causes (``causes.joined``; "" for none). ``blockers``: what the source shows cuts forward from autograd
    (``rules.grad_blockers``); one that cuts a layer's output fails the row whatever the run.
    ``gain``: the part's margin over the controls (``tolerances.*_LEARNING_GAIN``)."""
    score, problem = accuracy(value.get("logits") if isinstance(value, dict) else None, labels, cls)
    if score is None:
        grade.fail(problem)
    chance = 1 / len(np.unique(labels))
    if score < floor:
        verdict = Verdict(False, f"after {what}, {cls} classifies {score:.1%} of {len(labels)} "
                                 f"held-out {items} correctly; at least {floor:.0%} is expected "
                                 f"(chance: {chance:.0%}). Training loss per epoch: "
                                 f"{losses(value)}. {hint}")
        # Several causes in one sentence: the verdict records the first one's id (the run's own
        # diagnosis before what the source shows; see ``causes.joined``).
        cause = causes.joined([diagnose(value) if diagnose else ""]
                              + [causes.CNN_CUTS_AUTOGRAD.format(construct=b.describe())
                                 for b in list(blockers)[:3]])
        if cause:
            verdict.blame(cause, causes.NEW_SENTENCE)
        grade.check(verdict)
        return
    problems = learning_problems(value, labels, cls, gain)
    hard = [b for b in blockers if b.blocks_layers]
    if hard:
        problems.insert(0, f"{cls}'s own code could not train it: "
                        + "; ".join(b.describe() for b in hard[:3])
                        + " cuts what forward computes from autograd, so no optimizer of the "
                        "student's could update the layers it covers (the grader's rebuilt copy "
                        "is no evidence of that)")
    verdict = Verdict(True)
    if problems:
        verdict = Verdict(False, f"after {what}, {cls} classifies {score:.1%} of {len(labels)} "
                                 f"held-out {items} correctly, but that is not credit for "
                                 "training: " + "; ".join(problems) + ".")
        named = [b.describe() for b in blockers if not b.blocks_layers]
        if named and not hard:
            verdict.blame(causes.CNN_DETACHED_IN_FORWARD.format(constructs="; ".join(named[:3])),
                          causes.NEW_SENTENCE_WHERE)
            verdict.message += "."
        elif not hard:
            verdict.blame(causes.CNN_FORWARD_IGNORES_LAYERS, causes.NEW_SENTENCE)
            verdict.message += "."
    grade.check(verdict)


def training_blocked(blockers):
    """For the message of a training run that failed: the constructs of forward that cut it
    from autograd (a forward entirely under no_grad leaves nothing to call backward on), as a
    registered cause, or "" for none."""
    if not blockers:
        return ""
    return causes.CNN_AUTOGRAD_OFF.format(
        constructs="; ".join(b.describe() for b in list(blockers)[:3]))


def learning_problems(value: dict, labels: np.ndarray, cls: str, gain: float) -> list[str]:
    """Why a run that reached the floor is not evidence of learning, as sentences ([] when it
    is): the gain over each of the grader's controls (the network at its initialization; the
    trained network without its largest trainable tensors) is below ``gain``;
    fewer than ``CNN_TRAINED_FRACTION`` of the trainable entries, or fewer than
    ``CNN_MIN_TRAINED_PARAMETERS``, received a gradient and moved."""
    score, _ = accuracy(value.get("logits"), labels, cls)
    problems = []
    controls = value.get("controls") or {}
    for key, description in (
            ("initial", "the same network at the grader's initialization, before any training "
                        "step, already classifies {control:.1%}"),
            ("without_most", "with its largest trainable tensors ({zeroed}) set to zero after "
                             "training it still classifies {control:.1%}")):
        control, _ = accuracy(controls.get(key), labels, cls)
        if control is None:
            control = 0.0   # NaN logits at initialization: no accuracy to stand on
        if score - control < gain:
            zeroed = ", ".join(value.get("zeroed", [])[:4]) or "none"
            problems.append(description.format(control=control, zeroed=zeroed)
                            + f" (trained: {score:.1%}; training must add at least "
                            f"{gain:.0%})")
    report = value.get("parameters") or {}
    total, trained = int(report.get("total", 0)), int(report.get("trained", 0))
    if total == 0 or trained < tol.CNN_TRAINED_FRACTION * total \
            or trained < tol.CNN_MIN_TRAINED_PARAMETERS:
        tensors = report.get("tensors") or {}
        idle = sorted(((entries - done, name, got) for name, (entries, done, got) in tensors.items()
                       if done < entries), reverse=True)
        shown = ", ".join(f"{name} ({'no gradient' if got == 0 else f'{entries:,} entries idle'})"
                          for entries, name, got in idle[:4])
        problems.append(
            f"only {trained:,} of its {total:,} trainable parameters received a nonzero gradient "
            f"and moved during training (at least {tol.CNN_TRAINED_FRACTION:.0%}, and "
            f"{tol.CNN_MIN_TRAINED_PARAMETERS:,}, must), so its prediction does not depend on "
            f"what training changed" + (f"; idle: {shown}" if shown else ""))
    return problems


def stalled_loss(value):
    """Whether the training loss hardly moved from the first epoch to the last (the parameters
    barely changed), as a registered cause, or ""."""
    reported = value.get("losses") if isinstance(value, dict) else None
    try:
        values = [float(v) for v in reported]
    except (TypeError, ValueError):
        return ""
    if len(values) < 2 or not np.all(np.isfinite(values)) or values[0] <= 0:
        return ""
    if (values[0] - values[-1]) / values[0] >= tol.LOSS_STALL_FRACTION:
        return ""
    return causes.CNN_LOSS_STALLED.format(epochs=len(values), first=values[0], last=values[-1])


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
