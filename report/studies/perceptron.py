"""Study: the perceptron loss against the hinge loss on a tiny linearly separable problem.

Points uniform in the unit square, label ``+1`` if ``x1 > x2`` else ``-1`` (the true separator is
the diagonal ``x1 = x2``). A linear classifier ``sign(w . (x1, x2, 1))`` (a bias included) is
trained on 20 points by full-batch subgradient descent on the mean of ``max(0, a - y w.x)``,
from ``w = 0``, without regularization: ``a = 0`` is the perceptron loss, ``a = 1`` the hinge
loss. The subgradient taken is ``-y x`` wherever ``y w.x <= a`` (at the kink, the end of the
subdifferential that moves ``w``; with ``a = 0`` this is the batch perceptron rule, and at
``w = 0`` it is what lets training start at all). The perceptron stops at the first separator of
the training points, anywhere in the gap between the classes; the hinge loss keeps pushing
until every point is at functional margin 1, which tends to centre the line in the gap. Each
is scored on 1,000 test points, over many redraws of the training set (the test set is fixed),
all redraws trained at once as one batch of independent problems.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from report.studies.common import as_floats

NAME = "perceptron"
TITLE = "7. Perceptron vs hinge loss"
QUESTION = ("On 20 points, how well do the perceptron loss (a = 0) and the hinge loss (a = 1) "
            "find the separator x1 = x2?")
LOSSES = {"perceptron (a = 0)": 0.0, "hinge (a = 1)": 1.0}


@dataclass
class Config:
    train_size: int = 20
    test_size: int = 1000
    redraws: int = 100
    epochs: int = 5000           # full-batch steps
    lr: float = 10.0             # large: on inputs in [0, 1], margin 1 needs |w| of 1 / (the gap)
    seed: int = 0

    @classmethod
    def at_scale(cls, scale: str) -> Config:
        if scale == "smoke":
            return cls(redraws=20)
        return cls()


def draw(rng, shape) -> tuple[np.ndarray, np.ndarray]:
    """Points ``(*shape, 3)`` (x1, x2 uniform in [0, 1), then a constant 1 for the bias) and their
    labels ``(*shape,)`` in {-1, +1}: +1 iff x1 > x2."""
    points = rng.uniform(0.0, 1.0, size=(*shape, 2))
    labels = np.where(points[..., 0] > points[..., 1], 1.0, -1.0)
    return np.concatenate([points, np.ones((*shape, 1))], axis=-1), labels


def train(x: np.ndarray, y: np.ndarray, a: float, epochs: int, lr: float) -> tuple[np.ndarray, np.ndarray]:
    """Subgradient descent on ``mean_i max(0, a - y_i w.x_i)`` for ``R`` independent problems.

    ``x`` (R, n, 3), ``y`` (R, n). Returns ``w`` (R, 3) and the mean training loss per step
    (epochs, R)."""
    w = np.zeros((x.shape[0], x.shape[2]))
    losses = np.empty((epochs, x.shape[0]))
    for step in range(epochs):
        margins = y * np.einsum("rnd,rd->rn", x, w)
        losses[step] = np.maximum(0.0, a - margins).mean(axis=1)
        active = (margins <= a) * y                                   # (R, n): -y x enters the subgradient
        w += lr * np.einsum("rn,rnd->rd", active, x) / x.shape[1]
    return w, losses


def accuracy(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Share of ``(x (n, 3), y (n,))`` that ``sign(w . x)`` gets right, for each row of ``w`` (R, 3);
    ``w . x = 0`` counts as wrong (at ``w = 0`` nothing is classified)."""
    return np.mean(np.sign(w @ x.T) == y, axis=1)


def spread(values) -> dict:
    values = np.asarray(values, dtype=float)
    return {"mean": float(values.mean()), "std": float(values.std()),
            "p5": float(np.percentile(values, 5)), "p95": float(np.percentile(values, 95)),
            "min": float(values.min()), "max": float(values.max())}


def run(config: Config, context) -> dict:
    rng = np.random.default_rng(config.seed)
    test_x, test_y = draw(rng, (config.test_size,))
    train_x, train_y = draw(rng, (config.redraws, config.train_size))
    runs = {}
    for name, a in context.progress(LOSSES.items(), total=len(LOSSES), desc="losses"):
        w, losses = train(train_x, train_y, a, config.epochs, config.lr)
        test = accuracy(w, test_x, test_y)
        trained = np.array([accuracy(w[r:r + 1], train_x[r], train_y[r])[0] for r in range(len(w))])
        # The angle between the learned boundary's normal (w1, w2) and the true one (1, -1) / sqrt 2.
        normal = w[:, :2] / np.maximum(np.linalg.norm(w[:, :2], axis=1, keepdims=True), 1e-300)
        angle = np.degrees(np.arccos(np.clip(normal @ np.array([1.0, -1.0]) / np.sqrt(2), -1, 1)))
        runs[name] = {"a": a, "test_accuracy": as_floats(test), "spread": spread(test),
                      "train_accuracy_mean": float(trained.mean()),
                      "separated_share": float(np.mean(trained == 1.0)),
                      "angle_degrees": spread(angle), "final_loss_mean": float(losses[-1].mean()),
                      "example_w": as_floats(w[0])}
    context.notes.append(f"Data: {config.train_size} training points (redrawn {config.redraws} times) "
                         f"and {config.test_size} fixed test points, uniform in the unit square.")
    for name, result in runs.items():
        context.notes.append(f"{name}: mean test accuracy {result['spread']['mean']:.3f} "
                             f"(std {result['spread']['std']:.3f}); the training set was separated in "
                             f"{100 * result['separated_share']:.0f} % of the redraws.")
    example = {"points": as_floats(train_x[0, :, :2]), "labels": as_floats(train_y[0])}
    return {"runs": runs, "example": example,
            "train_size": config.train_size, "test_size": config.test_size, "redraws": config.redraws,
            "epochs": config.epochs, "lr": config.lr, "seed": config.seed, "scale": context.scale}


def segment_in_square(w) -> tuple[list, list]:
    """The part of the line ``w1 x1 + w2 x2 + w0 = 0`` (``w = (w1, w2, w0)``) inside the unit
    square, as ``(xs, ys)`` of its two ends (empty lists if it misses the square)."""
    w1, w2, w0 = (float(v) for v in w)
    ends = []
    for t in (0.0, 1.0):
        if abs(w2) > 1e-12:                         # crosses x1 = t at x2 = -(w0 + w1 t) / w2
            ends.append((t, -(w0 + w1 * t) / w2))
        if abs(w1) > 1e-12:                         # crosses x2 = t
            ends.append((-(w0 + w2 * t) / w1, t))
    inside = sorted({(round(u, 12), round(v, 12)) for u, v in ends if -1e-9 <= u <= 1 + 1e-9
                     and -1e-9 <= v <= 1 + 1e-9})
    if len(inside) < 2:
        return [], []
    (u0, v0), (u1, v1) = inside[0], inside[-1]
    return [u0, u1], [v0, v1]


def plot(logs: dict) -> dict:
    from report import plots

    points = np.asarray(logs["example"]["points"]).reshape(-1, 2)
    labels = np.asarray(logs["example"]["labels"]).astype(int)
    lines = {"true separator x1 = x2": ([0.0, 1.0], [0.0, 1.0])}
    lines.update({name: segment_in_square(run["example_w"]) for name, run in logs["runs"].items()})
    separators = plots.scatter_figure(
        points, labels, title=f"Learned separators on one draw of {logs['train_size']} training points",
        xlabel="x1", ylabel="x2", lines=lines, legend_title="label / separator")
    accuracies = plots.histograms(
        {f"{logs['redraws']} redraws of the training set": {
            name: run["test_accuracy"] for name, run in logs["runs"].items()}},
        title=f"Test accuracy on {logs['test_size']:,} points, perceptron vs hinge loss",
        xlabel="test accuracy (share of test points)")
    return {"separators": separators, "test_accuracy": accuracies}


def table(logs: dict) -> tuple:
    rows = []
    for name, run in logs["runs"].items():
        s = run["spread"]
        rows.append((name, f"{s['mean']:.3f}", f"{s['std']:.3f}", f"{s['p5']:.3f}", f"{s['p95']:.3f}",
                     f"{run['angle_degrees']['mean']:.1f}", f"{100 * run['separated_share']:.0f} %"))
    return ("loss", "mean test accuracy", "std", "5th percentile", "95th percentile",
            "mean angle to x1 = x2 (degrees)", "training set separated"), rows


def describe(logs: dict) -> dict:
    return {"model": "sign(w1 x1 + w2 x2 + w0), linear with a bias", "parameters": 3,
            "loss": "mean of max(0, a - y w.x), a = 0 (perceptron) and a = 1 (hinge), no regularization",
            "optimizer": (f"full-batch subgradient descent from w = 0, learning rate {logs['lr']:g}, "
                          f"{logs['epochs']:,} steps (subgradient -y x where y w.x <= a)"),
            "data": (f"{logs['train_size']} training points, redrawn {logs['redraws']} times, and "
                     f"{logs['test_size']:,} test points, uniform in the unit square; y = +1 iff x1 > x2"),
            "seed": logs["seed"], "scale": logs["scale"]}
