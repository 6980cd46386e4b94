"""The grader's side of the network capture: what it refuses, what it rebuilds, what it reads
from a graph. The captures here are made in this process with the worker's own capture code
(``inside/worker_graph.py`` imports only torch), on networks written the ways students write
them and the ways attacks do."""
import importlib.util
import operator

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import REPOSITORY
from torch import nn

from grader import tolerances as tol
from grader.networks import allowlist, capture, layer, rebuild, training

_spec = importlib.util.spec_from_file_location(
    "worker_graph", REPOSITORY / "grader" / "isolation" / "inside" / "worker_graph.py")
worker_graph = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(worker_graph)


class OwnBatchNorm2d(nn.Module):
    """A student's batch norm (a leaf of the capture); its forward is never traced here."""

    def __init__(self, num_features):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        if self.training:
            mean, var = x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False)
            with torch.no_grad():
                n = x.numel() / x.shape[1]
                self.running_mean.mul_(0.9).add_(0.1 * mean)
                self.running_var.mul_(0.9).add_(0.1 * var * n / max(n - 1, 1))
        else:
            mean, var = self.running_mean, self.running_var
        shape = (1, -1, 1, 1)
        return (self.weight.view(shape) * (x - mean.view(shape)) / torch.sqrt(var.view(shape) + 1e-5)
                + self.bias.view(shape))


def capture_of(model, shape=(2, 3, 16, 16)):
    return worker_graph.capture_network(model, (OwnBatchNorm2d,), torch.zeros(shape), __file__)


class Small(nn.Module):
    def __init__(self, last=None):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = OwnBatchNorm2d(4)
        self.fc = nn.Linear(4 * 8 * 8, 2)
        self.last = last

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn(self.conv(x))), 2)
        x = self.fc(x.view(x.size(0), -1))
        return self.last(x) if self.last is not None else x


def test_a_student_network_is_rebuilt_with_the_graders_own_parameters():
    description = capture_of(Small())
    # the capture holds no weight values of the layers: the grader draws its own
    assert all("value" not in spec for spec in description["modules"].values())
    first, second = rebuild.rebuild(description, seed=0), rebuild.rebuild(description, seed=1)
    assert not torch.equal(first.parameter_names["conv.weight"], second.parameter_names["conv.weight"])
    assert torch.equal(first.parameter_names["conv.weight"],
                       rebuild.rebuild(description, seed=0).parameter_names["conv.weight"])
    assert isinstance(first.layers["bn"], allowlist.StandInBatchNorm2d)
    assert first(torch.rand(5, 3, 16, 16)).shape == (5, 2)
    measured = rebuild.measure(first, (8, 3, 16, 16))
    assert 0 < measured["flops"] < tol.GRAPH_MAX_FLOPS_PER_EXAMPLE


def test_softmax_and_relu_applied_last_are_named_from_the_graph():
    for last, words in ((nn.Softmax(dim=1), "applies softmax in forward"),
                        (nn.ReLU(), "applies a ReLU to the logits"),
                        (None, "")):
        network = rebuild.rebuild(capture_of(Small(last)), seed=0)
        said = capture.output_not_logits(network, "Net")
        assert (words in said) if words else said == "", (last, said)


class ComputedNames(nn.Module):
    """The attacks of issue 12: library layers and functions reached by computed names."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.norm = getattr(nn, "Batch" + "Norm2d")(4)
        self.drop = nn.__dict__["Drop" + "out"](0.1)
        self.fc = nn.Linear(4 * 16 * 16, 2)

    def forward(self, x):
        x = vars(torch.nn.functional)["drop" + "out"](self.drop(self.norm(self.conv(x))), 0.2,
                                                      self.training)
        return self.fc(torch.flatten(x, 1))


def test_library_normalization_and_dropout_are_found_under_computed_names():
    torch.nn.BatchNorm2d.__module__ = "solution"      # the forgery changes nothing: identity counts
    try:
        description = capture_of(ComputedNames())
    finally:
        torch.nn.BatchNorm2d.__module__ = "torch.nn.modules.batchnorm"
    network = rebuild.rebuild(description, seed=0)
    found = {name for name, _ in network.operations()}
    assert {"torch.nn.BatchNorm2d", "torch.nn.Dropout", "torch.nn.functional.dropout"} <= found
    assert found & (allowlist.LIBRARY_NORMALIZATION | allowlist.LIBRARY_DROPOUT) == {
        "torch.nn.BatchNorm2d", "torch.nn.Dropout", "torch.nn.functional.dropout"}


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 3, 3, padding=1)
        self.b = nn.Conv2d(3, 3, 3, padding=1)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 2))

    def forward(self, x):
        out = F.relu(self.a(x))
        out = self.b(out) + x          # the shortcut
        return self.head(F.relu(out))


class OwnDropout(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training:
            return x
        mask = (torch.rand_like(x) > self.p).to(x.dtype)
        return x * mask / (1 - self.p)


def test_residual_additions_and_a_mode_dependent_own_dropout_rebuild():
    network = rebuild.rebuild(capture_of(Residual()), seed=0)
    assert network(torch.rand(2, 3, 16, 16)).shape == (2, 2)
    model = nn.Sequential(OwnDropout(0.5), nn.Flatten(), nn.Linear(3 * 16 * 16, 2))
    network = rebuild.rebuild(capture_of(model), seed=0)
    x = torch.ones(64, 3, 16, 16)
    network.eval()
    evaluation = network(x)
    network.train()
    trained = network(x)
    assert not torch.allclose(evaluation, trained)   # dropout acts in training only
    names = {name for name, _ in network.operations("train")}
    assert "torch.rand_like" in names and not names & allowlist.LIBRARY_DROPOUT


def test_control_flow_on_a_tensor_is_reported_with_its_line_and_a_rewrite():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            if x.sum() > 0:
                return self.fc(x)
            return -self.fc(x)

    description = worker_graph.capture_network(Branchy(), (), torch.zeros(2, 4), __file__)
    assert "error" in description and description["error"]["line"] > 0
    message = capture._capture_failure("Branchy", description["error"])
    assert "if x.sum() > 0" in message and "torch.where" in message


def _mutated(description, change):
    copy = {**description, "graphs": {m: [dict(n) for n in nodes]
                                      for m, nodes in description["graphs"].items()},
            "modules": dict(description["modules"]), "tensors": dict(description["tensors"])}
    change(copy)
    return copy


def test_descriptions_outside_the_allow_list_or_the_sizes_are_refused():
    description = capture_of(Small())

    def unknown_layer(d):
        d["modules"]["conv"] = {**d["modules"]["conv"], "kind": "other:solution.Sneaky"}

    def unknown_function(d):
        node = next(n for n in d["graphs"]["eval"] if n["op"] == "call_function")
        node["target"] = "builtins.eval"

    def later_reference(d):
        d["graphs"]["eval"][1]["args"] = [{"node": d["graphs"]["eval"][-2]["name"]}]

    def label_table(d):
        d["tensors"]["table"] = {"kind": "constant", "shape": [5000], "dtype": "torch.int64",
                                 "value": np.arange(5000, dtype=np.int64) % 10}

    def read_table(d):
        label_table(d)
        d["graphs"]["eval"].insert(1, {"name": "t", "op": "get_attr", "target": "table",
                                       "args": [], "kwargs": {}})

    def literal_table(d):
        node = next(n for n in d["graphs"]["eval"] if n["op"] == "call_module")
        node["kwargs"] = {"table": list(range(tol.GRAPH_MAX_CONSTANT_ELEMENTS + 1))}

    def many_nodes(d):
        relu = {"op": "call_function", "target": "torch.relu", "kwargs": {}}
        nodes = d["graphs"]["train"]
        extra = [{**relu, "name": f"extra{i}", "args": [{"node": nodes[0]["name"]}]}
                 for i in range(tol.GRAPH_MAX_NODES)]
        d["graphs"]["train"] = nodes[:1] + extra + nodes[1:]

    cases = {unknown_layer: "cannot rebuild", unknown_function: "builtins.eval",
             later_reference: "not an earlier node", label_table: "no graph reads",
             read_table: "constant numbers", literal_table: "literal numbers",
             many_nodes: "operations"}
    for change, words in cases.items():
        with pytest.raises(rebuild.GraphRefused, match=words):
            rebuild.rebuild(_mutated(description, change), seed=0)


def test_compute_and_memory_bombs_are_refused_before_any_real_input():
    class Wide(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 1024, 9, padding=4)   # 2 GFLOP per image
            self.fc = nn.Linear(1024, 2)

        def forward(self, x):
            return self.fc(self.conv(x).mean(dim=(2, 3)))

    with pytest.raises(rebuild.GraphRefused, match="GFLOP"):
        rebuild.measure(rebuild.rebuild(capture_of(Wide()), seed=0), (8, 3, 64, 64))

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(1, 2)

        def forward(self, x):
            flat = x.reshape(x.size(0), -1)
            square = flat.unsqueeze(2) * flat.unsqueeze(1)   # (N, 12288, 12288)
            return self.fc(square.mean(dim=(1, 2)).unsqueeze(1))

    with pytest.raises(rebuild.GraphRefused, match="numbers per image"):
        rebuild.measure(rebuild.rebuild(capture_of(Outer()), seed=0), (8, 3, 64, 64))


def test_the_optimizer_is_rebuilt_from_its_declared_spec():
    model = Small()
    network = rebuild.rebuild(capture_of(model), seed=0)

    def spec(optimizer):
        return worker_graph.describe_optimizer(optimizer, model)

    built, missing = training.build_optimizer(
        spec(torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)), network)
    assert type(built) is torch.optim.SGD and not missing
    assert built.param_groups[0]["nesterov"] is True and built.param_groups[0]["lr"] == 0.05
    _, missing = training.build_optimizer(spec(torch.optim.SGD(model.fc.parameters(), lr=0.1)),
                                          network)
    assert sorted(missing) == ["bn.bias", "bn.weight", "conv.bias", "conv.weight"]
    assert spec(torch.optim.Adam(model.parameters()))["family"] in allowlist.ADAM_FAMILY

    class Mine(torch.optim.Optimizer):
        def __init__(self, params):
            super().__init__(params, {"lr": 0.1})

    with pytest.raises(training.OptimizerRefused, match="not one of torch.optim"):
        training.build_optimizer(spec(Mine(model.parameters())), network)
    with pytest.raises(training.OptimizerRefused, match="learning rate"):
        training.build_optimizer(spec(torch.optim.SGD(model.parameters(), lr=100.0)), network)


def _layer_capture(module, shape=(4, 3, 5, 5)):
    return worker_graph.capture_layer_steps(module, {"train": list(shape), "eval": list(shape)})


class DetachStyle(OwnBatchNorm2d):
    """Running statistics by reassignment of detached values, not in place."""

    def forward(self, x):
        if self.training:
            mean, var = x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False)
            n = x.numel() / x.shape[1]
            self.running_mean = 0.9 * self.running_mean + 0.1 * mean.detach()
            self.running_var = 0.9 * self.running_var + 0.1 * var.detach() * n / (n - 1)
        else:
            mean, var = self.running_mean, self.running_var
        shape = (1, -1, 1, 1)
        return (self.weight.view(shape) * (x - mean.view(shape)) / torch.sqrt(var.view(shape) + 1e-5)
                + self.bias.view(shape))


@pytest.mark.parametrize("cls", [OwnBatchNorm2d, DetachStyle])
def test_a_replayed_batchnorm_matches_torch_over_steps(cls):
    description = _layer_capture(cls(3))
    layer.check(description)
    assert layer.library_operators(description) == []
    reference = torch.nn.BatchNorm2d(3).double()
    parameters = {n: torch.tensor(s["value"], requires_grad=True)
                  for n, s in description["parameters"].items()}
    buffers = {n: torch.tensor(s["value"]) for n, s in description["buffers"].items()}
    generator = torch.Generator().manual_seed(0)
    for mode in ("train", "train", "eval"):
        x = torch.randn(4, 3, 5, 5, dtype=torch.float64, generator=generator) * 2 + 1
        reference.train(mode == "train")
        out, after = layer.replay(description, mode, parameters, buffers, x)
        buffers = {n: v.detach().clone() for n, v in after.items()}
        torch.testing.assert_close(out, reference(x), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(buffers["running_mean"], reference.running_mean)
        torch.testing.assert_close(buffers["running_var"], reference.running_var)


def test_torchs_batchnorm_under_another_name_is_found_in_its_operators():
    class BatchNorm2d(torch.nn.BatchNorm2d):
        pass

    BatchNorm2d.__module__ = "solution"
    found = layer.library_operators(_layer_capture(BatchNorm2d(3)))
    assert found and all("batch_norm" in name for name in found)
    with pytest.raises(rebuild.GraphRefused, match="torch's own normalization"):
        layer.check(_layer_capture(BatchNorm2d(3)))


def test_every_allow_listed_name_resolves():
    assert all(callable(f) for f in allowlist.FUNCTIONS.values())
    assert all(hasattr(torch.Tensor, name) for name in allowlist.METHODS)
    for name in layer.OPERATORS:
        assert hasattr(torch.ops.aten, name), name
    assert allowlist.FUNCTIONS["operator.add"] is operator.add
