"""What the grader rebuilds a captured network from: torch's modules, functions and tensor methods
it knows, by name, and nothing else.

A captured graph (``grader/isolation/inside/worker_graph.py``) names every operation. A name is
looked up here and only here: an unknown name is refused with the list of what is known, never
resolved with ``getattr`` on a module. Each module kind has a builder that reads the attributes it
needs from the capture, checks their types and bounds, and constructs a fresh torch module (so the
grader, not the student, initializes it).

The Kaggle rules are read from the same tables: ``LIBRARY_NORMALIZATION`` and ``LIBRARY_DROPOUT``
hold the names of the library forms the cats-and-dogs network may not use.
"""
from __future__ import annotations

import operator

import torch
import torch.nn.functional as F
from torch import nn

OWN_BATCHNORM = "own.BatchNorm2d"
"""The kind of the student's BatchNorm2d in a capture (see ``worker_graph``)."""

MAX_CHANNELS = 8192
MAX_KERNEL = 64


class BuildError(ValueError):
    """A module's captured attributes cannot make a module of its kind."""


class StandInBatchNorm2d(nn.BatchNorm2d):
    """torch's BatchNorm2d in place of the student's in a rebuilt network: the student's own is
    graded in its part (batchnorm2d), so a bug in it must not cost points in the network parts
    too. Accepts (N, C) as well as (N, C, H, W), as a student's layer may."""

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")


# -- reading captured attributes ----------------------------------------------------------------

def _int(attributes: dict, name: str, default=None, low: int = 0, high: int = MAX_CHANNELS) -> int:
    value = attributes.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BuildError(f"{name}={value!r} is not an integer in [{low}, {high}]")
    return value


def _float(attributes: dict, name: str, default=None, allow_none: bool = False):
    value = attributes.get(name, default)
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not abs(value) < 1e6:
        raise BuildError(f"{name}={value!r} is not a finite number")
    return float(value)


def _bool(attributes: dict, name: str, default=None) -> bool:
    value = attributes.get(name, default)
    if not isinstance(value, bool):
        raise BuildError(f"{name}={value!r} is not True or False")
    return value


def _ints(attributes: dict, name: str, default=None, low: int = 0, high: int = MAX_KERNEL,
          allow: tuple = ()):
    """An int or a tuple of ints (a capture encodes tuples as ``{"tuple": [...]}``)."""
    value = attributes.get(name, default)
    if isinstance(value, str) and value in allow:
        return value
    if isinstance(value, dict) and set(value) == {"tuple"}:
        value = tuple(value["tuple"])
    items = value if isinstance(value, tuple) else (value,)
    if not 1 <= len(items) <= 3 or any(isinstance(v, bool) or not isinstance(v, int)
                                       or not low <= v <= high for v in items):
        raise BuildError(f"{name}={value!r} is not an integer (or tuple of them) in [{low}, {high}]")
    return value


def _has(parameters: dict, name: str) -> bool:
    return isinstance(parameters, dict) and name in parameters


def _choice(attributes: dict, name: str, default, allowed: tuple):
    value = attributes.get(name, default)
    if value not in allowed:
        raise BuildError(f"{name}={value!r} is not one of {allowed}")
    return value


# -- module kinds ------------------------------------------------------------------------------

def _conv2d(a, p):
    return nn.Conv2d(_int(a, "in_channels", low=1), _int(a, "out_channels", low=1),
                     _ints(a, "kernel_size", low=1), stride=_ints(a, "stride", 1, low=1),
                     padding=_ints(a, "padding", 0, allow=("same", "valid")),
                     dilation=_ints(a, "dilation", 1, low=1), groups=_int(a, "groups", 1, low=1),
                     bias=_has(p, "bias"),
                     padding_mode=_choice(a, "padding_mode", "zeros",
                                          ("zeros", "reflect", "replicate", "circular")))


def _linear(a, p):
    return nn.Linear(_int(a, "in_features", low=1, high=1 << 20),
                     _int(a, "out_features", low=1, high=1 << 20), bias=_has(p, "bias"))


def _pool(cls, with_dilation: bool):
    def build(a, p):
        kwargs = dict(kernel_size=_ints(a, "kernel_size", low=1),
                      stride=_ints(a, "stride", None, low=1) if a.get("stride") is not None else None,
                      padding=_ints(a, "padding", 0), ceil_mode=_bool(a, "ceil_mode", False))
        if with_dilation:
            kwargs["dilation"] = _ints(a, "dilation", 1, low=1)
        else:
            kwargs["count_include_pad"] = _bool(a, "count_include_pad", True)
        return cls(**kwargs)
    return build


def _adaptive(cls):
    def build(a, p):
        size = a.get("output_size")
        if isinstance(size, dict) and set(size) == {"tuple"}:
            size = tuple(size["tuple"])
        items = size if isinstance(size, tuple) else (size,)
        if any(v is not None and (isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 512)
               for v in items):
            raise BuildError(f"output_size={size!r} is not a size in [1, 512]")
        return cls(size)
    return build


def _batchnorm(cls):
    def build(a, p):
        return cls(_int(a, "num_features", low=1), eps=_float(a, "eps", 1e-5),
                   momentum=_float(a, "momentum", 0.1, allow_none=True),
                   affine=_bool(a, "affine", True),
                   track_running_stats=_bool(a, "track_running_stats", True))
    return build


def _own_batchnorm(a, p):
    """The student's layer, as torch's: its channel count from ``num_features`` or else from the
    length of its 1-D parameters and buffers (``p`` holds both); eps and momentum where the
    student kept them under the template's names, torch's defaults otherwise (they do not
    change what the network can learn: the grader re-estimates the statistics after training)."""
    count = a.get("num_features")
    if isinstance(count, bool) or not isinstance(count, int):
        lengths = {tuple(spec.get("shape") or ()) for spec in p.values() if isinstance(spec, dict)}
        lengths = {shape[0] for shape in lengths if len(shape) == 1}
        if len(lengths) != 1:
            raise BuildError("its number of channels is neither num_features nor the length of "
                             "its weight and running statistics")
        count = lengths.pop()
    count = _int({"num_features": count}, "num_features", low=1)
    eps, momentum = a.get("eps"), a.get("momentum")
    eps = eps if isinstance(eps, float) and 0 < eps < 1 else 1e-5
    momentum = momentum if isinstance(momentum, float) and 0 <= momentum <= 1 else 0.1
    return StandInBatchNorm2d(count, eps=eps, momentum=momentum)


def _layer_norm(a, p):
    shape = _ints(a, "normalized_shape", low=1, high=1 << 20)
    return nn.LayerNorm(shape, eps=_float(a, "eps", 1e-5),
                        elementwise_affine=_bool(a, "elementwise_affine", True))


def _no_arguments(cls):
    return lambda a, p: cls()


def _dropout(cls):
    def build(a, p):
        rate = _float(a, "p", 0.5)
        if not 0 <= rate <= 1:
            raise BuildError(f"p={rate} is not a probability")
        return cls(rate)
    return build


MODULES = {
    "torch.nn.Conv2d": _conv2d,
    "torch.nn.Linear": _linear,
    "torch.nn.MaxPool2d": _pool(nn.MaxPool2d, with_dilation=True),
    "torch.nn.AvgPool2d": _pool(nn.AvgPool2d, with_dilation=False),
    "torch.nn.AdaptiveAvgPool2d": _adaptive(nn.AdaptiveAvgPool2d),
    "torch.nn.AdaptiveMaxPool2d": _adaptive(nn.AdaptiveMaxPool2d),
    "torch.nn.Flatten": lambda a, p: nn.Flatten(_int(a, "start_dim", 1, low=-8, high=8),
                                                _int(a, "end_dim", -1, low=-8, high=8)),
    "torch.nn.Identity": _no_arguments(nn.Identity),
    "torch.nn.ReLU": _no_arguments(nn.ReLU),
    "torch.nn.ReLU6": _no_arguments(nn.ReLU6),
    "torch.nn.LeakyReLU": lambda a, p: nn.LeakyReLU(_float(a, "negative_slope", 0.01)),
    "torch.nn.ELU": lambda a, p: nn.ELU(_float(a, "alpha", 1.0)),
    "torch.nn.CELU": lambda a, p: nn.CELU(_float(a, "alpha", 1.0)),
    "torch.nn.SELU": _no_arguments(nn.SELU),
    "torch.nn.GELU": lambda a, p: nn.GELU(_choice(a, "approximate", "none", ("none", "tanh"))),
    "torch.nn.SiLU": _no_arguments(nn.SiLU),
    "torch.nn.Mish": _no_arguments(nn.Mish),
    "torch.nn.Sigmoid": _no_arguments(nn.Sigmoid),
    "torch.nn.Tanh": _no_arguments(nn.Tanh),
    "torch.nn.Hardswish": _no_arguments(nn.Hardswish),
    "torch.nn.Softplus": lambda a, p: nn.Softplus(_float(a, "beta", 1.0), _float(a, "threshold", 20.0)),
    "torch.nn.PReLU": lambda a, p: nn.PReLU(_int(a, "num_parameters", 1, low=1)),
    "torch.nn.Softmax": lambda a, p: nn.Softmax(_int(a, "dim", None, low=-8, high=8)
                                                if a.get("dim") is not None else None),
    "torch.nn.LogSoftmax": lambda a, p: nn.LogSoftmax(_int(a, "dim", None, low=-8, high=8)
                                                      if a.get("dim") is not None else None),
    "torch.nn.Dropout": _dropout(nn.Dropout),
    "torch.nn.Dropout1d": _dropout(nn.Dropout1d),
    "torch.nn.Dropout2d": _dropout(nn.Dropout2d),
    "torch.nn.AlphaDropout": _dropout(nn.AlphaDropout),
    "torch.nn.BatchNorm1d": _batchnorm(nn.BatchNorm1d),
    "torch.nn.BatchNorm2d": _batchnorm(nn.BatchNorm2d),
    "torch.nn.InstanceNorm2d": lambda a, p: nn.InstanceNorm2d(
        _int(a, "num_features", low=1), eps=_float(a, "eps", 1e-5), affine=_bool(a, "affine", False)),
    "torch.nn.LayerNorm": _layer_norm,
    "torch.nn.GroupNorm": lambda a, p: nn.GroupNorm(_int(a, "num_groups", low=1),
                                                    _int(a, "num_channels", low=1),
                                                    eps=_float(a, "eps", 1e-5),
                                                    affine=_bool(a, "affine", True)),
    "torch.nn.LocalResponseNorm": lambda a, p: nn.LocalResponseNorm(
        _int(a, "size", low=1), _float(a, "alpha", 1e-4), _float(a, "beta", 0.75), _float(a, "k", 1.0)),
    "torch.nn.Unflatten": lambda a, p: nn.Unflatten(
        _int(a, "dim", low=-8, high=8), _ints(a, "unflattened_size", low=1, high=1 << 20)),
    "torch.nn.ZeroPad2d": lambda a, p: nn.ZeroPad2d(_ints(a, "padding", low=0)),
    "torch.nn.ConstantPad2d": lambda a, p: nn.ConstantPad2d(_ints(a, "padding", low=0),
                                                            _float(a, "value", 0.0)),
    "torch.nn.Hardtanh": lambda a, p: nn.Hardtanh(_float(a, "min_val", -1.0), _float(a, "max_val", 1.0)),
    "torch.nn.Hardsigmoid": _no_arguments(nn.Hardsigmoid),
    "torch.nn.LogSigmoid": _no_arguments(nn.LogSigmoid),
    "torch.nn.Softsign": _no_arguments(nn.Softsign),
    "torch.nn.Tanhshrink": _no_arguments(nn.Tanhshrink),
    "torch.nn.Softmax2d": _no_arguments(nn.Softmax2d),
    "torch.nn.ConvTranspose2d": lambda a, p: nn.ConvTranspose2d(
        _int(a, "in_channels", low=1), _int(a, "out_channels", low=1), _ints(a, "kernel_size", low=1),
        stride=_ints(a, "stride", 1, low=1), padding=_ints(a, "padding", 0),
        output_padding=_ints(a, "output_padding", 0), groups=_int(a, "groups", 1, low=1),
        bias=_has(p, "bias"), dilation=_ints(a, "dilation", 1, low=1)),
    "torch.nn.Upsample": lambda a, p: nn.Upsample(
        scale_factor=_float(a, "scale_factor", None, allow_none=True),
        mode=_choice(a, "mode", "nearest", ("nearest", "bilinear"))),
    OWN_BATCHNORM: _own_batchnorm,
}
"""``{kind: builder(attributes, parameters) -> torch module}`` for every module a network may hold."""


# -- functions and tensor methods --------------------------------------------------------------

def _named(prefix: str, namespace, names: str) -> dict:
    return {f"{prefix}.{name}": getattr(namespace, name) for name in names.split()}


FUNCTIONS = {
    **_named("torch.nn.functional", F,
             "relu relu6 leaky_relu elu selu celu gelu silu mish sigmoid tanh hardtanh hardswish "
             "softplus softmax log_softmax max_pool2d avg_pool2d adaptive_avg_pool2d "
             "adaptive_max_pool2d conv2d linear pad normalize dropout dropout1d dropout2d "
             "alpha_dropout feature_alpha_dropout batch_norm layer_norm group_norm instance_norm "
             "local_response_norm"),
    **_named("torch", torch,
             "relu sigmoid tanh flatten cat concat stack add sub mul div matmul mm bmm mean sum "
             "amax amin softmax log_softmax exp log sqrt rsqrt reshape transpose permute squeeze "
             "unsqueeze clamp abs neg pow maximum minimum where zeros_like ones_like rand_like "
             "randn_like bernoulli square var std max_pool2d conv2d dropout gt lt ge le eq ne "
             "sign floor ceil round logical_not logical_and logical_or argmax "
             "feature_dropout alpha_dropout batch_norm layer_norm group_norm instance_norm"),
    **_named("operator", operator,
             "add sub mul truediv floordiv matmul getitem neg pow iadd isub imul itruediv gt lt ge le "
             "eq ne and_ or_ invert not_"),
    "builtins.getattr": getattr,
}
"""``{name in a capture: callable}`` for ``call_function`` nodes."""

TENSOR_ATTRIBUTES = frozenset({"shape", "ndim", "dtype", "device", "T"})
"""What ``getattr(tensor, name)`` may read in a rebuilt graph."""

METHODS = frozenset((
    "view reshape flatten unflatten size dim numel relu sigmoid tanh softmax log_softmax mean sum "
    "amax amin max min contiguous permute transpose unsqueeze squeeze float mul add sub div "
    "matmul exp log pow sqrt rsqrt clamp abs neg view_as reshape_as expand expand_as var std t "
    "type_as bernoulli detach masked_fill repeat chunk split le lt ge gt to cpu cuda square "
    "mul_ add_ div_ sub_ relu_ clamp_ sigmoid_ tanh_ eq ne bool long int double half sign floor "
    "round prod norm argmax").split())
"""Tensor methods a ``call_method`` node may call (``to``, ``cpu``, ``cuda`` keep the tensor on
the grader's device: only a dtype argument of ``to`` is honoured)."""

LIBRARY_NORMALIZATION = frozenset({
    "torch.nn.BatchNorm1d", "torch.nn.BatchNorm2d", "torch.nn.InstanceNorm2d", "torch.nn.LayerNorm",
    "torch.nn.GroupNorm", "torch.nn.LocalResponseNorm",
    "torch.nn.functional.batch_norm", "torch.nn.functional.layer_norm",
    "torch.nn.functional.group_norm", "torch.nn.functional.instance_norm",
    "torch.nn.functional.local_response_norm", "torch.nn.functional.normalize",
    "torch.batch_norm", "torch.layer_norm", "torch.group_norm", "torch.instance_norm"})
"""Library normalization, as module kinds and function names (the Kaggle rules forbid them)."""

LIBRARY_DROPOUT = frozenset({
    "torch.nn.Dropout", "torch.nn.Dropout1d", "torch.nn.Dropout2d", "torch.nn.AlphaDropout",
    "torch.nn.functional.dropout", "torch.nn.functional.dropout1d", "torch.nn.functional.dropout2d",
    "torch.nn.functional.alpha_dropout", "torch.nn.functional.feature_alpha_dropout",
    "torch.dropout", "torch.feature_dropout", "torch.alpha_dropout"})
"""Library dropout, as module kinds and function names (the Kaggle rules forbid them)."""

CONVOLUTIONS = frozenset({"torch.nn.Conv2d", "torch.nn.functional.conv2d", "torch.conv2d"})

SOFTMAX = frozenset({"torch.nn.Softmax", "torch.nn.LogSoftmax", "torch.nn.functional.softmax",
                     "torch.nn.functional.log_softmax", "torch.softmax", "torch.log_softmax",
                     "method:softmax", "method:log_softmax"})
RELU = frozenset({"torch.nn.ReLU", "torch.nn.ReLU6", "torch.nn.functional.relu",
                  "torch.nn.functional.relu6", "torch.relu", "method:relu", "method:relu_"})
"""Operations that, applied last, make a network's output something other than logits."""

OPTIMIZER_FAMILIES = ("SGD", "RMSprop", "Adagrad", "Adadelta", "ASGD", "Rprop",
                      "Adam", "AdamW", "Adamax", "NAdam", "RAdam")
"""torch.optim classes the grader rebuilds an optimizer as (the declared spec)."""

ADAM_FAMILY = frozenset({"Adam", "AdamW", "Adamax", "NAdam", "RAdam", "SparseAdam"})
"""Optimizers the Kaggle rules forbid."""

OPTIMIZER_SETTINGS_IGNORED = frozenset({"foreach", "fused", "differentiable", "capturable",
                                        "initial_lr"})
"""Hyper-parameters of a group that concern how torch runs, not what it computes."""
