"""The experiments part: practical study 5, batch norm on LeNet-5."""
from __future__ import annotations

import secrets

import numpy as np
import torch

from grader import tolerances as tol
from grader.networks import capture
from grader.outputs import experiment_figures
from grader.parts.mnist_cnn import digits   # the part's cached copy: the digits load once per grading
from grader.parts.experiments.common import add_figures, not_learned


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
