"""The NN of ``solution.py`` re-expressed in PyTorch float64, with autograd for the gradients.

All functions take numpy arrays and plain values and return numpy float64 arrays, using the
conventions of ``solution.py``: ``weights = {"W1": (d_0, d_1), "b1": (1, d_1), ...}``, ``A{l}``
pre-activation, ``Z{l}`` activation, ``Z{L}`` the softmax output, one-hot labels ``(N, C)``.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from reference import withheld

ACTIVATIONS = ("relu", "sigmoid", "tanh", "leaky_relu")
LEAKY_SLOPE = 0.01


def _tensor(x, requires_grad: bool = False) -> torch.Tensor:
    array = np.asarray(x, dtype=np.float64)
    return torch.tensor(array, dtype=torch.float64, requires_grad=requires_grad)


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float64, copy=True)


def _torch_activation(name: str, x: torch.Tensor) -> torch.Tensor:
    if name == "relu":
        return torch.relu(x)
    if name == "sigmoid":
        return torch.sigmoid(x)
    if name == "tanh":
        return torch.tanh(x)
    if name == "leaky_relu":
        return torch.nn.functional.leaky_relu(x, LEAKY_SLOPE)
    raise ValueError(f"unknown activation {name!r}")


def activation(name: str, x, grad: bool = False) -> np.ndarray:
    """``name`` applied elementwise to ``x`` (any shape), or its derivative at ``x`` by autograd.

    At the kinks, torch's conventions are the pinned ones: relu'(0) = 0, leaky_relu'(0) = 0.01.
    """
    xt = _tensor(x, requires_grad=grad)
    y = _torch_activation(name, xt)
    if not grad:
        return _numpy(y)
    (dy,) = torch.autograd.grad(y.sum(), xt)
    return _numpy(dy)


def softmax(x) -> np.ndarray:
    """Softmax along the last axis of ``x``, shape ``(C,)`` or ``(N, C)``."""
    return _numpy(torch.softmax(_tensor(x), dim=-1))


def n_layers(weights: dict) -> int:
    """L, the number of weight matrices ``W1 .. WL`` in ``weights``."""
    count = 0
    while f"W{count + 1}" in weights:
        count += 1
    return count


class _DerivativeAtOutput(torch.autograd.Function):
    """The activation, whose backward evaluates act' at its output instead of at its input: the
    classic mistake of passing Z{l} where A{l} belongs. Used only to name that cause."""

    @staticmethod
    def forward(ctx, a, name):
        z = _torch_activation(name, a)
        ctx.save_for_backward(z)
        ctx.name = name
        return z

    @staticmethod
    def backward(ctx, upstream):
        (z,) = ctx.saved_tensors
        with torch.enable_grad():
            at = z.detach().requires_grad_(True)
            (slope,) = torch.autograd.grad(_torch_activation(ctx.name, at).sum(), at)
        return upstream * slope, None


def _forward_tensors(weights_t: dict, x: torch.Tensor, name: str, layers: int,
                     derivative_at: str = "pre-activation") -> dict:
    cache = {"Z0": x}
    z = x
    for layer in range(1, layers + 1):
        a = z @ weights_t[f"W{layer}"] + weights_t[f"b{layer}"]
        if layer == layers:
            z = torch.softmax(a, dim=-1)
        elif derivative_at == "activation":
            z = _DerivativeAtOutput.apply(a, name)
        else:
            z = _torch_activation(name, a)
        cache[f"A{layer}"] = a
        cache[f"Z{layer}"] = z
    return cache


def _weights_tensors(weights: dict, requires_grad: bool = False) -> dict:
    return {k: _tensor(v, requires_grad) for k, v in weights.items() if k[:1] in "Wb"}


def forward(weights: dict, x, name: str) -> dict:
    """The cache ``{"Z0": x, "A1", "Z1", ..., "AL", "ZL"}`` of a forward pass of ``x`` (N, D)."""
    layers = n_layers(weights)
    with torch.no_grad():
        cache = _forward_tensors(_weights_tensors(weights), _tensor(x), name, layers)
    return {k: _numpy(v) for k, v in cache.items()}


def mean_cross_entropy(prediction, labels, epsilon: float) -> float:
    """Mean over the batch of ``-sum(labels * log(clip(prediction, eps, 1 - eps)))``.

    ``prediction`` and ``labels`` have shape ``(N, C)``; a 1-D pair counts as one example.
    """
    p = _tensor(prediction).clamp(epsilon, 1.0 - epsilon)
    y = _tensor(labels)
    if p.dim() == 1:
        p, y = p.unsqueeze(0), y.unsqueeze(0)
    return float(-(y * torch.log(p)).sum() / p.shape[0])


def backward(weights: dict, x, labels, name: str, derivative_at: str = "pre-activation") -> dict:
    """Autograd gradients of the mean cross-entropy (unclipped, through log-softmax).

    Returns ``dA{l}`` (N, d_l) for l = 1..L, ``dZ{l}`` (N, d_l) for l = 1..L-1, ``dW{l}`` and
    ``db{l}`` shaped like ``W{l}`` and ``b{l}``. ``derivative_at="activation"`` gives, instead,
    the gradients of the common mistake that evaluates act' at Z{l} rather than at A{l}.
    """
    layers = n_layers(weights)
    weights_t = _weights_tensors(weights, requires_grad=True)
    cache = _forward_tensors(weights_t, _tensor(x), name, layers, derivative_at)
    for key, value in cache.items():
        if key != "Z0" and key != f"Z{layers}":
            value.retain_grad()
    logits = cache[f"A{layers}"]
    logits.retain_grad()
    y = _tensor(labels)
    loss = -(y * torch.log_softmax(logits, dim=-1)).sum() / logits.shape[0]
    loss.backward()
    grads = {}
    for layer in range(layers, 0, -1):
        grads[f"dA{layer}"] = _numpy(cache[f"A{layer}"].grad)
        grads[f"dW{layer}"] = _numpy(weights_t[f"W{layer}"].grad)
        grads[f"db{layer}"] = _numpy(weights_t[f"b{layer}"].grad)
        if layer > 1:
            grads[f"dZ{layer - 1}"] = _numpy(cache[f"Z{layer - 1}"].grad)
    return grads


def sgd_update(weights: dict, grads: dict, lr: float) -> dict:
    """New weights after one ``torch.optim.SGD`` step with gradients ``grads["d" + key]``, each
    shaped like ``weights[key]`` (the inputs are not changed)."""
    params = {key: _tensor(value, requires_grad=True) for key, value in weights.items()}
    for key, param in params.items():
        if "d" + key not in grads:
            raise KeyError(f"no gradient d{key}")
        param.grad = _tensor(grads["d" + key])
    torch.optim.SGD(list(params.values()), lr=lr).step()
    return {key: _numpy(param) for key, param in params.items()}


def layer_dims(n_features: int, hidden_dims, n_classes: int) -> list:
    """``[d_0, d_1, ..., d_L]``."""
    return [int(n_features), *[int(h) for h in hidden_dims], int(n_classes)]


def glorot_bound(d_in: int, d_out: int) -> float:
    """Half-width ``sqrt(6 / (d_in + d_out))`` of Glorot's uniform initializer."""
    return math.sqrt(6.0 / (d_in + d_out))


def initialize(dims, hidden_dims, method: str, seed) -> dict:
    """A valid draw of the initial weights, by ``torch.nn.init`` (used where a test needs *some*
    correct initialization, never to judge one): ``W{l}`` (d_{l-1}, d_l), ``b{l}`` (1, d_l) zeros.

    ``method`` is "zero", "normal" (N(0, 1)) or "glorot" (U(-sqrt(6/(d_in+d_out)), +...));
    the draw depends only on ``seed`` (an int, or None for a fresh one).
    """
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(int(seed) % 2 ** 63)
    all_dims = layer_dims(dims[0], hidden_dims, dims[1])
    weights = {}
    for layer in range(1, len(all_dims)):
        w = torch.empty(all_dims[layer - 1], all_dims[layer], dtype=torch.float64)
        if method == "zero":
            torch.nn.init.zeros_(w)
        elif method == "normal":
            torch.nn.init.normal_(w, 0.0, 1.0, generator=generator)
        elif method == "glorot":
            # fan_in + fan_out is symmetric, so torch's (out, in) reading of the shape agrees.
            torch.nn.init.xavier_uniform_(w, generator=generator)
        else:
            raise ValueError(f"unknown init_method {method!r}")
        weights[f"W{layer}"] = _numpy(w)
        weights[f"b{layer}"] = np.zeros((1, all_dims[layer]))
    return weights


def loss_and_accuracy(weights: dict, x, labels, name: str, epsilon: float):
    """``(mean cross-entropy, accuracy, predicted classes (N,))`` of the network on ``x`` (N, D)
    with one-hot ``labels`` (N, C)."""
    layers = n_layers(weights)
    with torch.no_grad():
        output = _forward_tensors(_weights_tensors(weights), _tensor(x), name, layers)[f"Z{layers}"]
        predictions = output.argmax(dim=1)
        accuracy = (predictions == _tensor(labels).argmax(dim=1)).double().mean()
    return (mean_cross_entropy(_numpy(output), labels, epsilon), float(accuracy),
            predictions.numpy().copy())


def train(weights: dict, train_data, valid_data, n_epochs: int, batch_size: int, lr: float,
          name: str, epsilon: float):
    """Minibatch SGD (``torch.optim.SGD``) over ``train_data = (X (N, D), Y (N, C))`` in data
    order, the last minibatch possibly smaller, from ``weights``. Returns ``(final weights,
    train_logs)``: per epoch, the accuracy and mean loss on both sets after the epoch."""
    layers = n_layers(weights)
    params = _weights_tensors(weights, requires_grad=True)
    optimizer = torch.optim.SGD(list(params.values()), lr=lr)
    batches = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(*(_tensor(a) for a in train_data)),
        batch_size=batch_size, shuffle=False)
    logs = {"train_accuracy": [], "validation_accuracy": [], "train_loss": [], "validation_loss": []}
    for _ in range(n_epochs):
        for x, y in batches:
            optimizer.zero_grad()
            logits = _forward_tensors(params, x, name, layers)[f"A{layers}"]
            (-(y * torch.log_softmax(logits, dim=-1)).sum() / x.shape[0]).backward()
            optimizer.step()
        current = {key: _numpy(param) for key, param in params.items()}
        for split, (x, y) in (("train", train_data), ("validation", valid_data)):
            loss, accuracy, _ = loss_and_accuracy(current, x, y, name, epsilon)
            logs[f"{split}_loss"].append(loss)
            logs[f"{split}_accuracy"].append(accuracy)
    return {key: _numpy(param) for key, param in params.items()}, logs


def central_differences(weights: dict, x, labels, name: str, epsilon: float, layer: int, p: int,
                        loss_epsilon: float) -> np.ndarray:
    """``(p,)`` central differences of the loss (clipped with ``loss_epsilon``) for the first
    ``p`` entries of ``W{layer}`` in row-major order: the withheld rule
    ``reference/finite_differences.py``, or its outputs on the public cases."""
    inputs = [weights, x, labels, name, epsilon, layer, p, loss_epsilon]
    return withheld.compute("finite_differences", "central", inputs,
                            lambda rule: rule.central(*inputs))


def finite_difference_variants(weights: dict, x, labels, name: str, epsilon: float, layer: int,
                               p: int, loss_epsilon: float) -> dict:
    """``{variant: (p,) estimates}`` of the common wrong forms of ``central_differences`` (the
    variants of ``reference/finite_differences.py``; the grader names their causes)."""
    inputs = [weights, x, labels, name, epsilon, layer, p, loss_epsilon]
    return withheld.compute("finite_differences", "variants", inputs,
                            lambda rule: rule.variants(*inputs))
