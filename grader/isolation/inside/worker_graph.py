"""The worker's side of the network capture: the student's network as plain data, never as code.

Copied beside ``worker_main.py`` into the worker's private directory (as ``_nngrade_graph.py``)
and run next to the student's code, so it decides nothing: what it sends is only a description
the grader rebuilds from its own allow-list, initializes, trains and judges in the trusted
process (``grader/networks``). A description that lies is simply another network, and that
network is what gets judged.

A capture (``capture_network``) is a ``torch.fx`` symbolic trace at module level, once in
training mode and once in evaluation mode (a module of the student's may branch on
``self.training``). torch's own modules and the student's ``BatchNorm2d`` are leaves; the
student's other modules are traced through. The format (``nngrade-graph/1``) is in the grader's
PROTOCOL.md:

- ``modules``: ``{path: {"kind", "attributes", "parameters"}}`` for every leaf called: ``kind``
  is ``torch.nn.<Name>`` for torch's classes (by identity), ``own.BatchNorm2d`` for the
  student's batch norm, else ``other:<module>.<qualname>``; ``attributes`` the leaf's plain
  attributes (ints, floats, bools, strings, tuples of those); ``parameters`` ``{name: {"shape",
  "requires_grad"}}``.
- ``tensors``: ``{target: {"kind": "parameter" | "buffer" | "constant", "shape",
  "requires_grad", "value"?}}`` for every ``get_attr``; values only of 0-D and 1-D parameters and
  of buffers and constants (the grader bounds their total size).
- ``graphs``: ``{"train": [node, ...], "eval": [...]}``; a node is ``{"name", "op", "target",
  "args", "kwargs"}`` with ``op`` one of fx's (``placeholder``, ``get_attr``, ``call_module``,
  ``call_function``, ``call_method``, ``output``). Values in ``args`` and ``kwargs`` are encoded
  by ``_encode``: a node reference ``{"node": name}``, ``{"tuple": [...]}``, ``{"slice": [start,
  stop, step]}``, ``{"dtype": name}``, ``{"ellipsis": true}``, ``{"device": name}``, lists, and
  JSON scalars (``{"float": "inf"}`` for non-finite floats). A node made while autograd was
  off (inside ``torch.no_grad()``, ``torch.inference_mode()``, after
  ``torch.set_grad_enabled(False)``, in a function decorated with one of those) carries
  ``"no_grad": true``: the grader runs it without autograd, as the student's code would.
"""
from __future__ import annotations

import builtins
import math
import operator
import sys
import traceback

import torch
import torch.fx

FORMAT = "nngrade-graph/1"
OWN_BATCHNORM = "own.BatchNorm2d"


def _function_names() -> dict:
    """``{id(callable): "namespace.name"}`` for the namespaces a forward's functions come from."""
    names = {}
    for prefix, namespace in (("torch.nn.functional", torch.nn.functional), ("torch", torch),
                              ("operator", operator), ("builtins", builtins), ("math", math)):
        for attribute in dir(namespace):
            if attribute.startswith("__"):
                continue
            try:
                value = getattr(namespace, attribute)
            except Exception:  # noqa: BLE001 - lazily loaded attributes may fail; skip them
                continue
            if callable(value):
                names.setdefault(id(value), f"{prefix}.{attribute}")
    return names


def _function_name(function, names: dict) -> str:
    known = names.get(id(function))
    if known:
        return known
    module = getattr(function, "__module__", None) or "?"
    return f"other:{module}.{getattr(function, '__qualname__', None) or repr(function)[:80]}"


def _module_kind(module, own_batchnorm: tuple) -> str:
    if own_batchnorm and isinstance(module, own_batchnorm):
        return OWN_BATCHNORM
    cls = type(module)
    if getattr(torch.nn, cls.__name__, None) is cls:
        return f"torch.nn.{cls.__name__}"
    return f"other:{cls.__module__}.{cls.__qualname__}"


def _plain(value):
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, (tuple, list)) and all(isinstance(v, (bool, int, float, str)) for v in value):
        return {"tuple": [_plain(v) for v in value]}
    return None


def _attributes(module) -> dict:
    attributes = {}
    for name, value in vars(module).items():
        if name.startswith("_") or name == "training":
            continue
        plain = _plain(value)
        if plain is not None or value is None:
            attributes[name] = plain
    return attributes


def _encode(value, names: dict):
    if isinstance(value, torch.fx.Node):
        return {"node": value.name}
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, tuple):
        return {"tuple": [_encode(v, names) for v in value]}
    if isinstance(value, list):
        return [_encode(v, names) for v in value]
    if isinstance(value, dict):
        return {"dict": {str(k): _encode(v, names) for k, v in value.items()}}
    if isinstance(value, slice):
        return {"slice": [_encode(value.start, names), _encode(value.stop, names),
                          _encode(value.step, names)]}
    if value is Ellipsis:
        return {"ellipsis": True}
    if isinstance(value, torch.dtype):
        return {"dtype": str(value).replace("torch.", "")}
    if isinstance(value, torch.device):
        return {"device": str(value)}
    if isinstance(value, torch.layout):
        return {"layout": str(value).replace("torch.", "")}
    if isinstance(value, torch.memory_format):
        return {"memory_format": str(value).replace("torch.", "")}
    return {"unsupported": f"{type(value).__module__}.{type(value).__qualname__}"}


class _Tracer(torch.fx.Tracer):
    """torch's modules (fx's default) and the student's BatchNorm2d are leaves."""

    def __init__(self, own_batchnorm: tuple):
        super().__init__()
        self.own_batchnorm = own_batchnorm

    def create_node(self, *args, **kwargs):
        # fx runs forward's Python for real, context managers included: a node made while
        # autograd is off belongs to a no_grad (or inference_mode) region of the student's code
        node = super().create_node(*args, **kwargs)
        node.meta["nngrade_no_grad"] = not torch.is_grad_enabled()
        return node

    def is_leaf_module(self, module, qualified_name):
        if self.own_batchnorm and isinstance(module, self.own_batchnorm):
            return True
        # torch's classes by identity, not by the module name they claim (``__module__`` can be
        # rewritten); fx's own rule covers the rest of torch.nn
        if _module_kind(module, ()).startswith("torch.nn."):
            return not isinstance(module, torch.nn.Sequential)
        return super().is_leaf_module(module, qualified_name)


def _where_in_submission(error: BaseException, filename: str) -> dict:
    """The last frame of the submission in ``error``'s traceback: ``{"line", "source"}``."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if frame.filename == filename]
    if not frames:
        return {}
    return {"line": frames[-1].lineno, "source": (frames[-1].line or "")[:200]}


def _trace(model, own_batchnorm, names: dict) -> tuple[list, set, set]:
    """The nodes of one fx trace, and the leaf paths and get_attr targets it uses."""
    # traced with autograd on, whatever the caller's mode, and restored after (a forward that
    # calls torch.set_grad_enabled(False) leaves it off)
    previous = torch.is_grad_enabled()
    torch.set_grad_enabled(True)
    try:
        graph = _Tracer(own_batchnorm).trace(model)
    finally:
        torch.set_grad_enabled(previous)
    nodes, leaves, attributes = [], set(), set()
    for node in graph.nodes:
        target = node.target
        if node.op == "call_function":
            target = _function_name(node.target, names)
        elif node.op == "call_module":
            leaves.add(node.target)
        elif node.op == "get_attr":
            attributes.add(node.target)
        record = {"name": node.name, "op": node.op,
                  "target": target if isinstance(target, str) else repr(target)[:80],
                  "args": _encode(tuple(node.args), names)["tuple"],
                  "kwargs": {k: _encode(v, names) for k, v in node.kwargs.items()}}
        if node.meta.get("nngrade_no_grad") and node.op not in ("placeholder", "output"):
            record["no_grad"] = True
        nodes.append(record)
    return nodes, leaves, attributes


def _tensor_record(model, target: str, parameters: dict, buffers: dict) -> dict:
    if target in parameters:
        tensor, kind = parameters[target], "parameter"
    elif target in buffers:
        tensor, kind = buffers[target], "buffer"
    else:  # a constant fx kept as an attribute of the traced module, or a plain tensor attribute
        # (fx sets constants it meets, "_tensor_constant0", as attributes of the traced model)
        kind = "constant"
        owner, _, name = target.rpartition(".")
        try:
            tensor = getattr(model.get_submodule(owner) if owner else model, name)
        except AttributeError:
            tensor = None
    if not isinstance(tensor, torch.Tensor):
        return {"kind": kind, "shape": None}
    record = {"kind": kind, "shape": list(tensor.shape),
              "requires_grad": bool(tensor.requires_grad), "dtype": str(tensor.dtype)}
    if kind != "parameter" or tensor.dim() <= 1:
        record["value"] = tensor.detach().to("cpu", torch.float64).numpy().copy()
    return record


def capture_network(model: torch.nn.Module, own_batchnorm: tuple, example: torch.Tensor,
                    filename: str) -> dict:
    """The description of ``model`` (format above), or ``{"error": {...}}`` saying what could
    not be traced and where in the submission. ``own_batchnorm``: the classes that are the
    student's batch norm (leaves of kind ``own.BatchNorm2d``)."""
    names = _function_names()
    # A forward pass first: lazy layers (LazyLinear) get their shapes and become plain layers.
    model.eval()
    with torch.no_grad():
        model(example)
    graphs, leaves, targets = {}, set(), set()
    for mode in ("train", "eval"):
        model.train(mode == "train")
        try:
            nodes, used, attributes = _trace(model, own_batchnorm, names)
        except Exception as error:  # noqa: BLE001 - reported as data for the grader to explain
            return {"error": {"mode": mode, "type": type(error).__name__,
                              "message": str(error)[:1500],
                              **_where_in_submission(error, filename)}}
        graphs[mode], leaves, targets = nodes, leaves | used, targets | attributes
    model.train()
    modules = {}
    named = dict(model.named_modules())
    for path in sorted(leaves):
        module = named.get(path)
        if module is None:
            continue
        modules[path] = {
            "kind": _module_kind(module, own_batchnorm), "attributes": _attributes(module),
            "parameters": {name: {"shape": list(p.shape), "requires_grad": bool(p.requires_grad)}
                           for name, p in module.named_parameters(recurse=False)},
            "buffers": {name: list(b.shape) for name, b in module.named_buffers(recurse=False)}}
    parameters = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    tensors = {target: _tensor_record(model, target, parameters, buffers) for target in sorted(targets)}
    return {"format": FORMAT, "modules": modules, "tensors": tensors, "graphs": graphs}


def describe_optimizer(optimizer, model: torch.nn.Module) -> dict:
    """The optimizer as a spec: its torch.optim family (the first class of its MRO that is
    torch.optim's own), whether its class is that family itself, and per parameter group the
    parameters' names and the plain hyper-parameters."""
    if not isinstance(optimizer, torch.optim.Optimizer):
        return {"error": f"make_cats_dogs_optimizer returned {type(optimizer).__qualname__}, "
                         "not a torch.optim.Optimizer"}
    family = next((c.__name__ for c in type(optimizer).__mro__
                   if getattr(torch.optim, c.__name__, None) is c), None)
    names = {id(p): name for name, p in model.named_parameters()}
    groups = []
    for group in optimizer.param_groups:
        hyper = {}
        for key, value in group.items():
            if key == "params":
                continue
            plain = _plain(value)
            if plain is not None or value is None:
                hyper[key] = plain
        groups.append({"params": [names.get(id(p), "?") for p in group["params"]],
                       "hyperparameters": hyper})
    return {"family": family, "class": f"{type(optimizer).__module__}.{type(optimizer).__qualname__}",
            "own_class": family is None or getattr(torch.optim, family) is not type(optimizer),
            "groups": groups}



def capture_layer_steps(module: torch.nn.Module, shapes: dict) -> dict:
    """A layer (the student's BatchNorm2d) as operator graphs, one per ``{mode: input shape}``
    of ``shapes``: a ``make_fx`` trace of one float64 forward pass, at the level of torch's
    operators (``aten.mean.dim``, ``aten.mul_.Tensor``, ...), with Python control flow and
    shape arithmetic run concretely and in-place updates of buffers kept as in-place operators
    on the buffer inputs. Placeholders, in order: the parameters, the buffers, the input. Also
    the layer's parameters and buffers (names, shapes and initial values)."""
    from torch.fx.experimental.proxy_tensor import make_fx

    module = module.double()
    known = _function_names()
    parameters = dict(module.named_parameters())
    buffers = dict(module.named_buffers())
    names = [*(f"parameter:{n}" for n in parameters), *(f"buffer:{n}" for n in buffers), "input"]
    graphs = {}
    for mode, shape in shapes.items():
        module.train(mode == "train")

        def forward(*flat):
            # The traced tensors take the place of the layer's own for one call; the buffers as
            # they are after it are returned too, so that an update by reassignment
            # (``self.running_mean = ...``) is captured as well as an in-place one.
            saved = dict(module._parameters), dict(module._buffers)
            count = len(parameters)
            module._parameters.update(zip(parameters, flat[:count], strict=False))
            module._buffers.update(zip(buffers, flat[count:count + len(buffers)], strict=False))
            try:
                out = module(flat[-1])
                after = [module._buffers.get(name) for name in buffers]
            finally:
                module._parameters.clear()
                module._parameters.update(saved[0])
                module._buffers.clear()
                module._buffers.update(saved[1])
            return (out, *after)

        inputs = [p.detach().clone() for p in parameters.values()]
        inputs += [b.detach().clone() for b in buffers.values()]
        inputs.append(torch.zeros(tuple(shape), dtype=torch.float64))
        try:
            traced = make_fx(forward)(*inputs)
        except Exception as error:  # noqa: BLE001 - reported as data for the grader to explain
            return {"error": {"mode": mode, "type": type(error).__name__,
                              "message": str(error)[:1500],
                              **_where_in_submission(error, getattr(
                                  sys.modules.get("solution"), "__file__", ""))}}
        nodes, constants = [], {}
        for node in traced.graph.nodes:
            target = node.target
            if node.op == "call_function":
                target = str(node.target) if isinstance(node.target, torch._ops.OpOverload) \
                    else _function_name(node.target, known)
            elif node.op == "get_attr":
                value = getattr(traced, node.target, None)
                if isinstance(value, torch.Tensor):
                    constants[node.target] = value.detach().to("cpu", torch.float64).numpy().copy()
            nodes.append({"name": node.name, "op": node.op,
                          "target": target if isinstance(target, str) else repr(target)[:80],
                          "args": _encode(tuple(node.args), {})["tuple"],
                          "kwargs": {k: _encode(v, {}) for k, v in node.kwargs.items()}})
        graphs[mode] = {"nodes": nodes, "constants": constants}
    module.train()

    def record(tensor):
        return {"shape": list(tensor.shape), "requires_grad": bool(tensor.requires_grad),
                "value": tensor.detach().to("cpu", torch.float64).numpy().copy()}

    return {"format": "nngrade-layer/1", "inputs": names,
            "parameters": {n: record(p) for n, p in parameters.items()},
            "buffers": {n: record(b) for n, b in buffers.items()}, "graphs": graphs}
