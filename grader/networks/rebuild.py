"""Rebuild a captured network in the trusted process, from the allow-list only.

``rebuild(capture)`` checks a capture (the plain data ``worker_graph.capture_network`` sends: its
format is in PROTOCOL.md) against the stated sizes, builds each module fresh from
``allowlist.MODULES`` (the grader initializes every parameter), and returns a ``Network``: a
``torch.nn.Module`` whose ``forward`` walks the captured nodes, calling only allow-listed
functions, methods and modules. ``measure`` then runs it once on the meta device to bound its
compute and memory before any real input reaches it. Anything that cannot be resolved raises
``GraphRefused`` with the reason, which the caller shows as the verdict: an unresolved network
is never passed.
"""
from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from grader import tolerances as tol
from grader.networks import allowlist

NODE_OPS = ("placeholder", "get_attr", "call_module", "call_function", "call_method", "output")


class GraphRefused(ValueError):
    """The capture cannot be rebuilt; the message says what and, where it can, how to fix it."""


def _decode(value, env: dict, device):
    """A captured argument as a Python value, with node references looked up in ``env``."""
    if isinstance(value, list):
        return [_decode(v, env, device) for v in value]
    if not isinstance(value, dict):
        return value
    if "node" in value:
        return env[value["node"]]
    if "tuple" in value:
        return tuple(_decode(v, env, device) for v in value["tuple"])
    if "slice" in value:
        return slice(*(_decode(v, env, device) for v in value["slice"]))
    if "dtype" in value:
        return _DTYPES[value["dtype"]]
    if "device" in value:
        return device
    if "ellipsis" in value:
        return Ellipsis
    if "layout" in value:
        return torch.strided
    if "memory_format" in value:
        return _MEMORY_FORMATS.get(value["memory_format"], torch.preserve_format)
    if "float" in value:
        return float(value["float"])
    if "dict" in value:
        return {k: _decode(v, env, device) for k, v in value["dict"].items()}
    raise GraphRefused(f"an argument of a kind the grader cannot rebuild: {value}")


_MEMORY_FORMATS = {"contiguous_format": torch.contiguous_format,
                   "preserve_format": torch.preserve_format, "channels_last": torch.channels_last}

_DTYPES = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
           "bfloat16": torch.bfloat16, "int64": torch.int64, "int32": torch.int32,
           "bool": torch.bool, "uint8": torch.uint8}


def _check_argument(value, earlier: set, where: str, literals: list) -> None:
    """Refuse references to later or unknown nodes and encodings outside the format; count the
    scalar literals (a table of labels could hide in them)."""
    if isinstance(value, list):
        for v in value:
            _check_argument(v, earlier, where, literals)
        return
    if isinstance(value, (bool, int, float, str)) or value is None:
        literals.append(1)
        if isinstance(value, str) and len(value) > 64:
            raise GraphRefused(f"{where}: a string argument of {len(value)} characters")
        return
    if not isinstance(value, dict) or len(value) != 1:
        raise GraphRefused(f"{where}: an argument the format does not allow: {str(value)[:80]}")
    (key, inner), = value.items()
    if key == "node":
        if inner not in earlier:
            raise GraphRefused(f"{where}: refers to {inner!r}, which is not an earlier node")
    elif key in ("tuple", "slice"):
        _check_argument(list(inner) if isinstance(inner, list) else [inner], earlier, where, literals)
    elif key == "dict":
        if not isinstance(inner, dict):
            raise GraphRefused(f"{where}: a malformed keyword dictionary")
        _check_argument(list(inner.values()), earlier, where, literals)
    elif key == "dtype":
        if inner not in _DTYPES:
            raise GraphRefused(f"{where}: the dtype {inner!r} is not one the grader rebuilds")
    elif key == "unsupported":
        raise GraphRefused(f"{where}: passes a {inner} object, which the capture cannot send "
                           "as data; pass numbers, tuples or tensors")
    elif key == "float":
        if inner not in ("inf", "-inf", "nan"):
            raise GraphRefused(f"{where}: a malformed number {inner!r}")
    elif key not in ("device", "ellipsis", "layout", "memory_format"):
        raise GraphRefused(f"{where}: an argument the format does not allow: {key!r}")


def _target_name(node: dict) -> str:
    """The operation a node performs, in the allow-list's spelling (methods as ``method:name``)."""
    return f"method:{node['target']}" if node["op"] == "call_method" else str(node["target"])


def _grader_parameter(spec: dict) -> torch.Tensor:
    """A parameter the student's module holds outside torch's layers, drawn by the grader (from
    the RNG state ``rebuild`` seeds): 2 or more dimensions as torch's Linear and Conv2d draw
    their weights; 0 or 1 dimensions (a scale, a bias) filled with its one value when the
    student filled it with one (``torch.ones``, ``zeros``, ``full``), else drawn normally with the
    mean and spread of the student's values. Either way at most two of the student's numbers
    reach the rebuilt network: learned values cannot ride in a parameter."""
    shape = tuple(spec["shape"])
    tensor = torch.empty(shape)
    if len(shape) >= 2:
        nn.init.kaiming_uniform_(tensor, a=math.sqrt(5))
        return tensor
    value = np.asarray(spec.get("value"), dtype=np.float64).reshape(-1)
    finite = value[np.isfinite(value)]
    if finite.size == 0:
        return tensor.zero_()
    if np.all(finite == finite[0]):
        return tensor.fill_(float(finite[0]))
    return tensor.normal_(float(finite.mean()), float(finite.std()))


def _reset_buffer(value: np.ndarray) -> np.ndarray:
    """A floating buffer of the student's own module (not one of torch's layers, whose buffers
    are rebuilt with the layer's defaults), reset by the grader: kept when all its entries are
    equal (the way buffers are initialized: zeros, ones), else every entry set to their mean, so
    that a buffer holds one of the student's numbers, never a table (a trained classifier kept
    with ``register_buffer`` loses its weights)."""
    finite = value[np.isfinite(value)] if value.size else value
    fill = float(finite.mean()) if finite.size else 0.0
    if finite.size and np.all(finite == finite[0]):
        fill = float(finite[0])
    return np.full(value.shape, fill)


class Network(nn.Module):
    """A network the grader built from a capture: ``forward`` interprets the captured nodes of
    the current mode (``train`` or ``eval``) with the grader's own modules and tensors.

    ``layers``: the rebuilt leaf modules (keys are the captured paths with ``.`` as ``/``);
    ``parameter_names``: ``{captured parameter name: parameter}``, the names an optimizer
    description uses. ``kinds``: ``{captured path: kind}``."""

    def __init__(self, capture: dict):
        super().__init__()
        self.graphs = capture["graphs"]
        self.kinds = {path: spec["kind"] for path, spec in capture["modules"].items()}
        self.layers = nn.ModuleDict()
        self.tensors = nn.ParameterDict()
        self.parameter_names: dict[str, nn.Parameter] = {}
        self._constants: dict[str, str] = {}
        self.observe = None
        """Called with every intermediate value while set (``measure`` counts them)."""
        for path, spec in capture["modules"].items():
            builder = allowlist.MODULES[spec["kind"]]
            shapes = dict(spec.get("parameters") or {})
            if spec["kind"] == allowlist.OWN_BATCHNORM and isinstance(spec.get("buffers"), dict):
                shapes.update({name: {"shape": shape} for name, shape in spec["buffers"].items()})
            try:
                module = builder(spec.get("attributes") or {}, shapes)
            except (allowlist.BuildError, TypeError, ValueError, RuntimeError) as error:
                raise GraphRefused(f"the layer {path} ({spec['kind'].replace('torch.nn.', '')}) "
                                   f"cannot be rebuilt: {error}") from None
            reported = spec.get("parameters") or {}
            for name, parameter in module.named_parameters(recurse=False):
                flags = reported.get(name) if isinstance(reported, dict) else None
                if spec["kind"] == allowlist.OWN_BATCHNORM and flags is None:
                    # torch's layer has a parameter the student's does not (a weight kept as a
                    # plain tensor, a bug of part batchnorm2d): not one an optimizer must cover
                    continue
                if isinstance(flags, dict) and flags.get("requires_grad") is False:
                    parameter.requires_grad_(False)
                self.parameter_names[f"{path}.{name}"] = parameter
            self.layers[path.replace(".", "/")] = module
        for index, (target, spec) in enumerate(sorted(capture["tensors"].items())):
            key = f"t{index}"
            self._constants[target] = key
            shape = tuple(spec["shape"])
            if spec["kind"] == "parameter":
                parameter = nn.Parameter(_grader_parameter(spec), requires_grad=bool(
                    spec.get("requires_grad", True)))
                self.tensors[key] = parameter
                self.parameter_names[target] = parameter
            else:
                value = np.asarray(spec.get("value"), dtype=np.float64)
                floating = str(spec.get("dtype", "float32")).startswith("torch.float")
                if spec["kind"] == "buffer" and floating:
                    value = _reset_buffer(value)
                dtype = torch.float32 if floating else torch.int64
                self.register_buffer(f"constant_{key}", torch.as_tensor(value).reshape(shape).to(dtype))

    def _tensor(self, target: str):
        key = self._constants[target]
        return self.tensors[key] if key in self.tensors else getattr(self, f"constant_{key}")

    def forward(self, x):
        device = x.device
        env = {}
        for node in self.graphs["train" if self.training else "eval"]:
            op = node["op"]
            if op == "placeholder":
                value = x if not env else _decode(node["args"][0] if node["args"] else None,
                                                  env, device)
            else:
                args = _decode(node["args"], env, device)
                kwargs = {k: _decode(v, env, device) for k, v in node["kwargs"].items()}
                if op == "output":
                    return args[0]
                if node.get("no_grad"):
                    # made inside the student's no_grad (or inference_mode) region: run the
                    # same way, so that nothing computed there can be trained through
                    with torch.no_grad():
                        value = self._run(node, args, kwargs)
                else:
                    value = self._run(node, args, kwargs)
            env[node["name"]] = value
            if self.observe is not None:
                self.observe(value)
        raise GraphRefused("the graph has no output")

    def _run(self, node: dict, args: list, kwargs: dict):
        op, target = node["op"], node["target"]
        if op == "get_attr":
            return self._tensor(target)
        if op == "call_module":
            return self.layers[target.replace(".", "/")](*args, **kwargs)
        if op == "call_function":
            function = allowlist.FUNCTIONS[target]
            if function is getattr and len(args) == 2 and args[1] == "data" \
                    and isinstance(args[0], torch.Tensor):
                # ``.data``: the same values, cut from autograd, as torch gives them
                return args[0].detach()
            if function is getattr and (len(args) != 2 or not isinstance(args[0], torch.Tensor)
                                        or args[1] not in allowlist.TENSOR_ATTRIBUTES):
                raise GraphRefused(f"forward reads an attribute the grader does not rebuild: "
                                   f"{args[1:]!r}")
            return function(*args, **kwargs)
        receiver = args[0] if args else None  # call_method
        if not isinstance(receiver, torch.Tensor):
            raise GraphRefused(f".{target}() is called on a {type(receiver).__name__}, not a tensor")
        if target in ("cpu", "cuda"):
            return receiver
        if target == "to":
            dtypes = [a for a in (*args[1:], *kwargs.values()) if isinstance(a, torch.dtype)]
            return receiver.to(dtypes[0]) if dtypes else receiver
        return getattr(receiver, target)(*args[1:], **kwargs)

    def operations(self, mode: str | None = None) -> list[tuple[str, str]]:
        """``(name, node name)`` of every operation in the graphs (both modes unless ``mode``):
        module kinds, function names and ``method:name``."""
        found = []
        for graph_mode, nodes in self.graphs.items():
            if mode not in (None, graph_mode):
                continue
            for node in nodes:
                if node["op"] == "call_module":
                    found.append((self.kinds.get(node["target"], "?"), node["target"]))
                elif node["op"] in ("call_function", "call_method"):
                    found.append((_target_name(node), node["name"]))
        return found

    def last_operation(self, mode: str = "eval") -> str | None:
        """The operation whose result ``forward`` returns in ``mode`` (``None`` if that is the
        input or a constant)."""
        nodes = {node["name"]: node for node in self.graphs[mode]}
        output = nodes.get(next((n["name"] for n in self.graphs[mode] if n["op"] == "output"), ""))
        result = output["args"][0] if output and output["args"] else None
        while isinstance(result, dict) and "node" in result:
            node = nodes[result["node"]]
            if node["op"] == "call_module":
                return self.kinds.get(node["target"])
            if node["op"] in ("call_function", "call_method"):
                name = _target_name(node)
                # a reshape of the result does not change what the values are
                if name in ("method:view", "method:reshape", "method:squeeze", "method:flatten",
                            "torch.flatten", "torch.squeeze", "torch.reshape", "torch.nn.Flatten"):
                    result = node["args"][0] if node["args"] else None
                    continue
                return name
            return None
        return None


def _float_settings(value) -> int:
    """How many float numbers a layer's captured ``attributes`` hold (nested lists included;
    integers, such as sizes and channels, are the network's structure and are not counted)."""
    if isinstance(value, float):
        return 1
    if isinstance(value, dict):
        return sum(_float_settings(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_float_settings(v) for v in value)
    return 0


def check(capture) -> None:
    """Refuse a capture outside the format or beyond the stated sizes (``tolerances.GRAPH_*``)."""
    if not isinstance(capture, dict):
        raise GraphRefused(f"the capture is a {type(capture).__name__}, not a description")
    if capture.get("format") != "nngrade-graph/1":
        raise GraphRefused(f"unknown capture format {capture.get('format')!r}")
    modules, tensors, graphs = (capture.get(k) for k in ("modules", "tensors", "graphs"))
    if not (isinstance(modules, dict) and isinstance(tensors, dict) and isinstance(graphs, dict)
            and set(graphs) == {"train", "eval"}):
        raise GraphRefused("the capture lacks its modules, tensors or graphs")
    if len(modules) > tol.GRAPH_MAX_MODULES:
        raise GraphRefused(f"the network has {len(modules)} layers; the grader rebuilds at most "
                           f"{tol.GRAPH_MAX_MODULES}")
    for path, spec in modules.items():
        kind = spec.get("kind") if isinstance(spec, dict) else None
        if kind not in allowlist.MODULES:
            shown = str(kind).replace("other:", "")
            layers = sorted(k.replace("torch.nn.", "") for k in allowlist.MODULES
                            if k.startswith("torch.nn."))
            raise GraphRefused(
                f"the layer {path} is a {shown}, which the grader cannot rebuild. Use torch.nn's "
                f"layers ({', '.join(layers)}), "
                "your BatchNorm2d, or modules of your own built from them")
    kept, reset = {}, 0
    for target, spec in tensors.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("shape"), list) or not all(
                isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= 1 << 24
                for n in spec["shape"]):
            raise GraphRefused(f"the tensor {target} is not a tensor the capture could describe")
        count = int(np.prod(spec["shape"])) if spec["shape"] else 1
        if spec.get("kind") == "parameter" and len(spec["shape"]) >= 2:
            if count > tol.GRAPH_MAX_PARAMETERS:
                raise GraphRefused(f"the parameter {target} has {count:,} entries")
            continue
        value = spec.get("value")
        if not isinstance(value, np.ndarray) or value.size != count or value.dtype.kind not in "biuf":
            raise GraphRefused(f"the tensor {target} ({spec.get('kind')}) came without its values")
        floating = str(spec.get("dtype", "float32")).startswith("torch.float")
        if spec.get("kind") == "parameter" or (spec.get("kind") == "buffer" and floating):
            reset += count      # the grader draws or resets these (``Network``)
        elif count and np.all(value == value.reshape(-1)[0]):
            kept[target] = 1    # one number, repeated (torch.ones(n) made in forward)
        else:
            kept[target] = count
    if reset > tol.GRAPH_MAX_RESET_ELEMENTS:
        raise GraphRefused(
            f"the network's own modules hold {reset:,} numbers in 0- or 1-dimensional parameters "
            f"and buffers; the grader rebuilds at most {tol.GRAPH_MAX_RESET_ELEMENTS:,}")
    # A layer's float settings (a LeakyReLU's slope, a pad's value, an ELU's alpha) are the
    # student's numbers too: four hundred LeakyReLUs could carry a table of learned values in
    # their slopes. They count against the same budget as literals, once per layer a graph calls.
    settings = {path: _float_settings(spec.get("attributes")) for path, spec in modules.items()}
    for mode, nodes in graphs.items():
        _check_nodes(mode, nodes, modules, tensors, kept, settings)

    read = {node.get("target") for nodes in graphs.values() for node in nodes
            if isinstance(node, dict) and node.get("op") == "get_attr"}
    unread = sorted(set(tensors) - read)
    if unread:
        # the worker describes only what a graph reads: values beside the graphs are refused
        raise GraphRefused(f"the capture describes tensors no graph reads: {', '.join(unread[:4])}")


def _check_nodes(mode: str, nodes, modules: dict, tensors: dict, kept: dict,
                 settings: dict | None = None) -> None:
    """Refuse a malformed graph, one beyond ``GRAPH_MAX_NODES``, or one that keeps more than
    ``GRAPH_MAX_CONSTANT_ELEMENTS`` of the student's numbers: its literals, the entries of the
    constant tensors it reads (``kept``: ``{target: numbers}``) and the float settings of the
    layers it calls (``settings``: ``{path: numbers}``)."""
    if not isinstance(nodes, list) or not nodes:
        raise GraphRefused(f"the {mode}-mode graph is empty")
    if len(nodes) > tol.GRAPH_MAX_NODES:
        raise GraphRefused(f"the {mode}-mode graph has {len(nodes)} operations; the grader rebuilds "
                           f"at most {tol.GRAPH_MAX_NODES}")
    earlier, literals, outputs = set(), [], 0
    for index, node in enumerate(nodes):
        if not (isinstance(node, dict) and node.get("op") in NODE_OPS
                and isinstance(node.get("name"), str) and isinstance(node.get("args"), list)
                and isinstance(node.get("kwargs"), dict) and isinstance(node.get("target"), str)):
            raise GraphRefused(f"operation {index} of the {mode}-mode graph is malformed")
        op, target, where = node["op"], node["target"], f"{node['name']} ({node['target']})"
        if op == "placeholder" and index > 0 and not node["args"]:
            raise GraphRefused(f"forward takes a second input ({target}) without a default; it "
                               "must take the images only")
        if op == "call_module" and target not in modules:
            raise GraphRefused(f"{where} calls a layer the capture does not describe")
        if op == "get_attr" and target not in tensors:
            raise GraphRefused(f"{where} reads a tensor the capture does not describe")
        if op == "call_function" and target not in allowlist.FUNCTIONS:
            shown = target.replace("other:", "")
            raise GraphRefused(
                f"forward calls {shown}, which the grader cannot rebuild. Known functions: "
                "torch.nn.functional's activations, pooling, conv2d and linear, and torch's "
                "elementwise and shape operations (see grader/networks/allowlist.py)")
        if op == "call_method" and target not in allowlist.METHODS:
            raise GraphRefused(f"forward calls the tensor method .{target}(), which the grader "
                               "cannot rebuild")
        if op == "output":
            outputs += 1
        if "no_grad" in node and node["no_grad"] is not True:
            raise GraphRefused(f"{where}: a malformed no_grad mark")
        _check_argument(node["args"], earlier, where, literals)
        _check_argument(list(node["kwargs"].values()), earlier, where, literals)
        earlier.add(node["name"])
    if outputs != 1 or nodes[0]["op"] != "placeholder":
        raise GraphRefused(f"the {mode}-mode graph does not take one input and return one output")
    constants = sum(kept.get(target, 0) for target in
                    {node["target"] for node in nodes if node["op"] == "get_attr"})
    if constants > tol.GRAPH_MAX_CONSTANT_ELEMENTS:
        raise GraphRefused(
            f"the network holds {constants:,} constant numbers outside its layers (tensors built "
            f"in forward, or integer buffers); at most {tol.GRAPH_MAX_CONSTANT_ELEMENTS:,} "
            "numbers kept from the capture are allowed. Keep data out of the network: only "
            "layers and their parameters belong there")
    layered = sum((settings or {}).get(target, 0) for target in
                  {node["target"] for node in nodes if node["op"] == "call_module"})
    if len(literals) + constants + layered > tol.GRAPH_MAX_CONSTANT_ELEMENTS:
        raise GraphRefused(
            f"the {mode}-mode graph passes {len(literals):,} literal numbers"
            + (f" besides {constants:,} constant numbers" if constants else "")
            + (f" and {layered:,} float settings of its layers (slopes, pad values, "
               "epsilons...)" if layered else "")
            + f"; at most {tol.GRAPH_MAX_CONSTANT_ELEMENTS:,} numbers kept from the capture are "
            "allowed (a table of values does not fit: compute from the input and parameters)")


def rebuild(capture, seed: int) -> Network:
    """A fresh ``Network`` from ``capture``, its parameters drawn by the grader from ``seed``."""
    check(capture)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Network(capture)


def measure(network: Network, input_shape: tuple) -> dict:
    """Run ``network`` once on the meta device (shapes only, no data, no memory) on a batch of
    ``input_shape`` in both modes, forward and backward. Returns ``{"flops", "activations"}``
    per example (FLOPs of the forward pass; numbers held by intermediate results) and raises
    GraphRefused beyond ``tolerances.GRAPH_MAX_*`` or when the network fails on that shape."""
    probe = copy.deepcopy(network).to("meta")
    batch = input_shape[0]
    activations = 0

    def count(value):
        nonlocal activations
        if isinstance(value, torch.Tensor):
            activations += value.numel()
            if activations > 2 * batch * tol.GRAPH_MAX_ACTIVATIONS_PER_EXAMPLE:
                raise GraphRefused(f"the layers' outputs hold more than "
                                   f"{tol.GRAPH_MAX_ACTIVATIONS_PER_EXAMPLE:,} numbers per image")

    probe.observe = count
    try:
        for mode in ("eval", "train"):
            probe.train(mode == "train")
            x = torch.empty(input_shape, device="meta")
            with FlopCounterMode(display=False) as counter:
                out = probe(x)
            if mode == "eval":
                flops = counter.get_total_flops() / batch
            if isinstance(out, torch.Tensor) and out.is_floating_point() and out.requires_grad:
                out.sum().backward()
    except GraphRefused:
        raise
    except Exception as error:  # noqa: BLE001 - the student's network fails on this shape
        raise GraphRefused(f"the network fails on a batch of shape {tuple(input_shape)}: "
                           f"{type(error).__name__}: {str(error)[:300]}") from None
    per_example = activations / batch / 2
    if flops > tol.GRAPH_MAX_FLOPS_PER_EXAMPLE:
        raise GraphRefused(f"one forward pass costs {flops / 1e9:.2f} GFLOP per image; the grader "
                           f"trains networks of at most {tol.GRAPH_MAX_FLOPS_PER_EXAMPLE / 1e9:g} "
                           "GFLOP per image (fewer channels, or pool earlier)")
    if per_example > tol.GRAPH_MAX_ACTIVATIONS_PER_EXAMPLE:
        raise GraphRefused(f"the layers' outputs hold {per_example:,.0f} numbers per image; at "
                           f"most {tol.GRAPH_MAX_ACTIVATIONS_PER_EXAMPLE:,} are allowed")
    return {"flops": flops, "activations": per_example}
