"""The experiments part: practical study 8, adaptive optimizers."""
from __future__ import annotations

import secrets

import numpy as np
import torch

from grader import tolerances as tol
from grader.outputs import experiment_figures
from grader.verdicts import cases
from reference import mlp, optim
from grader.parts.experiments.common import (CALL_TIMEOUT_S, RunFailed, add_figures,
                                             balanced_digits, loss_of, path_error)


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
