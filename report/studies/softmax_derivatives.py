"""Study: the derivatives of the softmax, checked against central differences.

For logits ``v`` (C,) and ``o = softmax(v)``, two identities: the Jacobian
``d o_i / d v_j = o_i (delta_ij - o_j)``, and, for the cross-entropy ``L = -sum_i y_i log o_i``
with a one-hot ``y``, ``dL/dv = o - y``. Both are compared, in float64, with central differences
``(f(v + eps e_j) - f(v - eps e_j)) / (2 eps)`` on random logit vectors of several sizes and
scales. The loss is computed as ``logsumexp(v) - v_k`` so that large logits neither overflow nor
round ``log o_k`` to ``-inf``. A sweep over ``eps`` shows the usual trade-off: truncation error
(of order eps^2) for large steps, rounding error (of order 1e-16 / eps) for small ones.

This checks the mathematics, not the student's code; when the student's ``NN.softmax`` is
written it is also compared with the formula on the same logits (and a note says so when it
is not).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NAME = "softmax_derivatives"
TITLE = "8. Softmax derivatives"
QUESTION = "Do d o_i / d v_j = o_i (delta_ij - o_j) and dL/dv = o - y agree with central differences?"
IDENTITIES = ("d o_i / d v_j = o_i (delta_ij - o_j)", "dL/dv = o - y")


@dataclass
class Config:
    sizes: tuple = (2, 5, 10, 100)
    scales: tuple = (1.0, 10.0, 100.0)     # logits ~ scale * N(0, 1)
    epsilon: float = 1e-6                  # the step of the table's check
    sweep: tuple = (-1, -2, -3, -4, -5, -6, -7, -8, -9, -10)   # log10 eps of the figure
    seed: int = 0

    @classmethod
    def at_scale(cls, scale: str) -> Config:
        if scale == "smoke":
            return cls(sizes=(2, 5, 10), scales=(1.0, 10.0))
        return cls()


def softmax(v: np.ndarray) -> np.ndarray:
    """Softmax along the last axis of ``v`` ((C,) or (N, C)), by torch in float64: a numpy
    softmax is Part 1's answer, and the report ships with the student handout."""
    import torch

    return torch.softmax(torch.from_numpy(np.asarray(v, dtype=np.float64)), dim=-1).numpy()


def cross_entropy(v: np.ndarray, k: int) -> float:
    """``-log softmax(v)_k`` of the logits ``v`` (C,), as ``logsumexp(v) - v_k`` by torch."""
    import torch

    t = torch.from_numpy(np.asarray(v, dtype=np.float64))
    return float(torch.logsumexp(t, dim=-1) - t[k])


def jacobian_formula(o: np.ndarray) -> np.ndarray:
    """``J[i, j] = d o_i / d v_j = o_i (delta_ij - o_j)``, (C, C)."""
    return np.diag(o) - np.outer(o, o)


def central_difference(f, v: np.ndarray, eps: float) -> np.ndarray:
    """``d f / d v_j`` by central differences, stacked on the last axis: (*f(v).shape, C)."""
    columns = []
    for j in range(v.size):
        step = np.zeros_like(v)
        step[j] = eps
        columns.append((np.asarray(f(v + step)) - np.asarray(f(v - step))) / (2 * eps))
    return np.stack(columns, axis=-1)


NEGLIGIBLE = 1e-3
"""A derivative whose largest entry is below this (a saturated softmax: ``o`` nearly one-hot) has
no meaningful relative error: the central difference's rounding error (about 1e-16 |f| / eps)
dwarfs it. Such cases count in the absolute column only."""


def errors(v: np.ndarray, k: int, eps: float) -> dict:
    """The largest absolute error of each identity, and the relative one (to the largest exact
    entry; None when that entry is below ``NEGLIGIBLE``)."""
    o = softmax(v)
    y = np.eye(v.size)[k]
    exact = {IDENTITIES[0]: jacobian_formula(o), IDENTITIES[1]: o - y}
    estimate = {IDENTITIES[0]: central_difference(softmax, v, eps),
                IDENTITIES[1]: central_difference(lambda u: cross_entropy(u, k), v, eps)}
    result = {}
    for name in IDENTITIES:
        absolute = float(np.max(np.abs(estimate[name] - exact[name])))
        size = float(np.max(np.abs(exact[name])))
        result[name] = {"absolute": absolute, "relative": absolute / size if size >= NEGLIGIBLE else None,
                        "largest_exact": size}
    return result


def student_softmax(context):
    """The student's ``NN.softmax`` as a function, or ``(None, why)``."""
    network_class = getattr(context.solution, "NN", None)
    if network_class is None:
        return None, "the solution has no class NN"
    try:
        network = network_class(hidden_dims=(4,), seed=0)
    except Exception as error:   # the study does not depend on it: say why and go on
        return None, f"NN(...) failed: {type(error).__name__}: {error}"
    return network.softmax, ""


def check_student(context, vectors) -> dict:
    """The student's softmax against the formula, one vector at a time and as one batch."""
    function, why = student_softmax(context)
    if function is None:
        return {"status": "unavailable", "message": why}
    try:
        worst = 0.0
        for v in vectors:
            got = np.asarray(function(v.copy()), dtype=float)
            worst = max(worst, float(np.max(np.abs(got - softmax(v)))))
        same_size = [v for v in vectors if v.size == max(u.size for u in vectors)]
        batch = np.stack(same_size)
        batch_error = float(np.max(np.abs(np.asarray(function(batch.copy()), dtype=float) - softmax(batch))))
    except NotImplementedError:
        return {"status": "not implemented", "message": "NN.softmax is not implemented yet"}
    except Exception as error:
        return {"status": "failed", "message": f"NN.softmax raised {type(error).__name__}: {error}"}
    return {"status": "checked", "max_abs_error": worst, "batch_max_abs_error": batch_error,
            "batch_shape": list(batch.shape), "message": ""}


def run(config: Config, context) -> dict:
    rng = np.random.default_rng(config.seed)
    cases, vectors = [], []
    for size in config.sizes:
        for scale in config.scales:
            v = scale * rng.standard_normal(size)
            k = int(rng.integers(size))
            vectors.append(v)
            cases.append({"size": size, "scale": scale, "target": k, "errors": errors(v, k, config.epsilon)})
    # The epsilon sweep on one moderate case (the largest size at scale 1).
    v = vectors[config.scales.index(1.0) + len(config.scales) * (len(config.sizes) - 1)] \
        if 1.0 in config.scales else vectors[-1]
    epsilons = [10.0 ** e for e in config.sweep]
    sweep = {name: [] for name in IDENTITIES}
    for eps in context.progress(epsilons, desc="epsilon"):
        for name, error in errors(v, 0, eps).items():
            sweep[name].append(error["absolute"])
    worst = {}
    for name in IDENTITIES:
        relative = [case["errors"][name]["relative"] for case in cases
                    if case["errors"][name]["relative"] is not None]
        worst[name] = {"absolute": max(case["errors"][name]["absolute"] for case in cases),
                       "relative": max(relative) if relative else None,
                       "saturated_cases": len(cases) - len(relative), "cases": len(cases)}
    example = vectors[len(config.scales)] if len(config.sizes) > 1 else vectors[0]   # a size-5-ish vector
    student = check_student(context, vectors)
    context.notes.append("Data: random logit vectors v = scale * N(0, 1) (no data set), float64.")
    if student["status"] == "checked":
        context.notes.append(f"Your NN.softmax matches the formula to {student['max_abs_error']:.1e} "
                             f"(one vector at a time) and {student['batch_max_abs_error']:.1e} "
                             f"(a batch {tuple(student['batch_shape'])}).")
    else:
        context.notes.append(f"Your softmax was not checked: {student['message']}; the identities "
                             "themselves were.")
    return {"cases": cases, "worst": worst, "epsilon": config.epsilon,
            "sweep": {"epsilons": epsilons, "errors": sweep, "size": int(v.size)},
            "example": {"logits": [float(x) for x in example],
                        "jacobian": jacobian_formula(softmax(example)).tolist()},
            "student": student, "sizes": list(config.sizes), "scales": list(config.scales),
            "seed": config.seed, "scale": context.scale}


def plot(logs: dict) -> dict:
    from report import plots

    sweep = logs["sweep"]
    chosen = logs["epsilon"]
    series = {name: (sweep["epsilons"], [max(e, 1e-20) for e in sweep["errors"][name]])
              for name in IDENTITIES}
    marks = {}
    if chosen in sweep["epsilons"]:
        index = sweep["epsilons"].index(chosen)
        marks[f"the table's epsilon = {chosen:g}"] = (chosen,
                                                      max(sweep["errors"][IDENTITIES[0]][index], 1e-20))
    error_figure = plots.line_figure(
        series, title=f"Central differences vs the softmax identities (C = {sweep['size']})",
        xlabel="epsilon (step of the central difference)", ylabel="maximum absolute error",
        logx=True, logy=True, marks=marks)
    jacobian = np.asarray(logs["example"]["jacobian"])
    heat = plots.heatmap(np.round(jacobian, 3),
                         title=f"Softmax Jacobian o_i (delta_ij - o_j), C = {len(jacobian)}",
                         xlabel="j (logit v_j)", ylabel="i (output o_i)",
                         ticks=[str(i) for i in range(len(jacobian))], colorbar_label="d o_i / d v_j")
    return {"error_vs_epsilon": error_figure, "jacobian": heat}


def table(logs: dict) -> tuple:
    rows = []
    for name, worst in logs["worst"].items():
        relative = f"{worst['relative']:.2e}" if worst["relative"] is not None else "n/a"
        if worst["saturated_cases"]:
            relative += f" ({worst['saturated_cases']} of {worst['cases']} saturated cases left out)"
        rows.append((name, f"{worst['absolute']:.2e}", relative))
    student = logs["student"]
    if student["status"] == "checked":
        rows.append(("your NN.softmax = exp(v) / sum exp(v)", f"{student['max_abs_error']:.2e}", ""))
    else:
        rows.append(("your NN.softmax", student["message"], ""))
    return (f"identity (epsilon = {logs['epsilon']:g})", "largest absolute error",
            f"largest relative error (to the largest exact entry, when >= {NEGLIGIBLE:g})"), rows


def describe(logs: dict) -> dict:
    return {"logits": (f"v = scale * N(0, 1), sizes C in {logs['sizes']}, scales in {logs['scales']}, "
                       "a random one-hot target each"),
            "precision": "float64", "parameters": "none (no network: the logits are the variables)",
            "check": f"central differences with epsilon = {logs['epsilon']:g}",
            "seed": logs["seed"], "scale": logs["scale"]}
