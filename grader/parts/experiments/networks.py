"""The experiments part: study 4 (CNN vs. MLP on MNIST) and study 5 (dogs vs. cats)."""
from __future__ import annotations

import secrets

import numpy as np
import torch

from grader import tolerances as tol
from grader.networks import capture, training
from grader.outputs import experiment_figures
from grader.parts.mnist_cnn import digits   # the part's cached copy: the digits load once per grading
from grader.verdicts import cases
from grader.verdicts.cnn_checks import accuracy
from reference.data.cats_dogs import striped_images
from grader.parts.experiments.common import (RunFailed, add_figures, error_of, not_learned, one_hot,
                                             trained_weights)


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
