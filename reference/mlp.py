"""The NN of ``solution.py`` re-expressed in PyTorch float64, with autograd for the gradients.

All functions take numpy arrays and plain values and return numpy float64 arrays, using the
conventions of ``solution.py``: ``weights = {"W1": (d_0, d_1), "b1": (1, d_1), ...}``, ``A{l}``
pre-activation, ``Z{l}`` activation, ``Z{L}`` the softmax output, one-hot labels ``(N, C)``.
"""
from __future__ import annotations

import math

import numpy as np
import torch

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


def _forward_tensors(weights_t: dict, x: torch.Tensor, name: str, layers: int) -> dict:
    cache = {"Z0": x}
    z = x
    for layer in range(1, layers + 1):
        a = z @ weights_t[f"W{layer}"] + weights_t[f"b{layer}"]
        z = torch.softmax(a, dim=-1) if layer == layers else _torch_activation(name, a)
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


def backward(weights: dict, x, labels, name: str) -> dict:
    """Autograd gradients of the mean cross-entropy (unclipped, through log-softmax).

    Returns ``dA{l}`` (N, d_l) for l = 1..L, ``dZ{l}`` (N, d_l) for l = 1..L-1, ``dW{l}`` and
    ``db{l}`` shaped like ``W{l}`` and ``b{l}``.
    """
    layers = n_layers(weights)
    weights_t = _weights_tensors(weights, requires_grad=True)
    cache = _forward_tensors(weights_t, _tensor(x), name, layers)
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
    """New weights ``W{l} - lr * dW{l}``, ``b{l} - lr * db{l}`` (the inputs are not changed)."""
    updated = {}
    for key, value in weights.items():
        grad = grads.get("d" + key)
        if grad is None:
            raise KeyError(f"no gradient d{key}")
        updated[key] = _numpy(_tensor(value) - lr * _tensor(grad))
    return updated


def layer_dims(n_features: int, hidden_dims, n_classes: int) -> list:
    """``[d_0, d_1, ..., d_L]``."""
    return [int(n_features), *[int(h) for h in hidden_dims], int(n_classes)]


def glorot_bound(d_in: int, d_out: int) -> float:
    """Half-width ``sqrt(6 / (d_in + d_out))`` of Glorot's uniform initializer."""
    return math.sqrt(6.0 / (d_in + d_out))


def initialize(dims, hidden_dims, method: str, seed) -> dict:
    """A valid draw of the initial weights (used where a test needs *some* correct init)."""
    rng = np.random.RandomState(seed)
    all_dims = layer_dims(dims[0], hidden_dims, dims[1])
    weights = {}
    for layer in range(1, len(all_dims)):
        d_in, d_out = all_dims[layer - 1], all_dims[layer]
        if method == "zero":
            w = np.zeros((d_in, d_out))
        elif method == "normal":
            w = rng.normal(0.0, 1.0, size=(d_in, d_out))
        elif method == "glorot":
            bound = glorot_bound(d_in, d_out)
            w = rng.uniform(-bound, bound, size=(d_in, d_out))
        else:
            raise ValueError(f"unknown init_method {method!r}")
        weights[f"W{layer}"] = w
        weights[f"b{layer}"] = np.zeros((1, d_out))
    return weights


def loss_and_accuracy(weights: dict, x, labels, name: str, epsilon: float):
    """``(mean cross-entropy, accuracy, predicted classes (N,))`` of the network on ``x``."""
    output = forward(weights, x, name)[f"Z{n_layers(weights)}"]
    predictions = np.argmax(output, axis=1)
    accuracy = float(np.mean(np.argmax(np.asarray(labels), axis=1) == predictions))
    return mean_cross_entropy(output, labels, epsilon), accuracy, predictions


def train(weights: dict, train_data, valid_data, n_epochs: int, batch_size: int, lr: float,
          name: str, epsilon: float):
    """Minibatch SGD in data order from ``weights``; returns ``(final weights, train_logs)``."""
    x_train, y_train = (np.asarray(a, dtype=np.float64) for a in train_data)
    x_valid, y_valid = (np.asarray(a, dtype=np.float64) for a in valid_data)
    logs = {"train_accuracy": [], "validation_accuracy": [], "train_loss": [], "validation_loss": []}
    n_batches = math.ceil(x_train.shape[0] / batch_size)
    for _ in range(n_epochs):
        for batch in range(n_batches):
            rows = slice(batch * batch_size, (batch + 1) * batch_size)
            grads = backward(weights, x_train[rows], y_train[rows], name)
            weights = sgd_update(weights, grads, lr)
        train_loss, train_accuracy, _ = loss_and_accuracy(weights, x_train, y_train, name, epsilon)
        valid_loss, valid_accuracy, _ = loss_and_accuracy(weights, x_valid, y_valid, name, epsilon)
        logs["train_accuracy"].append(train_accuracy)
        logs["validation_accuracy"].append(valid_accuracy)
        logs["train_loss"].append(train_loss)
        logs["validation_loss"].append(valid_loss)
    return weights, logs


def central_differences(weights: dict, x, labels, name: str, epsilon: float, layer: int, p: int,
                        loss_epsilon: float) -> np.ndarray:
    """``(p,)`` central differences ``(loss(theta_i + eps) - loss(theta_i - eps)) / (2 eps)`` for
    the first ``p`` entries of ``W{layer}`` in row-major order (the loss clips with ``loss_epsilon``)."""
    layers = n_layers(weights)
    estimates = np.zeros(p)
    for i in range(p):
        values = []
        for sign in (1.0, -1.0):
            perturbed = {k: np.array(v, dtype=np.float64) for k, v in weights.items()}
            w = perturbed[f"W{layer}"]
            index = np.unravel_index(i, w.shape)
            w[index] = w[index] + sign * epsilon
            output = forward(perturbed, x, name)[f"Z{layers}"]
            values.append(mean_cross_entropy(output, labels, loss_epsilon))
        estimates[i] = (values[0] - values[1]) / (2.0 * epsilon)
    return estimates
