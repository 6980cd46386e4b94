"""Run a captured layer (the student's BatchNorm2d) in the trusted process, operator by operator.

The worker sends a layer as operator graphs (``worker_graph.capture_layer_steps``, format
``nngrade-layer/1``: one graph per mode, at the level of torch's ``aten`` operators, returning
the output and the buffers after the call). ``Layer`` replays such a graph with the grader's own
parameters, buffers and inputs, calling only operators of ``OPERATORS``; torch's autograd gives
the gradients. Library normalization operators (``LIBRARY_NORMALIZATION``) are refused by name:
a BatchNorm2d that is torch's own, under any class name, computes nothing here.
"""
from __future__ import annotations

import operator

import numpy as np
import torch

from grader import tolerances as tol
from grader.networks.rebuild import GraphRefused, _check_argument, _decode

OPERATORS = frozenset((
    "mean var var_mean sum sub add mul div sqrt rsqrt pow reciprocal neg abs square view "
    "reshape _unsafe_view expand unsqueeze squeeze permute transpose t clone detach alias "
    "copy copy_ mul_ add_ sub_ div_ lerp lerp_ addcmul addcmul_ zeros_like ones_like full_like "
    "_to_copy to lift_fresh_copy scalar_tensor maximum minimum clamp clamp_min where "
    "empty_like fill_ zero_ std std_mean sym_size sym_numel").split())
"""``aten`` operators a captured layer may call (any overload)."""

LIBRARY_NORMALIZATION = frozenset((
    "native_batch_norm _native_batch_norm_legit _native_batch_norm_legit_functional "
    "_native_batch_norm_legit_no_training batch_norm _batch_norm_impl_index cudnn_batch_norm "
    "miopen_batch_norm _batch_norm_with_update _batch_norm_with_update_functional "
    "_batch_norm_no_update batch_norm_update_stats native_layer_norm layer_norm "
    "native_group_norm group_norm instance_norm").split())
"""``aten`` operators that are torch's own normalization."""

_PYTHON = {"operator.getitem": operator.getitem}


def _operator_name(target: str) -> str:
    """``"aten.mean.dim"`` -> ``"mean"`` (``""`` when not an aten operator)."""
    parts = target.split(".")
    return parts[1] if len(parts) == 3 and parts[0] == "aten" else ""


def library_operators(capture: dict) -> list[str]:
    """The library normalization operators in any graph of ``capture``, e.g.
    ``["aten._native_batch_norm_legit.default"]``."""
    found = []
    for graph in capture.get("graphs", {}).values():
        for node in graph.get("nodes", []) if isinstance(graph, dict) else []:
            if node.get("op") == "call_function" and _operator_name(str(node.get("target"))) \
                    in LIBRARY_NORMALIZATION and node["target"] not in found:
                found.append(node["target"])
    return found


def _resolve(target: str):
    if target in _PYTHON:
        return _PYTHON[target]
    name = _operator_name(target)
    overload = target.split(".")[2] if name else ""
    if name in LIBRARY_NORMALIZATION:
        raise GraphRefused(f"it calls torch's own normalization ({target}): BatchNorm2d must "
                           "compute the statistics and the normalization itself")
    if name not in OPERATORS or not overload.isidentifier():
        raise GraphRefused(f"it calls {target}, which the grader does not replay (known: "
                           f"{', '.join(sorted(OPERATORS))})")
    packet = getattr(torch.ops.aten, name)
    if overload not in packet.overloads():
        raise GraphRefused(f"it calls {target}, an overload torch does not have")
    return getattr(packet, overload)


def check(capture) -> None:
    """Refuse a layer capture outside its format or its sizes."""
    if not isinstance(capture, dict) or capture.get("format") != "nngrade-layer/1":
        raise GraphRefused("the layer's capture is not in the expected format")
    inputs, graphs = capture.get("inputs"), capture.get("graphs")
    if not isinstance(inputs, list) or not isinstance(graphs, dict) or not graphs:
        raise GraphRefused("the layer's capture lacks its inputs or graphs")
    library = library_operators(capture)
    if library:
        raise GraphRefused(f"it calls torch's own normalization ({', '.join(library)}): "
                           "BatchNorm2d must compute the statistics and the normalization itself")
    numbers = 0
    for group in ("parameters", "buffers"):
        for name, spec in (capture.get(group) or {}).items():
            value = spec.get("value") if isinstance(spec, dict) else None
            if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
                raise GraphRefused(f"the layer's {name} came without its values")
            numbers += value.size
    for mode, graph in graphs.items():
        nodes = graph.get("nodes") if isinstance(graph, dict) else None
        constants = graph.get("constants") if isinstance(graph, dict) else None
        if not isinstance(nodes, list) or not isinstance(constants, dict):
            raise GraphRefused(f"the layer's {mode}-mode graph is malformed")
        if len(nodes) > tol.GRAPH_MAX_NODES:
            raise GraphRefused(f"the layer's {mode}-mode graph has {len(nodes)} operations")
        numbers += sum(np.asarray(v).size for v in constants.values())
        earlier, literals = set(), []
        for node in nodes:
            if not (isinstance(node, dict) and isinstance(node.get("args"), list)
                    and isinstance(node.get("kwargs"), dict) and isinstance(node.get("name"), str)
                    and isinstance(node.get("target"), str)
                    and node.get("op") in ("placeholder", "get_attr", "call_function", "output")):
                raise GraphRefused(f"an operation of the layer's {mode}-mode graph is malformed")
            if node["op"] == "call_function":
                _resolve(node["target"])
            if node["op"] == "get_attr" and node["target"] not in constants:
                raise GraphRefused(f"the layer reads a constant it did not send: {node['target']}")
            _check_argument(node["args"], earlier, node["name"], literals)
            _check_argument(list(node["kwargs"].values()), earlier, node["name"], literals)
            earlier.add(node["name"])
        numbers += len(literals)
    if numbers > tol.LAYER_MAX_CONSTANT_ELEMENTS:
        raise GraphRefused(f"the layer's capture carries {numbers:,} numbers; at most "
                           f"{tol.LAYER_MAX_CONSTANT_ELEMENTS:,} are allowed")


def replay(capture: dict, mode: str, parameters: dict, buffers: dict, x: torch.Tensor,
           sizes: list | None = None):
    """Run the ``mode`` graph on the grader's tensors: ``parameters`` and ``buffers`` by name
    (the buffers may be changed in place, as the layer's own would be), ``x`` the input.
    Returns ``(output, {buffer name: value after the call})``. ``sizes``, when given, gets the
    number of elements of every operation's result (``measure`` replays on the meta device)."""
    graph = capture["graphs"].get(mode)
    if graph is None:
        raise GraphRefused(f"the layer was not captured in {mode} mode")
    bound = []
    for name in capture["inputs"]:
        kind, _, key = name.partition(":")
        if kind == "parameter":
            bound.append(parameters[key])
        elif kind == "buffer":
            bound.append(buffers[key])
        else:
            bound.append(x)
    env, placeholders = {}, iter(bound)
    for node in graph["nodes"]:
        if node["op"] == "placeholder":
            env[node["name"]] = next(placeholders)
        elif node["op"] == "get_attr":
            env[node["name"]] = torch.as_tensor(np.asarray(graph["constants"][node["target"]]),
                                                dtype=torch.float64, device=x.device)
        elif node["op"] == "call_function":
            args = _decode(node["args"], env, x.device)
            kwargs = {k: _decode(v, env, x.device) for k, v in node["kwargs"].items()}
            kwargs.pop("layout", None), kwargs.pop("pin_memory", None)
            env[node["name"]] = _resolve(node["target"])(*args, **kwargs)
            if sizes is not None and isinstance(env[node["name"]], torch.Tensor):
                sizes.append(env[node["name"]].numel())
        else:  # output
            results = _decode(node["args"], env, x.device)[0]
            results = list(results) if isinstance(results, (list, tuple)) else [results]
            names = [n.partition(":")[2] for n in capture["inputs"] if n.startswith("buffer:")]
            return results[0], dict(zip(names, results[1:], strict=False))
    raise GraphRefused("the layer's graph has no output")


def measure(capture: dict, shape: tuple) -> str:
    """Why replaying ``capture`` on inputs of ``shape`` many times would cost the grader too much
    memory (``""`` when it would not): both modes are replayed once on the meta device, where
    nothing is allocated, and every operation's result is counted. A batch norm's results are
    each the size of its input or smaller; ``tol.LAYER_MAX_RESULT_FACTOR`` allows for more."""
    meta = torch.device("meta")
    x = torch.empty(shape, dtype=torch.float64, device=meta)
    parameters = {name: torch.empty(spec["shape"], dtype=torch.float64, device=meta)
                  for name, spec in capture["parameters"].items()}
    for mode in capture["graphs"]:
        buffers = {name: torch.empty(spec["shape"], dtype=torch.float64, device=meta)
                   for name, spec in capture["buffers"].items()}
        sizes: list = []
        try:
            replay(capture, mode, parameters, buffers, x, sizes)
        except GraphRefused:
            raise
        except Exception as error:  # noqa: BLE001 - an operation the meta device cannot run
            return f"it cannot be measured before it runs ({type(error).__name__}: {str(error)[:200]})"
        largest = max(sizes, default=0)
        if largest > tol.LAYER_MAX_RESULT_FACTOR * x.numel():
            return (f"in {mode} mode one of its operations makes {largest:,} numbers from an input of "
                    f"{x.numel():,} (at most {tol.LAYER_MAX_RESULT_FACTOR} times the input's size)")
    return ""


class ReplayedLayer(torch.nn.Module):
    """A captured layer (checked with ``check``) as a module the grader can train: its
    parameters are the grader's own float64 tensors, initialized to the values the capture
    declares; its buffers follow each call as the layer's would. The graphs were traced for one
    input shape, so it takes inputs of that shape only (the experiments use a fixed batch size)."""

    def __init__(self, capture: dict):
        super().__init__()
        self.capture = capture
        self.names = {}
        for index, (name, spec) in enumerate(capture["parameters"].items()):
            # Parameter names of the student's own are kept out of torch's attribute namespace.
            self.register_parameter(f"p{index}", torch.nn.Parameter(
                torch.tensor(np.asarray(spec["value"]), dtype=torch.float64)))
            self.names[name] = f"p{index}"
        self.state = {name: torch.tensor(np.asarray(spec["value"]), dtype=torch.float64)
                      for name, spec in capture["buffers"].items()}

    def parameter(self, name: str) -> torch.Tensor:
        """The parameter the student's layer calls ``name``."""
        return getattr(self, self.names[name])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parameters = {name: getattr(self, attribute) for name, attribute in self.names.items()}
        out, after = replay(self.capture, "train" if self.training else "eval", parameters,
                            self.state, x)
        self.state = {name: (after[name] if isinstance(after.get(name), torch.Tensor)
                             else self.state[name]).detach().clone() for name in self.state}
        return out
