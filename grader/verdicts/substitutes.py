"""Reference versions of the NN's methods, served to the worker through callbacks.

When a test grades one part, the worker replaces the student's other methods by proxies; each
proxy call arrives here with its arguments and the attributes of the student's object (weights,
activation name, ...), and is answered by ``reference.mlp``. The answer key therefore stays in
this process. Inputs come from the student side, so they are checked (types, shapes, sizes)
before any work is done with them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from grader.verdicts.styles import ACTIVATION_SPELLINGS, INIT_METHOD_SPELLINGS
from reference import mlp

SUBSTITUTABLE = ("initialize_weights", "relu", "sigmoid", "tanh", "leaky_relu", "activation",
                 "softmax", "forward", "backward", "update", "loss", "compute_loss_and_accuracy",
                 "one_hot")
"""Every NN method a test may replace by its reference version (``one_hot``: the integer-label
templates' conversion, see ``verdicts.styles``)."""

SPELLINGS = {theirs: ours for table in (ACTIVATION_SPELLINGS, INIT_METHOD_SPELLINGS)
             for ours, others in table.items() for theirs in others}
"""Other templates' spellings of a method, ``activation_str`` or ``init_method`` (from
``verdicts.styles``), answered as the interface's name: {"leakyrelu": "leaky_relu", ...}; a name
in another case (``"ReLU"``) is looked up in lower case."""

MAX_ELEMENTS = 5_000_000
"""Largest array a proxy may hand to the reference: bounds the work a submission can ask for."""


def all_but(*tested: str) -> tuple:
    """The methods to substitute when grading ``tested``: every other substitutable one."""
    return tuple(name for name in SUBSTITUTABLE if name not in tested)


def _array(value, what: str) -> np.ndarray:
    if isinstance(value, (list, tuple)):
        value = np.asarray(value)
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
        raise TypeError(f"{what} must be a numeric numpy array, got {type(value).__name__}")
    if value.size > MAX_ELEMENTS:
        raise ValueError(f"{what} has {value.size} elements (limit {MAX_ELEMENTS})")
    return value.astype(np.float64)


def _weights(state: dict) -> dict:
    weights = state.get("weights")
    if not isinstance(weights, dict):
        raise TypeError("self.weights is not a dict")
    clean = {str(k): _array(v, f"self.weights[{k!r}]") for k, v in weights.items()
             if isinstance(k, str) and k[:1] in "Wb" and k[1:].isdigit()}
    layers = mlp.n_layers(clean)
    if layers == 0:
        raise ValueError("self.weights has no W1")
    for layer in range(1, layers + 1):
        w, b = clean.get(f"W{layer}"), clean.get(f"b{layer}")
        if b is None or w.ndim != 2 or b.size != w.shape[1]:
            raise ValueError(f"W{layer} / b{layer} have inconsistent shapes")
        clean[f"b{layer}"] = b.reshape(1, -1)
        if layer > 1 and clean[f"W{layer - 1}"].shape[1] != w.shape[0]:
            raise ValueError(f"W{layer - 1} and W{layer} do not chain")
    return clean


def _argument(args: list, kwargs: dict, position: int, name: str, default=None, required=True):
    if len(args) > position:
        return args[position]
    if name in kwargs:
        return kwargs[name]
    if required:
        raise TypeError(f"missing argument {name!r}")
    return default


def _activation_name(state: dict) -> str:
    name = state.get("activation_str")
    if isinstance(name, str) and name not in mlp.ACTIVATIONS:
        # The file's own spelling (``verdicts.styles``): another case, or another name.
        name = SPELLINGS.get(name.lower(), name.lower())
    if name not in mlp.ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}")
    return name


def _inputs(x: np.ndarray, weights: dict) -> np.ndarray:
    if x.ndim != 2 or x.shape[1] != weights["W1"].shape[0]:
        raise ValueError(f"x has shape {x.shape}; W1 expects (N, {weights['W1'].shape[0]})")
    return x


def _one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """One-hot rows ``(N, n_classes)`` of integer labels ``(N,)``."""
    if labels.ndim != 1 or not np.all(labels == np.round(labels)):
        raise ValueError("integer labels must be a 1-d array of whole numbers")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels outside 0 .. {n_classes - 1}")
    if labels.size * n_classes > MAX_ELEMENTS:
        raise ValueError(f"{labels.size} labels of {n_classes} classes are too many")
    return np.eye(n_classes)[labels.astype(np.int64)]


def reference_call(name: str, args: list, kwargs: dict, state: dict):
    """Compute what the method ``name`` of a correct NN returns for these arguments."""
    name = SPELLINGS.get(name, name)
    if name in ("relu", "sigmoid", "tanh", "leaky_relu", "activation"):
        x = _array(_argument(args, kwargs, 0, "x"), "x")
        grad = bool(_argument(args, kwargs, 1, "grad", False, required=False))
        function = _activation_name(state) if name == "activation" else name
        return mlp.activation(function, x, grad)
    if name == "softmax":
        return mlp.softmax(_array(_argument(args, kwargs, 0, "x"), "x"))
    if name == "forward":
        weights = _weights(state)
        x = _inputs(_array(_argument(args, kwargs, 0, "x"), "x"), weights)
        return mlp.forward(weights, x, _activation_name(state))
    if name == "backward":
        weights = _weights(state)
        cache = _argument(args, kwargs, 0, "cache")
        if not isinstance(cache, dict) or "Z0" not in cache:
            raise TypeError("cache must be the dict returned by forward (with Z0)")
        x = _inputs(_array(cache["Z0"], "cache['Z0']"), weights)
        labels = _array(_argument(args, kwargs, 1, "labels"), "labels")
        if labels.shape != (x.shape[0], weights[f"W{mlp.n_layers(weights)}"].shape[1]):
            raise ValueError(f"labels have shape {labels.shape}, which does not match the batch")
        return mlp.backward(weights, x, labels, _activation_name(state))
    if name == "update":
        weights = _weights(state)
        grads = _argument(args, kwargs, 0, "grads")
        if not isinstance(grads, dict):
            raise TypeError("grads must be a dict")
        clean = {}
        for key, value in weights.items():
            grad = _array(grads.get("d" + key), f"grads['d{key}']") if ("d" + key) in grads else None
            if grad is None:
                raise KeyError(f"grads has no d{key}")
            if grad.size != value.size:
                raise ValueError(f"d{key} has shape {grad.shape}, {key} has {value.shape}")
            clean["d" + key] = grad.reshape(value.shape)
        return mlp.sgd_update(weights, clean, float(state.get("lr")))
    if name == "loss":
        prediction = _array(_argument(args, kwargs, 0, "prediction"), "prediction")
        labels = _array(_argument(args, kwargs, 1, "labels"), "labels")
        if prediction.shape != labels.shape:
            raise ValueError(f"prediction {prediction.shape} and labels {labels.shape} differ")
        return mlp.mean_cross_entropy(prediction, labels, float(state.get("epsilon")))
    if name == "compute_loss_and_accuracy":
        weights = _weights(state)
        x = _inputs(_array(_argument(args, kwargs, 0, "X"), "X"), weights)
        labels = _array(_argument(args, kwargs, 1, "y"), "y")
        if labels.ndim == 1:  # integer labels (the integer-label templates)
            labels = _one_hot(labels, weights[f"W{mlp.n_layers(weights)}"].shape[1])
        if labels.shape != (x.shape[0], weights[f"W{mlp.n_layers(weights)}"].shape[1]):
            raise ValueError(f"y has shape {labels.shape}, which does not match the batch")
        loss, accuracy, predictions = mlp.loss_and_accuracy(
            weights, x, labels, _activation_name(state), float(state.get("epsilon")))
        return loss, accuracy, predictions
    if name == "one_hot":
        labels = _array(_argument(args, kwargs, 0, "y"), "y")
        n_classes = state.get("n_classes")
        if not isinstance(n_classes, int) or isinstance(n_classes, bool):
            n_classes = int(labels.max()) + 1 if labels.size else 0
        return _one_hot(labels, n_classes)
    if name == "initialize_weights":
        dims = _argument(args, kwargs, 0, "dims")
        if not (isinstance(dims, (list, tuple)) and len(dims) == 2):
            raise TypeError("dims must be [n_features, n_classes]")
        hidden = state.get("hidden_dims")
        if not isinstance(hidden, (list, tuple)) or not all(isinstance(h, int) for h in hidden):
            raise TypeError("self.hidden_dims must be a sequence of ints")
        dims = [int(d) for d in dims]
        if sum(a * b for a, b in zip([dims[0], *hidden], [*hidden, dims[1]], strict=True)) > MAX_ELEMENTS:
            raise ValueError("the network is too large")
        method = str(state.get("init_method"))
        if method not in INIT_METHOD_SPELLINGS:
            method = SPELLINGS.get(method.lower(), method.lower())   # "Glorot", "zeros"
        return mlp.initialize(dims, hidden, method, state.get("seed"))
    raise ValueError(f"no reference for {name!r}")


@dataclass
class CallbackLog:
    """Serves reference callbacks and remembers which were made (for diagnoses)."""

    calls: list = field(default_factory=list)

    def __call__(self, name: str, args: list, kwargs: dict, state: dict):
        value = reference_call(name, args, kwargs, state)
        self.calls.append(name)
        return value

    def clear(self) -> None:
        self.calls.clear()

    def names(self) -> list:
        return list(self.calls)
