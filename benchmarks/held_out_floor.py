"""Benchmark (not a test): the held-out accuracy a real CNN reaches under the grader's own
training, over several per-grading random perturbations, against the floors in tolerances.

Run: ``python benchmarks/held_out_floor.py [--seeds 5] [--submission solution.py]``. The
network is captured once from the submission's worker (as grading does), then for each seed the
grader rebuilds it, trains it exactly as ``grader/parts/mnist_cnn.py`` and
``grader/parts/cats_dogs_cnn.py`` do, and judges it on held-out data drawn from that seed:
perturbed digits for MnistCNN, fresh generated images for CatsDogsCNN.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

from grader import tolerances as tol  # noqa: E402
from grader.isolation.worker import Session  # noqa: E402
from grader.networks import rebuild, training  # noqa: E402
from grader.verdicts.substitutes import CallbackLog  # noqa: E402


def mnist_accuracy(capture: dict, seed: int) -> float:
    from reference.data.mnist import load_mnist, perturbed

    data = load_mnist(seed=0)
    (train_x, train_y), (valid_x, valid_y) = data.train, data.valid
    network = rebuild.rebuild(capture, seed=0)
    optimizer = torch.optim.Adam(network.parameters(), lr=tol.MNIST_CNN_LR)
    training.train(network, train_x.reshape(-1, 1, 28, 28).astype(np.float32), train_y, optimizer,
                   epochs=tol.MNIST_CNN_EPOCHS, batch_size=tol.MNIST_CNN_BATCH, seed=0,
                   cpu_budget_s=tol.CNN_TRAINING_CPU_S)
    held_out = perturbed(valid_x.reshape(-1, 1, 28, 28).astype(np.float32),
                         np.random.default_rng(seed))
    return float(np.mean(training.logits(network, held_out).argmax(1) == valid_y))


def cats_dogs_accuracy(capture: dict, seed: int) -> float:
    from reference.data.cats_dogs import striped_images

    n_train = tol.CATS_DOGS_TRAIN
    network = rebuild.rebuild(capture, seed=0)
    optimizer, _ = training.build_optimizer(capture["optimizer"], network)
    images, labels = striped_images(n_train + tol.CATS_DOGS_HELD_OUT, size=64, seed=seed)
    training.train(network, images[:n_train], labels[:n_train], optimizer,
                   epochs=tol.CATS_DOGS_EPOCHS, batch_size=tol.CATS_DOGS_BATCH, seed=0,
                   cpu_budget_s=tol.CNN_TRAINING_CPU_S)
    return float(np.mean(training.logits(network, images[n_train:]).argmax(1) == labels[n_train:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--submission", default=str(REPOSITORY / "solution.py"))
    parser.add_argument("--networks", default="MnistCNN,CatsDogsCNN",
                        help="comma-separated: which networks to judge")
    args = parser.parse_args()
    torch.set_num_threads(1)   # as the grader trains
    session = Session(Path(args.submission), CallbackLog())
    try:
        captures = {
            "MnistCNN": session.cnn("capture", cls="MnistCNN", input_shape=[2, 1, 28, 28]).value,
            "CatsDogsCNN": session.cnn("capture", cls="CatsDogsCNN", input_shape=[2, 3, 64, 64],
                                       optimizer=True).value}
    finally:
        session.close()
    for name, judge, floor in (("MnistCNN", mnist_accuracy, tol.MNIST_CNN_FLOOR),
                               ("CatsDogsCNN", cats_dogs_accuracy, tol.CATS_DOGS_FLOOR)):
        if name not in args.networks.split(","):
            continue
        scores, times = [], []
        for seed in range(1, args.seeds + 1):
            started = time.process_time()
            scores.append(judge(captures[name], seed))
            times.append(time.process_time() - started)
        print(f"{name}: held-out accuracy over {args.seeds} seeds: min {min(scores):.3f}, "
              f"mean {statistics.mean(scores):.3f}, max {max(scores):.3f} (floor {floor}); "
              f"CPU s per run: {statistics.mean(times):.1f}")


if __name__ == "__main__":
    main()
