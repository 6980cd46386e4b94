"""Part cats_dogs_cnn: CatsDogsCNN's output shape, the Kaggle rules and a short training run.

The worker only captures the network as a graph and the optimizer as a description (plain
data); the grader rebuilds both from its allow-list, then trains and judges them itself (every
run on data in its metered child process, ``grader/networks/metered.py``). The
rules are read from the graph the grader runs (no library normalization or dropout anywhere in
it, the student's BatchNorm2d in it) and, as an earlier signal, from the source. The student's
BatchNorm2d is rebuilt as torch's (its own numerics are graded in part batchnorm2d), and the
optimizer from its declared spec: its torch.optim class and hyper-parameters."""
import dataclasses
import secrets

import numpy as np

from grader import causes
from grader import tolerances as tol
from grader.networks import allowlist, capture, training
from grader.verdicts import rules
from grader.verdicts.cnn_checks import (accuracy, grade_learning, learning_problems,
                                        stalled_loss,
                                        training_blocked)
from reference.data.cats_dogs import striped_images

INPUT = (3, 64, 64)


def described(worker, grade) -> dict:
    return capture.captured(worker, grade, "CatsDogsCNN", (2, *INPUT), optimizer=True)


def test_cats_dogs_shapes(worker, grade, rng):
    description = described(worker, grade)
    network = capture.network(grade, description, "CatsDogsCNN", (4, *INPUT))
    x = rng.uniform(0, 1, (4, *INPUT)).astype(np.float32)
    capture.grade_outputs(worker, grade, description, network, "CatsDogsCNN", x, 2,
                          "a batch of 4 images")


def _source_findings(worker, grade) -> tuple[list, list]:
    try:
        source = rules.read_source(worker.submission)
        return (rules.find(source, ["CatsDogsCNN"], rules.NORMALIZATION_RULE, skip=["BatchNorm2d"]),
                rules.find(source, ["make_cats_dogs_optimizer"], rules.ADAM_RULE))
    except (OSError, rules.SourceError) as error:
        grade.fail(f"the Kaggle rules cannot be checked: {error}")


def _listing(items, limit=4) -> str:
    shown = [item.describe() if isinstance(item, rules.Finding) else str(item) for item in items]
    return "; ".join(shown[:limit]) + (f"; and {len(shown) - limit} more" if len(shown) > limit else "")


def library_operations(network) -> list[str]:
    """The library normalization and dropout in either mode's graph, as ``kind at node``."""
    forbidden = allowlist.LIBRARY_NORMALIZATION | allowlist.LIBRARY_DROPOUT
    found = []
    for name, where in network.operations():
        if name in forbidden:
            entry = f"{name} (at {where})"
            if entry not in found:
                found.append(entry)
    return found


def test_cats_dogs_rules(worker, grade):
    in_network, in_optimizer = _source_findings(worker, grade)
    description = described(worker, grade)
    network = capture.network(grade, description, "CatsDogsCNN", (2, *INPUT))
    library = library_operations(network)
    uses_own = any(kind == allowlist.OWN_BATCHNORM for kind in network.kinds.values())
    torchs = capture.own_batchnorm_is_torchs(worker) if uses_own else []
    if torchs:
        # the layers the network calls "your BatchNorm2d" are torch's batch norm after all
        library.append(f"your BatchNorm2d, which computes with torch's own normalization "
                       f"({', '.join(torchs)})")
    grade.expect(not in_network and not library,
                 "CatsDogsCNN uses library normalization or dropout, which the Kaggle rules forbid "
                 "(use your BatchNorm2d; write your own dropout module): "
                 + _listing(in_network + library))
    grade.expect(uses_own and not torchs,
                 "CatsDogsCNN holds no instance of your BatchNorm2d (one that computes its own "
                 "normalization); the part asks you to normalize with it", 0.5)
    spec = description.get("optimizer")
    try:
        _, missing = training.build_optimizer(spec, network)
    except training.OptimizerRefused as error:
        grade.expect(False, f"make_cats_dogs_optimizer(model): {error}. The grader rebuilds the "
                     "optimizer from its torch.optim class and hyper-parameters", 1.5)
        return
    family = spec.get("family")
    adam = [f"torch.optim.{family}"] if family in allowlist.ADAM_FAMILY else []
    grade.expect(not in_optimizer and not adam,
                 "make_cats_dogs_optimizer uses a library Adam-family optimizer, which the Kaggle "
                 "rules forbid (SGD with momentum, RMSprop, Adagrad ... are allowed): "
                 + _listing(in_optimizer + adam))
    total = len([p for p in network.parameter_names.values() if p.requires_grad])
    grade.expect(not missing,
                 f"make_cats_dogs_optimizer's optimizer leaves out {len(missing)} of the model's "
                 f"{total} parameter tensors ({', '.join(missing[:4])}); pass it model.parameters()",
                 0.5)


def attempt_plan(worker, grade, attempt: int) -> tuple[np.ndarray, dict]:
    """``(held-out labels, arguments)`` of the grader's training run ``attempt`` of CatsDogsCNN,
    made once per grading (so that a run started ahead is the test's own)."""
    def make():
        n_train, n_held_out = tol.CATS_DOGS_TRAIN, tol.CATS_DOGS_HELD_OUT
        description = described(worker, grade)
        # Fresh images for every run: the held-out ones cannot be known in advance.
        images, labels = striped_images(n_train + n_held_out, size=64, seed=secrets.randbits(32))
        return labels, dict(
            capture=description, seed=attempt, input_shape=[tol.CATS_DOGS_BATCH, *INPUT],
            optimizer={"described": description.get("optimizer")},
            train_images=images[:n_train], train_labels=labels[:n_train],
            held_out=images[n_train:], epochs=tol.CATS_DOGS_EPOCHS,
            batch_size=tol.CATS_DOGS_BATCH, train_seed=attempt)
    return capture.planned(worker, ("test_cats_dogs_learns", attempt), make)


def first_attempt_ahead(worker, grade) -> tuple[str, dict]:
    """The first training ``test_cats_dogs_learns`` takes, to start ahead (``AHEAD``): only for
    a network and an optimizer the grader can build (the test fails before any run otherwise)."""
    description = described(worker, grade)
    network = capture.network(grade, description, "CatsDogsCNN", (tol.CATS_DOGS_BATCH, *INPUT),
                              seed=0)
    training.build_optimizer(description.get("optimizer"), network)
    return "trained_with_controls", attempt_plan(worker, grade, 0)[1]


AHEAD = {"test_cats_dogs_learns": first_attempt_ahead}
"""Runs of this part's tests that can start at the start of the grading (``grader/networks/
ahead.py``): the test's name -> what gives ``(task, arguments)``."""


def learning_key(worker, grade) -> dict:
    """What decides ``test_cats_dogs_learns``'s verdict besides the grader (``grader/reuse.py``):
    the network's graph, the optimizer's description (both in the capture) and the places in
    its source that block gradients."""
    return {"capture": described(worker, grade),
            "blockers": [dataclasses.asdict(b) for b in rules.source_grad_blockers(
                worker.submission, "CatsDogsCNN")]}


REUSE = {"test_cats_dogs_learns": learning_key}
"""Rows whose verdict the student's own re-runs may reuse (``grader/reuse.py``)."""


def test_cats_dogs_learns(worker, grade):
    n_train = tol.CATS_DOGS_TRAIN
    description = described(worker, grade)
    runs = []      # (network, optimizer, value, held-out labels, (learned, accuracy)) per run
    blockers = rules.source_grad_blockers(worker.submission, "CatsDogsCNN")
    for attempt in range(tol.CATS_DOGS_ATTEMPTS):
        network = capture.network(grade, description, "CatsDogsCNN",
                                  (tol.CATS_DOGS_BATCH, *INPUT), seed=attempt)
        try:
            optimizer, _ = training.build_optimizer(description.get("optimizer"), network)
        except training.OptimizerRefused as error:
            # No learning credit without the student's own optimizer: a run with one of the
            # grader's would credit the grader's choice (the rules row names the refusal too).
            grade.fail(f"make_cats_dogs_optimizer(model): {error}. The grader trains "
                       "CatsDogsCNN only with the optimizer make_cats_dogs_optimizer describes, "
                       "rebuilt from its torch.optim class and hyper-parameters; one it refuses "
                       "earns no learning credit")
        labels, arguments = attempt_plan(worker, grade, attempt)
        what = (f"the grader trained CatsDogsCNN with make_cats_dogs_optimizer's optimizer "
                f"({tol.CATS_DOGS_EPOCHS} epochs of {n_train} generated images, batch "
                f"{tol.CATS_DOGS_BATCH})")
        value = capture.run_on_data(worker, grade, "trained_with_controls", what,
                                    training_blocked(blockers), **arguments)
        score, _ = accuracy(value["logits"], labels[n_train:], "CatsDogsCNN")
        # a run that reaches the floor and shows that training made it ends the attempts; a
        # network whose accuracy training did not make (or that cannot be trained, from its
        # source) would show the same in every run
        learned = score is not None and score >= tol.CATS_DOGS_FLOOR and not learning_problems(
            value, labels[n_train:], "CatsDogsCNN", tol.CATS_DOGS_LEARNING_GAIN)
        runs.append((network, optimizer, value, labels[n_train:], (learned, score or 0.0)))
        if learned or any(b.blocks_layers for b in blockers):
            break
    network, optimizer, value, held_out_labels, _ = max(runs, key=lambda run: run[-1])
    if len(runs) > 1:
        what += (f", best of {len(runs)} runs, each with fresh images and initial weights "
                 f"(held-out accuracy {', '.join(f'{run[-1][1]:.1%}' for run in runs)})")

    def diagnose(value):
        stalled, frozen = stalled_loss(value), capture.frozen_parameters(network)
        rates = sorted({float(g["lr"]) for g in optimizer.param_groups})
        too_small = ""
        if stalled and rates and not frozen:
            too_small = causes.CNN_LEARNING_RATE_TOO_SMALL.format(
                rates=", ".join(f"{rate:g}" for rate in rates))
        return causes.joined([stalled, too_small, frozen])

    grade_learning(grade, value, what, held_out_labels, "CatsDogsCNN", tol.CATS_DOGS_FLOOR,
                   "images", "Check the optimizer's learning rate and that forward returns logits.",
                   diagnose, blockers, gain=tol.CATS_DOGS_LEARNING_GAIN)
