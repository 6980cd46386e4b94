"""The numpy-only rule of Parts 1-3 (issue #24, section 1), read from source by the trusted process.

On main before this rule, an ``NN.backward`` that rebuilt the forward pass in torch and called
``loss.backward()`` got every backward point (``test_autograd_backward_loses_the_backward_part``
shows it: it fails there). The unit tests below feed ``numpy_only.reaches`` small files: ways of
reaching a framework (aliases, dynamic lookups, helpers, attributes, base classes) that must be
found, and numpy, scipy and Part 4's torch that must not.
"""
from __future__ import annotations

import pytest

from grader.verdicts import numpy_only
from tests.conftest import (TEMPLATE, WORKED_SOLUTION, grade_file, part_scores, patched_solution,
                            scores_by_test)

SUBMISSIONS = WORKED_SOLUTION.parent / "tests" / "submissions"

HEADER = "import numpy as np\nimport torch\n\n\n"


def nn(body: str, header: str = HEADER, method: str = "backward(self, cache, labels)",
       extra: str = "") -> str:
    """A file whose ``NN.<method>`` has ``body`` (indented by 8), plus ``extra`` NN methods."""
    indented = "".join("        " + line + "\n" if line else "\n" for line in body.splitlines())
    return (header + "class NN:\n    def __init__(self, seed=None):\n        self.seed = seed\n\n"
            f"    def {method}:\n" + indented + extra)


def parts(source: str) -> dict:
    """``{part: [what, ...]}`` of the file's numpy parts that reach a framework."""
    return {part: [r.what for r in found] for part, found in numpy_only.reaches(source).items()}


def test_the_rule_covers_exactly_the_numpy_parts():
    from grader.rubric import NUMPY_ONLY_PARTS, PARTS

    assert set(numpy_only.NUMPY_PARTS) == set(NUMPY_ONLY_PARTS)
    assert set(NUMPY_ONLY_PARTS) <= set(PARTS)
    for part4 in ("batchnorm2d", "mnist_cnn", "cats_dogs_cnn", "kaggle_submission", "experiments"):
        assert part4 not in NUMPY_ONLY_PARTS


@pytest.mark.parametrize("source, expected", [
    # names through imports and aliases
    (nn("return torch.tensor(cache['Z0'])"), ["torch.tensor"]),
    (nn("return T.tensor(cache['Z0'])", header="import torch as T\n\n\n"), ["torch.tensor"]),
    (nn("return tensor(cache['Z0'])", header="from torch import tensor\n\n\n"), ["torch.tensor"]),
    (nn("return jnp.asarray(cache['Z0'])", header="import jax.numpy as jnp\n\n\n"), ["jax.numpy.asarray"]),
    (nn("return grad(f)(x)", header="from autograd import grad\n\n\n"), ["autograd.grad"]),
    (nn("return tf.GradientTape()", header="import tensorflow as tf\n\n\n"), ["tensorflow.GradientTape"]),
    (nn("return mx.autograd.record()", header="import mxnet as mx\n\n\n"), ["mxnet.autograd.record"]),
    (nn("return F.softmax(x, 1)", header=HEADER + "F = torch.nn.functional\n\n\n"),
     ["torch.nn.functional.softmax"]),
    (nn("return vjp(np.sin, cache)", header="import numpy as np\nfrom jax import *\n\n\n"),
     ["jax.vjp (from `from jax import *`)"]),
    (nn("import torch\nreturn None", header="import numpy as np\n\n\n"), ["import torch"]),
    (nn("from torch.autograd import grad\nreturn grad", header="\n"),
     ["from torch.autograd import ...", "import torch.autograd.grad", "torch.autograd.grad"]),
    (nn("t = torch\nreturn t.tensor(x)"), ["torch", "torch.tensor"]),
    (nn("return backend.tensor(x)", header=(
        "try:\n    import torch as backend\nexcept ImportError:\n    import numpy as backend\n\n\n")),
     ["torch.tensor"]),
    # dynamic lookups
    (nn("return importlib.import_module('torch').tensor(x)", header="import importlib\n\n\n"),
     ['importlib.import_module("torch")']),
    (nn("return __import__('torch').tensor(x)", header="\n"), ['__import__("torch")']),
    (nn("return __import__(name)", header="\n"), ["__import__(...) of a module the grader cannot read"]),
    (nn("return sys.modules['torch'].tensor(x)", header="import sys\n\n\n"), ['sys.modules["torch"]']),
    (nn("return sys.modules.get('jax')", header="import sys\n\n\n"), ['sys.modules["jax"]']),
    (nn("return globals()['torch'].tensor(x)"), ['globals()["torch"] (torch)']),
    (nn("return globals()[name]"), ["globals()[...] with a key the grader cannot read"]),
    (nn("return getattr(torch, 'tensor')(x)"), ["torch", "torch.tensor"]),
    (nn("return eval('torch.tensor(x)')", header="\n"), ["eval(...), code the grader cannot read"]),
    (nn("exec(code)", header="\n"), ["exec(...), code the grader cannot read"]),
    (nn("return builtins.__import__('os')", header="import builtins\n\n\n"),
     ["builtins.__import__ (the interpreter's builtins, looked up by name)"]),
    (nn("return subprocess.run(['python', '-c', 'import torch; print(1)'])",
        header="import subprocess\n\n\n"), ["a string that imports torch ('import torch; print(1)')"]),
    # defaults, lambdas and decorators
    (nn("return t.tensor(x)", method="backward(self, cache, labels, t=torch)"), ["torch"]),
    (nn("f = lambda v, torch=torch: torch.tensor(v)\nreturn f(x)"), ["torch"]),
    (nn("return x", extra="").replace("    def backward", "    @torch.no_grad()\n    def backward"),
     ["torch.no_grad"]),
])
def test_a_framework_in_backward_is_found(source, expected):
    assert sorted(set(parts(source).get("backward", []))) == sorted(expected), parts(source)


@pytest.mark.parametrize("source, through", [
    # helpers: a module-level function, a helper class, another NN method, a base class
    (HEADER + "def _grads(x):\n    return torch.autograd.grad(x, x)\n\n\n"
     + nn("return _grads(cache)"), "_grads"),
    (HEADER + "class _Tape:\n    def run(self, x):\n        return torch.tensor(x)\n\n\n"
     + nn("return _Tape().run(cache)"), "_Tape.run"),
    (nn("return self._autograd(cache)",
        extra="\n    def _autograd(self, cache):\n        return torch.tensor(cache['Z0'])\n"),
     "NN._autograd"),
    (nn("return getattr(self, '_autograd')(cache)",
        extra="\n    def _autograd(self, cache):\n        return torch.tensor(cache['Z0'])\n"),
     "NN._autograd"),
    (nn("return getattr(self, '_' + 'autograd')(cache)",
        extra="\n    def _autograd(self, cache):\n        return torch.tensor(cache['Z0'])\n"),
     "NN._autograd"),
    (nn("return type(self)._autograd(self, cache)",
        extra="\n    def _autograd(self, cache):\n        return torch.tensor(cache['Z0'])\n"),
     "NN._autograd"),
    (HEADER + "class Base:\n    def backward(self, cache, labels):\n        return torch.tensor(1)\n\n\n"
     "class NN(Base):\n    def forward(self, x):\n        return x\n", "Base.backward"),
    (HEADER + "class Base:\n    def grads(self, cache):\n        return torch.tensor(1)\n\n\n"
     + nn("return super().grads(cache)").replace("class NN:", "class NN(Base):"), "Base.grads"),
    # attributes that hold a framework
    (nn("return self.torch.tensor(cache['Z0'])").replace(
        "self.seed = seed", "self.seed = seed\n        self.torch = torch"), "NN.__init__"),
    (nn("return self.T.tensor(cache['Z0'])").replace("class NN:\n", "class NN:\n    T = torch\n\n"),
     "NN"),
    (nn("return self.T.tensor(cache['Z0'])") + "\n\nNN.T = torch\n", "module level"),
    (nn("return self.T.tensor(cache['Z0'])") + "\n\nsetattr(NN, 'T', torch)\n", "module level"),
    (nn("return self.T.tensor(cache['Z0'])") + "\n\nsetattr(NN, 'T'.lower(), torch)\n", "module level"),
    (nn("return self.loss_t.backward()", extra=(
        "\n    def forward(self, x):\n        self.loss_t = torch.tensor(x, requires_grad=True).sum()\n"
        "        return {'Z0': x}\n")), "NN.forward"),
    # a module-level variable that holds a framework or a call into one
    (HEADER + "_tape = __import__('torch')\n\n\n" + nn("return _tape.tensor(x)", header=""),
     "module level"),
])
def test_a_framework_behind_a_helper_is_found(source, through):
    found = numpy_only.reaches(source).get("backward", [])
    assert found, f"nothing found for backward in\n{source}"
    assert any(r.where == through or r.where == f"class {through}" for r in found), [
        r.describe() for r in found]
    assert all(r.method.startswith("NN.backward") for r in found)


@pytest.mark.parametrize("source", [
    nn("return np.maximum(cache['Z0'], 0)"),
    nn("return scipy.special.softmax(cache['Z0'], axis=1)",
       header="import numpy as np\nimport scipy.special\n\n\n"),
    nn("return softmax(cache['Z0'], axis=1)", header="from scipy.special import softmax\n\n\n"),
    # a numpy module called torch, a class called torch_like, a parameter that shadows torch
    nn("torch = np\nreturn torch.zeros(3)"),
    # the file's own function replaces an earlier import of the same name
    "import numpy as np\nfrom torch import tensor\n\n\ndef tensor(x):\n    return np.asarray(x)\n\n\n"
    + nn("return tensor(cache['Z0'])", header=""),
    "import numpy as np\n\n\nclass torch_like:\n    def tensor(self, x):\n        return np.asarray(x)\n\n\n"
    + nn("return torch_like().tensor(cache['Z0'])", header=""),
    nn("return torch(3)", method="backward(self, cache, labels, torch=np.zeros)"),
    # recognising a tensor is not using one; annotations and docstrings use nothing
    nn("if isinstance(cache, torch.Tensor):\n    raise TypeError('numpy arrays only')\nreturn cache"),
    nn('"""Unlike torch.autograd, by hand. Do not write `import torch` here."""\nreturn cache',
       method="backward(self, cache: dict, labels: 'torch.Tensor') -> dict"),
    # torch for Part 4 only, imported at the top; a constant import of a numpy-side module
    nn("return cache") + "\n\nclass MnistCNN(torch.nn.Module):\n    def forward(self, x):\n"
    "        return torch.relu(x)\n\n\ndef make_cats_dogs_optimizer(model):\n"
    "    return torch.optim.Adam(model.parameters())\n",
    nn("return __import__('statistics').NormalDist().inv_cdf(0.5)", header="\n"),
    # seeding torch's generators computes nothing (a habit of files that also hold Part 4)
    nn("torch.manual_seed(0)\nnp.random.seed(0)\nreturn cache"),
    nn("manual_seed(0)\nreturn cache", header="import numpy as np\nfrom torch import manual_seed\n\n\n"),
    # data loaded with torchvision is data (torch itself would count)
    nn("self.train = load(root)\nreturn cache",
       header="from torchvision.datasets import MNIST as load\n\n\n"),
    nn("return importlib.import_module('scipy.special').softmax(x)", header="import importlib\n\n\n"),
    # torch elsewhere in NN is charged to its own part (the reference replaces it here)
    nn("return self.activation(cache['A1'], grad=True)", extra=(
        "\n    def activation(self, x, grad=False):\n        return torch.sigmoid(torch.tensor(x))\n")),
    # a dict of own methods looked up by a computed name (the worked solution's activation)
    nn("return {'relu': self.relu}[self.name](cache)", extra=(
        "\n    def relu(self, x):\n        return np.maximum(x, 0)\n")),
])
def test_allowed_code_breaks_no_rule(source):
    assert "backward" not in parts(source), numpy_only.reaches(source).get("backward")


def test_each_method_is_charged_to_its_own_part():
    source = nn("return self.activation(cache['A1'], grad=True)", extra=(
        "\n    def activation(self, x, grad=False):\n        return torch.sigmoid(torch.tensor(x))\n"
        "\n    def initialize_weights(self, dims):\n        return torch.randn(dims[0], dims[1])\n"))
    assert set(parts(source)) == {"activations", "init"}


def test_a_base_class_is_charged_where_its_methods_serve():
    source = HEADER + ("class Base:\n    def backward(self, cache, labels):\n        return torch.tensor(1)\n"
                       "\n    def forward(self, x):\n        return np.tanh(x)\n\n\n"
                       "class NN(Base):\n    pass\n")
    assert set(parts(source)) == {"backward"}
    module_base = source.replace("class Base:", "class Base(torch.nn.Module):")
    assert parts(module_base)["init"] == ["torch.nn.Module"]


def test_the_numpy_classes_are_roots_and_part4_is_not():
    source = HEADER + (
        "class Optimizer:\n    def gradients(self, params, grads):\n"
        "        return {k: torch.as_tensor(v) for k, v in grads.items()}\n\n\n"
        "class Adam(Optimizer):\n    def step(self, params, grads):\n"
        "        return self.gradients(params, grads)\n\n\n"
        "class BatchNorm:\n    def backward(self, dout, cache):\n        return jax.grad(f)(dout)\n\n\n"
        "class Dropout(torch.nn.Module):\n    pass\n\n\n"
        "class BatchNorm2d(torch.nn.Module):\n    def forward(self, x):\n"
        "        return torch.nn.functional.batch_norm(x, None, None)\n\n\n"
        "class CatsDogsCNN(torch.nn.Module):\n    def forward(self, x):\n        return torch.relu(x)\n")
    source = source.replace("import torch\n", "import torch\nimport jax\n", 1)
    found = parts(source)
    assert set(found) == {"optimizers", "batchnorm", "dropout"}
    assert found["batchnorm"] == ["jax.grad"]
    assert found["dropout"] == ["torch.nn.Module"]


def test_the_worked_solution_the_template_and_the_course_files_break_no_rule():
    for path in (WORKED_SOLUTION, TEMPLATE, *sorted(SUBMISSIONS.glob("*.py"))):
        found = numpy_only.reaches(path.read_text())
        if path.name == "fabricated_experiments.py":
            # its finite_difference returns torch autograd's gradient (graded there only in
            # the experiments part, which the rule does not cover)
            assert set(found) == {"finite_difference"}, path
            assert all(r.where == "NN._autograd" for r in found["finite_difference"])
        else:
            assert found == {}, (path, {p: [r.describe() for r in v] for p, v in found.items()})


def test_the_bug_bank_breaks_no_rule():
    from tests.bugs import BUGS

    text = WORKED_SOLUTION.read_text()
    for bug in BUGS:
        patched = text
        for old, new in bug.replacements:
            patched = patched.replace(old, new)
        assert numpy_only.reaches(patched) == {}, bug.name


def test_the_message_names_the_rule_the_method_and_the_line():
    source = nn("x = 1\nreturn torch.tensor(cache['Z0'])")
    message = numpy_only.verdict(numpy_only.reaches(source)["backward"])
    assert "numpy only" in message and "NN.backward reaches torch.tensor" in message
    assert "solution.py line 11" in message and "return torch.tensor(cache['Z0'])" in message


OLD_BACKWARD = '''        d_a = (output - labels) / batch_size
        for layer_n in range(n_layers, 0, -1):
            grads[f"dA{layer_n}"] = d_a
            grads[f"dW{layer_n}"] = cache[f"Z{layer_n - 1}"].T @ d_a
            grads[f"db{layer_n}"] = np.sum(d_a, axis=0, keepdims=True)
            if layer_n > 1:
                d_z = d_a @ self.weights[f"W{layer_n}"].T
                grads[f"dZ{layer_n - 1}"] = d_z
                d_a = d_z * self.activation(cache[f"A{layer_n - 1}"], grad=True)
'''

AUTOGRAD_BACKWARD = '''        del batch_size
        weights = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True)
                   for k, v in self.weights.items()}
        functions = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
                     "leaky_relu": lambda t: torch.nn.functional.leaky_relu(t, 0.01)}
        z, kept = torch.tensor(cache["Z0"], dtype=torch.float64), {}
        for layer_n in range(1, n_layers + 1):
            a = z @ weights[f"W{layer_n}"] + weights[f"b{layer_n}"]
            a.retain_grad()
            kept[f"A{layer_n}"] = a
            if layer_n < n_layers:
                z = functions[self.activation_str](a)
                z.retain_grad()
                kept[f"Z{layer_n}"] = z
        targets = torch.tensor(labels, dtype=torch.float64)
        loss = -(targets * torch.log_softmax(a, dim=1)).sum() / a.shape[0]
        loss.backward()
        for layer_n in range(1, n_layers + 1):
            grads[f"dA{layer_n}"] = kept[f"A{layer_n}"].grad.numpy()
            grads[f"dW{layer_n}"] = weights[f"W{layer_n}"].grad.numpy()
            grads[f"db{layer_n}"] = weights[f"b{layer_n}"].grad.numpy()
            if layer_n < n_layers:
                grads[f"dZ{layer_n}"] = kept[f"Z{layer_n}"].grad.numpy()
'''


def test_autograd_backward_loses_the_backward_part(tmp_path):
    """The issue's case end to end: right gradients from torch autograd. Before the rule it had
    every backward point; now backward scores 0 and says why, and forward keeps its points."""
    path = patched_solution(tmp_path, [(OLD_BACKWARD, AUTOGRAD_BACKWARD)])
    code, output, data = grade_file(path, tmp_path / "results.json", "--parts", "forward,backward")
    assert data is not None, output
    scores = part_scores(data)
    assert scores["forward"][0] == scores["forward"][1] > 0, output
    assert scores["backward"] == (0.0, scores["backward"][1]) and scores["backward"][1] > 0, output
    why = {t["extra_data"]["test"]: t.get("output", "") for t in data["tests"]}
    line = path.read_text().splitlines().index(
        '        weights = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True)') + 1
    for test, (score, _) in scores_by_test(data).items():
        if test.startswith("test_backward"):
            assert score == 0
            assert "numpy only" in why[test] and "NN.backward reaches torch" in why[test], why[test]
            assert f"solution.py line {line}" in why[test], why[test]
    assert code == 1


def test_a_framework_in_one_method_costs_its_whole_part_only(tmp_path):
    """The decision written in the rubric (NUMPY_ONLY_PARTS): relu's value through a helper that
    calls torch costs every activations test, tanh's and the dispatch's included, and nothing
    in softmax, which is graded with the reference's activations."""
    path = patched_solution(tmp_path, [
        ("        return np.maximum(x, 0)\n", "        return _relu(x)\n"),
        ("class NN:\n", "def _relu(x):\n    return torch.relu(torch.as_tensor(x)).numpy()\n\n\nclass NN:\n")])
    code, output, data = grade_file(path, tmp_path / "results.json", "--parts", "activations,softmax")
    assert data is not None, output
    scores = part_scores(data)
    assert scores["activations"] == (0.0, scores["activations"][1]), output
    assert scores["softmax"][0] == scores["softmax"][1] > 0, output
    why = {t["extra_data"]["test"]: t.get("output", "") for t in data["tests"]}
    assert "NN.relu reaches torch.as_tensor, torch.relu" in why["test_tanh"], why["test_tanh"]
    assert "in _relu" in why["test_tanh"]
    assert code == 1
