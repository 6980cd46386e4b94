"""Issue #23 section 3, in this process: what the capture records of autograd being off, what
the grader keeps of the student's numbers, the controls and the evidence behind the learning
rows, and the constructs read from the source. The graded end-to-end cases (each attack earns
no learning points) are in tests/part4_attacks.py (``LEARNING_ATTACKS``)."""
import functools
import importlib.util

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import REPOSITORY
from torch import nn

from grader import tolerances as tol
from grader.networks import rebuild, training
from grader.verdicts import cnn_checks, rules
from reference.data.cats_dogs import striped_images

_spec = importlib.util.spec_from_file_location(
    "worker_graph", REPOSITORY / "grader" / "isolation" / "inside" / "worker_graph.py")
worker_graph = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(worker_graph)

SHAPE = (2, 3, 16, 16)


def capture_of(model, shape=SHAPE):
    return worker_graph.capture_network(model, (), torch.zeros(shape), __file__)


class Features(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 2)

    def features(self, x):
        return F.adaptive_avg_pool2d(F.relu(self.conv(x)), 1).flatten(1)


class NoGradBlock(Features):
    def forward(self, x):
        with torch.no_grad():
            h = self.features(x)
        return self.fc(h)


class InferenceBlock(Features):
    def forward(self, x):
        with torch.inference_mode():
            h = self.features(x)
        return self.fc(h)


class GradSwitchedOff(Features):
    def forward(self, x):
        h = self.features(x)
        torch.set_grad_enabled(False)
        return self.fc(h)


class Decorated(Features):
    @torch.no_grad()
    def forward(self, x):
        return self.fc(self.features(x))


class DataOfWeight(Features):
    def forward(self, x):
        return F.linear(self.features(x), self.fc.weight.data, self.fc.bias)


def _gradients(network) -> dict:
    network.train()
    out = network(torch.rand(4, 3, 16, 16))
    if out.requires_grad:
        out.square().sum().backward()
    return {name: p.grad is not None and bool(p.grad.abs().sum() > 0)
            for name, p in network.parameter_names.items()}


@pytest.mark.parametrize("cls, untrained", [
    (NoGradBlock, {"conv.weight", "conv.bias"}),
    (InferenceBlock, {"conv.weight", "conv.bias"}),
    (GradSwitchedOff, {"conv.weight", "conv.bias", "fc.weight", "fc.bias"}),
    (Decorated, {"conv.weight", "conv.bias", "fc.weight", "fc.bias"}),
    (DataOfWeight, {"fc.weight"}),
])
def test_a_region_without_autograd_is_captured_and_rebuilt_without_it(cls, untrained):
    """Failed on b7acdd2: the capture dropped no_grad (the rebuilt copy trained every layer)
    and refused ``.data`` outright."""
    assert torch.is_grad_enabled()
    description = capture_of(cls())
    assert torch.is_grad_enabled(), "the capture leaves autograd on, as it found it"
    if cls is not DataOfWeight:
        marked = [n for nodes in description["graphs"].values() for n in nodes if n.get("no_grad")]
        assert marked, "the nodes made without autograd are marked"
    gradients = _gradients(rebuild.rebuild(description, seed=0))
    assert {name for name, got in gradients.items() if not got} == untrained


def test_a_no_grad_mark_is_checked():
    description = capture_of(NoGradBlock())
    node = next(n for n in description["graphs"]["train"] if n.get("no_grad"))
    node["no_grad"] = "yes"
    with pytest.raises(rebuild.GraphRefused, match="no_grad"):
        rebuild.rebuild(description, seed=0)


# -- the student's numbers in a capture ---------------------------------------------------------

TABLE = np.linspace(-1, 1, 40).reshape(20, 2)


class Hidden(nn.Module):
    """A trained classifier's weights hidden outside torch's layers: a float buffer, a frozen
    1-D parameter, an integer buffer; and values that carry no table (a constant fill)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 20, 3, padding=1)
        self.register_buffer("readout", torch.tensor(TABLE, dtype=torch.float32))
        self.flat = nn.Parameter(torch.tensor(TABLE.ravel(), dtype=torch.float32),
                                 requires_grad=False)
        self.scale = nn.Parameter(torch.full((20,), 0.5))
        self.register_buffer("ones", torch.ones(20))

    def forward(self, x):
        h = F.adaptive_avg_pool2d(self.conv(x), 1).flatten(1) * self.scale * self.ones
        return h @ self.readout + h @ self.flat.view(20, 2)


def test_buffers_and_small_parameters_are_reset_or_drawn_by_the_grader():
    """Failed on b7acdd2: the buffer and the 1-D parameter kept the student's values."""
    description = capture_of(Hidden())
    network = rebuild.rebuild(description, seed=0)
    values = {target: network._tensor(target).detach().numpy() for target in description["tensors"]}
    assert np.allclose(values["readout"], TABLE.mean()), "a non-constant buffer: its mean only"
    assert not np.allclose(values["flat"], TABLE.ravel(), atol=0.05), "drawn, not kept"
    assert np.allclose(values["scale"], 0.5) and np.allclose(values["ones"], 1.0), \
        "a constant fill is kept (it is how layers are initialized)"
    other = rebuild.rebuild(description, seed=1)._tensor("flat").detach().numpy()
    assert not np.allclose(other, values["flat"]), "drawn from the grader's seed"


class ConstantTable(nn.Module):
    def __init__(self, numbers):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.numbers = numbers

    def forward(self, x):
        table = torch.tensor(np.arange(self.numbers, dtype=np.float32) % 7)
        return (self.conv(x).flatten(1)[:, :1] * table)[:, :2]


class IntegerBuffer(nn.Module):
    def __init__(self, numbers):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.register_buffer("labels", torch.arange(numbers) % 10)

    def forward(self, x):
        return (self.conv(x).flatten(1)[:, :1] * self.labels)[:, :2]


class LiteralIndices(nn.Module):
    def __init__(self, numbers):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.indices = [i % 1024 for i in range(numbers)]

    def forward(self, x):
        return self.conv(x).flatten(1)[:, self.indices][:, :2]


class SlopeTable(nn.Module):
    """A table of learned values hidden in the float settings of many layers: one LeakyReLU per
    number, each slope a value of the table, applied to a one-channel map."""

    def __init__(self, numbers: int):
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 3, padding=1)
        self.slopes = nn.ModuleList(nn.LeakyReLU(0.01 + i / 997) for i in range(numbers))

    def forward(self, x):
        x = self.conv(x).flatten(1)
        return torch.cat([slope(-x) for slope in self.slopes], dim=1)[:, :2]


@pytest.mark.parametrize("cls", [ConstantTable, IntegerBuffer, LiteralIndices])
def test_numbers_kept_from_the_capture_have_a_small_budget(cls):
    """A table of more than ``GRAPH_MAX_CONSTANT_ELEMENTS`` numbers is refused, in a constant,
    an integer buffer or literals; one within it is rebuilt. Failed on b7acdd2 (budget 4096)
    for the tables of 200 numbers."""
    within = tol.GRAPH_MAX_CONSTANT_ELEMENTS - 20
    rebuild.rebuild(capture_of(cls(within)), seed=0)
    with pytest.raises(rebuild.GraphRefused, match="at most 128"):
        rebuild.rebuild(capture_of(cls(200)), seed=0)


def test_float_settings_of_layers_count_against_the_same_budget():
    """The slopes of 150 LeakyReLUs (a table of 150 learned values; the network stays under the
    200 layers a capture may hold) are refused like any other table; 100 fit. Failed on bc8a04d,
    which did not count layer settings."""
    rebuild.rebuild(capture_of(SlopeTable(100)), seed=0)
    with pytest.raises(rebuild.GraphRefused, match="150 float settings of its layers"):
        rebuild.rebuild(capture_of(SlopeTable(150)), seed=0)


# -- the controls and the evidence of a training run ---------------------------------------------

def stripe_rule(x):
    down = (x[:, :, 1:, :] - x[:, :, :-1, :]).abs().mean(dim=(1, 2, 3))
    along = (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().mean(dim=(1, 2, 3))
    return 20 * torch.stack([down - along, along - down], dim=1)


class Honest(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16)
        self.conv2, self.bn2 = nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32)
        self.fc = nn.Linear(32, 2)

    def features(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        return F.adaptive_avg_pool2d(F.relu(self.bn2(self.conv2(x))), 1).flatten(1)

    def forward(self, x):
        return self.fc(self.features(x))


class RuleTimesZero(Honest):
    def forward(self, x):
        return stripe_rule(x) + 0 * super().forward(x)


class GatedRule(Honest):
    def __init__(self):
        super().__init__()
        self.gate = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return self.gate * stripe_rule(x) + 0.001 * super().forward(x)


class DetachedFeatures(Honest):
    def forward(self, x):
        return stripe_rule(x) + self.fc(self.features(x).detach())


@functools.cache
def _run(cls, seed=0):
    images, labels = striped_images(300, size=16, seed=seed)
    network = rebuild.rebuild(capture_of(cls()), seed=seed)
    optimizer = torch.optim.SGD(network.parameters(), lr=0.05, momentum=0.9)
    value = training.run_with_controls(network, optimizer, images[:200], labels[:200],
                                       images[200:], epochs=3, batch_size=16, seed=seed,
                                       cpu_budget_s=60)
    return value, labels[200:]


def test_an_honest_network_shows_the_evidence_of_learning():
    value, labels = _run(Honest)
    score, _ = cnn_checks.accuracy(value["logits"], labels, "Honest")
    assert score >= 0.9
    assert cnn_checks.learning_problems(value, labels, "Honest", tol.CATS_DOGS_LEARNING_GAIN) == []
    report = value["parameters"]
    assert report["trained"] > 0.9 * report["total"]
    assert value["zeroed"] == ["conv2.weight"]


@pytest.mark.parametrize("cls, words", [
    (RuleTimesZero, ["at the grader's initialization", "only 0 of"]),
    (GatedRule, ["largest trainable tensors (conv2.weight) set to zero"]),
    (DetachedFeatures, ["at the grader's initialization", "conv2.weight (no gradient)"]),
])
def test_accuracy_that_training_did_not_make_is_named(cls, words):
    """Each reaches the floor (on b7acdd2 the learning row looked at nothing else)."""
    value, labels = _run(cls)
    score, _ = cnn_checks.accuracy(value["logits"], labels, cls.__name__)
    assert score >= 0.9
    problems = " ".join(cnn_checks.learning_problems(value, labels, cls.__name__,
                                                    tol.CATS_DOGS_LEARNING_GAIN))
    for word in words:
        assert word in problems, problems


def test_the_controls_leave_the_network_as_trained():
    value, labels = _run(Honest)
    network = rebuild.rebuild(capture_of(Honest()), seed=0)
    watch = training.ParameterWatch(network)
    before = {n: p.detach().clone() for n, p in network.named_parameters()}
    with watch.zeroed(watch.largest()):
        assert float(network.parameter_names["conv2.weight"].detach().abs().sum()) == 0
    assert all(torch.equal(before[n], p) for n, p in network.named_parameters())


def _value(score=0.95, initial=0.1, without=0.1, trained=9000, total=10000, n=200):
    labels = np.arange(n) % 2
    def logits(accuracy):
        right = np.arange(n) < accuracy * n
        return np.eye(2)[np.where(right, labels, 1 - labels)]
    return {"logits": logits(score), "controls": {"initial": logits(initial),
                                                  "without_most": logits(without)},
            "zeroed": ["conv.weight"],
            "parameters": {"total": total, "trained": trained,
                           "tensors": {"conv.weight": (total, trained, trained)}}}, labels


@pytest.mark.parametrize("kwargs, passes", [
    ({}, True),
    ({"initial": 0.95 - tol.MNIST_CNN_LEARNING_GAIN + 0.01}, False),
    ({"without": 0.95 - tol.MNIST_CNN_LEARNING_GAIN + 0.01}, False),
    ({"initial": 0.95 - tol.MNIST_CNN_LEARNING_GAIN - 0.01}, True),
    ({"trained": int(tol.CNN_TRAINED_FRACTION * 10000) - 1}, False),
    ({"trained": tol.CNN_MIN_TRAINED_PARAMETERS - 1, "total": tol.CNN_MIN_TRAINED_PARAMETERS}, False),
])
def test_learning_margins_are_the_stated_ones(kwargs, passes):
    value, labels = _value(**kwargs)
    assert (cnn_checks.learning_problems(value, labels, "Net", tol.MNIST_CNN_LEARNING_GAIN)
            == []) is passes


class Grade:
    def __init__(self):
        self.checks = []

    def expect(self, condition, message, weight=1.0):
        self.checks.append((bool(condition), message))

    def check(self, verdict, weight=1.0):
        self.checks.append((bool(verdict.passed), verdict.message))
        return verdict.passed

    def fail(self, message, cause=None):
        raise AssertionError(message)


def test_a_construct_that_cuts_a_layer_from_autograd_fails_the_row_whatever_the_run():
    """The source is the trusted evidence: a capture that hides the no_grad (a worker that
    lies) still loses the row, and the message names the construct and its line."""
    source = ("import torch\nimport torch.nn as nn\n\n\nclass BatchNorm2d(nn.Module):\n"
              "    def forward(self, x):\n        with torch.no_grad():\n"
              "            self.running_mean.mul_(0.9)\n        return x\n\n\n"
              "class CatsDogsCNN(nn.Module):\n    def forward(self, x):\n"
              "        with torch.no_grad():\n            h = self.features(x)\n"
              "        return self.classifier(h)\n")
    blockers = rules.grad_blockers(source, ["CatsDogsCNN"], ["BatchNorm2d"])
    assert [(b.line, b.construct, b.blocks_layers) for b in blockers] == [
        (14, "with torch.no_grad()", True)]
    grade = Grade()
    value, labels = _value()
    cnn_checks.grade_learning(grade, value, "a run", labels, "CatsDogsCNN", 0.75, "images", "",
                              blockers=blockers, gain=tol.CATS_DOGS_LEARNING_GAIN)
    (passed, message), = grade.checks
    assert not passed and "line 14" in message and "torch.no_grad()" in message
    grade = Grade()
    cnn_checks.grade_learning(grade, value, "a run", labels, "CatsDogsCNN", 0.75, "images", "",
                              gain=tol.CATS_DOGS_LEARNING_GAIN)
    assert grade.checks == [(True, "")]


@pytest.mark.parametrize("body, expected", [
    ("        return self.fc(self.body(x)).detach()\n", [(".detach()", False)]),
    ("        with torch.no_grad():\n            mask = self.mask(x)\n        return self.fc(x * mask)\n"
     "\n    def mask(self, x):\n        return torch.rand_like(x) > 0.5\n",
     [("with torch.no_grad()", False)]),
    ("        with torch.no_grad():\n            h = self.body(x)\n        return self.fc(h)\n",
     [("with torch.no_grad()", True)]),
    ("        return self.fc(x.data)\n", [(".data", False)]),
    ("        with torch.no_grad():\n            mask = torch.rand_like(x) > 0.5\n"
     "        return self.fc(x * mask)\n", [("with torch.no_grad()", False)]),
    ("        torch.set_grad_enabled(False)\n        return self.fc(x)\n",
     [("torch.set_grad_enabled(False)", True)]),
    ("        with torch.set_grad_enabled(True):\n            return self.fc(x)\n", []),
    ("        with torch.inference_mode():\n            return self.fc(x)\n",
     [("with torch.inference_mode()", True)]),
    ("        return self.fc(x)\n\n    def predict(self, x):\n        with torch.no_grad():\n"
     "            return self(x)\n", []),
])
def test_grad_blockers_read_from_forward(body, expected):
    source = ("import torch\nimport torch.nn as nn\n\n\nclass MnistCNN(nn.Module):\n"
              "    def forward(self, x):\n" + body)
    found = rules.grad_blockers(source, ["MnistCNN"])
    assert [(b.construct, b.blocks_layers) for b in found] == expected


def test_the_correct_files_have_no_grad_blockers():
    """The worked solution and the bank of correct Part 4s (their BatchNorm2d updates its
    statistics under no_grad or with .detach(), which is its own part's business)."""
    paths = [REPOSITORY / "solution.py", REPOSITORY / "tests" / "submissions" / "alt_part4.py",
             *sorted((REPOSITORY / "tests" / "submissions" / "part4").glob("*.py"))]
    for path in paths:
        source = path.read_text()
        for cls in ("MnistCNN", "CatsDogsCNN"):
            assert rules.grad_blockers(source, [cls], ["BatchNorm2d"]) == [], (path, cls)
