"""Known wrong numpy versions of the NN's parts, computed to name the likely cause of a failure.

Each function here is a part of the assignment done as a frequent bug does it, in float64 numpy,
as student code computes it. Each is one edit from the right answer (a default argument, an axis,
where ``eps`` sits), so reading this module would answer the parts: it is a withheld rule module
(``reference/withheld.py``), present in the instructor's repository and left out of the student
handout. The grader asks for these variants through ``withheld.compute`` (see
``grader/verdicts/nn_parts.py``, ``optimizer_patterns.py`` and ``grader/test_batchnorm.py``); in
the handout their outputs on the public tests' cases stand in for them, so the handout's grader
names the same causes on the public tests, and on other inputs the hypotheses are absent.

The causes' wording stays with the grader; the variants are keyed by short names here.
"""
from __future__ import annotations

import numpy as np

from reference import mlp


# -- backward --------------------------------------------------------------------------------------

def backward_by_chain_rule(weights, cache, labels, name, *, derivative="of A",
                           transpose_square=False, dw_input="Z") -> dict:
    """Gradients of the mean loss by the chain rule in float64 numpy, with one step done as a
    known bug does it: ``derivative`` "of A" (right), "missing" (dA{l} = dZ{l}) or "value"
    (dZ{l} * act(A{l})); ``transpose_square``: dZ{l-1} = dA{l} @ W{l} on square layers;
    ``dw_input`` "A": dW{l} = A{l-1}.T @ dA{l} for l > 1.

    ``weights``: {"W{l}": (d_{l-1}, d_l), "b{l}": (1, d_l)}; ``cache``: the forward cache
    (``A{l}``, ``Z{l}`` (N, d_l), ``Z0`` the inputs); ``labels``: one-hot (N, C)."""
    layers = mlp.n_layers(weights)
    grads = {}
    d_a = (cache[f"Z{layers}"] - labels) / labels.shape[0]
    for layer in range(layers, 0, -1):
        grads[f"dA{layer}"] = d_a
        source = cache[f"A{layer - 1}"] if dw_input == "A" and layer > 1 else cache[f"Z{layer - 1}"]
        grads[f"dW{layer}"] = source.T @ d_a
        grads[f"db{layer}"] = d_a.sum(axis=0, keepdims=True)
        if layer > 1:
            w = weights[f"W{layer}"]
            d_z = d_a @ (w if transpose_square and w.shape[0] == w.shape[1] else w.T)
            grads[f"dZ{layer - 1}"] = d_z
            a = cache[f"A{layer - 1}"]
            if derivative == "missing":
                d_a = d_z
            elif derivative == "value":
                d_a = d_z * mlp.activation(name, a)
            else:
                d_a = d_z * mlp.activation(name, a, grad=True)
    return grads


def backward_variants(weights, x, labels, name) -> dict:
    """``{variant: gradients}`` of the chain-rule mistakes that apply to this network (more than
    one layer; "transpose_square" only where a layer after the first is square), for the batch
    ``x`` (N, D) with one-hot ``labels`` (N, C). The cache is computed here, not passed in: the
    recorded outputs are found by their inputs, and the rng's inputs are the same on every
    machine, where torch's forward may differ in the last bit."""
    if mlp.n_layers(weights) < 2:
        return {}
    cache = mlp.forward(weights, x, name)
    variants = {kind: backward_by_chain_rule(weights, cache, labels, name, derivative=kind)
                for kind in ("missing", "value")}
    variants["dw_input"] = backward_by_chain_rule(weights, cache, labels, name, dw_input="A")
    if any(weights[f"W{layer}"].shape[0] == weights[f"W{layer}"].shape[1]
           for layer in range(2, mlp.n_layers(weights) + 1)):
        variants["transpose_square"] = backward_by_chain_rule(weights, cache, labels, name,
                                                              transpose_square=True)
    return variants


# -- softmax ---------------------------------------------------------------------------------------

def _shifted_softmax(x: np.ndarray, shift, axis=-1) -> np.ndarray:
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        e = np.exp(x - shift)
        return e / np.sum(e, axis=axis, keepdims=True)


def softmax_variants(x) -> dict:
    """``{variant: output}`` of softmax's mistakes on ``x`` ((C,) or (N, C)): "unshifted" (nothing
    subtracted before exp); on a batch also "batch_max" (the whole batch's maximum subtracted),
    "column_max", "axis0" (normalized along the columns) and "whole" (over the whole array). NaN
    and Inf fall where the student's code puts them."""
    x = np.asarray(x, dtype=np.float64)
    variants = {"unshifted": _shifted_softmax(x, np.zeros(()))}
    if x.ndim == 2:
        variants["batch_max"] = _shifted_softmax(x, np.max(x))
        variants["column_max"] = _shifted_softmax(x, np.max(x, axis=0, keepdims=True))
        variants["axis0"] = _shifted_softmax(x, np.max(x, axis=0, keepdims=True), axis=0)
        with np.errstate(over="ignore", invalid="ignore"):
            e = np.exp(x - x.max())
            variants["whole"] = e / e.sum()
    return variants


# -- optimizers ------------------------------------------------------------------------------------

def _run(params: dict, stream: list, update, weight_decay: float = 0.0) -> list[dict]:
    """Apply ``update(param, g, state) -> new param`` step by step, with torch's weight decay
    (``g + weight_decay * param``); the parameters after each step."""
    current = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
    states = {k: {} for k in current}
    snapshots = []
    for grads in stream:
        for key in current:
            g = np.asarray(grads["d" + key], np.float64) + weight_decay * current[key]
            current[key] = update(current[key], g, states[key])
        snapshots.append({k: v.copy() for k, v in current.items()})
    return snapshots


def optimizer_variants(name: str, hyper: dict, params: dict, stream: list) -> dict:
    """``{variant: trajectory}`` of the numpy mistakes of optimizer ``name`` (a trajectory is the
    parameters after each step of ``stream``): Adam's "no_correction" and "eps_inside";
    Momentum's and Nesterov's "dampened"; AdaGrad's and RMSProp's "eps_inside"; AdaGrad's
    "forgetful". The mistakes computed with torch stay with the grader."""
    decay = hyper.get("weight_decay", 0.0)
    variants = {}
    if name == "Adam":
        beta1, beta2 = hyper.get("betas", (0.9, 0.999))
        eps, lr = hyper.get("eps", 1e-8), hyper.get("lr", 1e-3)

        def no_correction(p, g, s):
            s["m"] = beta1 * s.get("m", 0) + (1 - beta1) * g
            s["v"] = beta2 * s.get("v", 0) + (1 - beta2) * g * g
            return p - lr * s["m"] / (np.sqrt(s["v"]) + eps)

        def eps_inside(p, g, s):
            s["t"] = s.get("t", 0) + 1
            s["m"] = beta1 * s.get("m", 0) + (1 - beta1) * g
            s["v"] = beta2 * s.get("v", 0) + (1 - beta2) * g * g
            m_hat, v_hat = s["m"] / (1 - beta1 ** s["t"]), s["v"] / (1 - beta2 ** s["t"])
            return p - lr * m_hat / np.sqrt(v_hat + eps)

        variants["no_correction"] = _run(params, stream, no_correction, decay)
        variants["eps_inside"] = _run(params, stream, eps_inside, decay)
    if name in ("Momentum", "Nesterov"):
        momentum, lr = hyper.get("momentum", 0.9), hyper.get("lr", 0.0)

        def dampened(p, g, s):
            s["v"] = momentum * s.get("v", 0) + (1 - momentum) * g
            return p - lr * (g + momentum * s["v"] if name == "Nesterov" else s["v"])

        variants["dampened"] = _run(params, stream, dampened, decay)
    if name in ("AdaGrad", "RMSProp"):
        eps = hyper.get("eps", 1e-10 if name == "AdaGrad" else 1e-8)
        alpha = 1.0 if name == "AdaGrad" else hyper.get("alpha", 0.99)
        lr = hyper.get("lr", 0.01)

        def inside(p, g, s):
            keep = s.get("r", 0)
            s["r"] = keep + g * g if name == "AdaGrad" else alpha * keep + (1 - alpha) * g * g
            return p - lr * g / np.sqrt(s["r"] + eps)

        variants["eps_inside"] = _run(params, stream, inside, decay)
    if name == "AdaGrad":
        eps, lr = hyper.get("eps", 1e-10), hyper.get("lr", 0.01)

        def forgetful(p, g, s):
            return p - lr * g / (np.sqrt(g * g) + eps)

        variants["forgetful"] = _run(params, stream, forgetful, decay)
    return variants


# -- batchnorm -------------------------------------------------------------------------------------

def batchnorm_variants(state: dict, steps: list, eps: float, momentum: float) -> dict:
    """``{variant: per-step records}`` of BatchNorm's mistakes over ``steps`` from ``state``
    (gamma, beta, running_mean, running_var, each (1, D)); ``steps`` = [{"x": (N, D), "dout":
    (N, D), "train": bool}, ...]. A record holds the quantities the variant changes in that step
    (``out``, ``dx``, ``running_mean``, ``running_var``; none where the step is right):
    "unbiased_normalization", "flipped_momentum", "biased_running_var", "batch_stats_in_eval",
    "constant_statistics" (backward), "frozen_running"."""
    names = ("unbiased_normalization", "flipped_momentum", "biased_running_var",
             "batch_stats_in_eval", "constant_statistics", "frozen_running")
    results = {name: [] for name in names}
    mean_r, var_r = state["running_mean"].copy(), state["running_var"].copy()
    flipped_mean, flipped_var = mean_r.copy(), var_r.copy()
    biased_var = var_r.copy()
    gamma, beta = state["gamma"], state["beta"]
    for step in steps:
        x, dout, n = step["x"], step["dout"], step["x"].shape[0]
        mean, var = x.mean(0, keepdims=True), x.var(0, keepdims=True)
        unbiased = var * n / (n - 1)
        records = dict.fromkeys(names)
        if step["train"]:
            records["unbiased_normalization"] = {
                "out": gamma * (x - mean) / np.sqrt(unbiased + eps) + beta}
            flipped_mean = momentum * flipped_mean + (1 - momentum) * mean
            flipped_var = momentum * flipped_var + (1 - momentum) * unbiased
            records["flipped_momentum"] = {"running_mean": flipped_mean.copy(),
                                           "running_var": flipped_var.copy()}
            biased_var = (1 - momentum) * biased_var + momentum * var
            records["biased_running_var"] = {"running_var": biased_var.copy()}
            records["constant_statistics"] = {"dx": dout * gamma / np.sqrt(var + eps)}
            records["frozen_running"] = {"running_mean": state["running_mean"],
                                         "running_var": state["running_var"]}
        else:
            records["batch_stats_in_eval"] = {"out": gamma * (x - mean) / np.sqrt(var + eps) + beta}
        for name in names:
            results[name].append(records[name] or {})
    return results
