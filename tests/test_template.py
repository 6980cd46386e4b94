"""The student template: generated from solution.py, up to date, importable, every stub raises."""
import importlib.util
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import REPOSITORY, TEMPLATE, WORKED_SOLUTION

from grader.authoring.template import TemplateError, make_template, regions


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_template_is_up_to_date():
    assert TEMPLATE.read_text() == make_template(WORKED_SOLUTION.read_text()), (
        "template/solution.py is stale: run `python -m grader template`")
    check = subprocess.run([sys.executable, "-m", "grader", "template", "--check"],
                           cwd=REPOSITORY, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def stub_arguments(nn):
    x, y = nn.train
    return {
        "initialize_weights": ([x.shape[1], y.shape[1]],),
        "relu": (x,), "sigmoid": (x,), "tanh": (x,), "leaky_relu": (x,), "activation": (x,),
        "softmax": (x,), "forward": (x,), "backward": ({"Z0": x, "Z3": y}, y),
        "update": ({},), "loss": (y, y), "train_loop": (1,), "evaluate": (),
        "finite_difference": (x, y, 1e-5),
    }


def test_template_imports_constructs_and_every_stub_raises():
    template = load(TEMPLATE, "student_template")
    nn = template.NN(hidden_dims=(4, 3))
    nn.weights = {}
    nn.initialize_weights = lambda dims: None  # train_loop reaches its own stub only past this
    arguments = stub_arguments(nn)
    found = regions(WORKED_SOLUTION.read_text())
    assert len(found) >= 13
    params = {"W1": np.ones((2, 2))}
    grads = {"dW1": np.ones((2, 2))}
    x3 = np.ones((4, 3))
    def batchnorm():  # built by hand: its __init__ is a stub too
        layer = object.__new__(template.BatchNorm)
        layer.num_features, layer.eps, layer.momentum = 3, 1e-5, 0.1
        layer.gamma = layer.running_var = np.ones((1, 3))
        layer.beta = layer.running_mean = np.zeros((1, 3))
        return layer

    def batchnorm2d():  # built by hand: its __init__ is a stub too
        layer = object.__new__(template.BatchNorm2d)
        torch.nn.Module.__init__(layer)
        return layer

    layers = {"BatchNorm": batchnorm, "Dropout": lambda: template.Dropout(0.5),
              "BatchNorm2d": batchnorm2d}
    inputs = {"BatchNorm": x3, "Dropout": x3, "BatchNorm2d": torch.ones(2, 3, 2, 2)}
    layer_calls = {"forward": lambda layer: layer.forward(inputs[type(layer).__name__]),
                   "backward": lambda layer: layer.backward(x3, None),
                   "__init__": lambda layer: type(layer).__init__(layer, 3)}
    networks = {"MnistCNN": torch.ones(1, 1, 28, 28), "CatsDogsCNN": torch.ones(1, 3, 64, 64)}
    functions = {"make_cats_dogs_optimizer": (torch.nn.Linear(2, 2),),
                 "write_kaggle_submission": (torch.nn.Linear(2, 2), [], "never-written.csv")}
    for part, where in found:
        if where in functions:
            with pytest.raises(NotImplementedError, match=part):
                getattr(template, where)(*functions[where])
            continue
        owner, method = where.split(".")
        if owner in networks:
            cls = getattr(template, owner)
            with pytest.raises(NotImplementedError, match=part):
                if method == "__init__":
                    cls()
                else:
                    network = object.__new__(cls)  # built by hand: its __init__ is a stub too
                    torch.nn.Module.__init__(network)
                    network.forward(networks[owner])
            continue
        if owner in layers:
            with pytest.raises(NotImplementedError, match=part):
                layer_calls[method](layers[owner]())
            continue
        if owner != "NN":  # an optimizer: the stub is its step()
            with pytest.raises(NotImplementedError, match=part):
                getattr(template, owner)(lr=0.1).step(params, grads)
            continue
        assert method in arguments, f"no arguments known for the stub {where}"
        with pytest.raises(NotImplementedError, match=part):
            getattr(type(nn), method)(nn, *arguments[method])
    nn.optimizer = template.Adam()
    with pytest.raises(NotImplementedError, match="update"):
        nn.update({})


def test_worked_solution_has_a_region_in_each_graded_part():
    from grader.rubric import DEFAULT_PARTS

    # (the opt-in experiments part runs the other parts' code: it has no region of its own)
    parts = {part for part, _ in regions(WORKED_SOLUTION.read_text())}
    assert set(DEFAULT_PARTS) <= parts | {"activations"}
    assert parts <= set(DEFAULT_PARTS) | {"evaluate"}


@pytest.mark.parametrize("source, words", [
    ("x = 1\n# BEGIN SOLUTION a\ny = 2\n", "never closed"),
    ("x = 1\n# END SOLUTION\n", "without a BEGIN"),
    ("# BEGIN SOLUTION a\n# BEGIN SOLUTION b\n# END SOLUTION\n", "inside the region"),
])
def test_unbalanced_markers_are_reported_with_their_line(source, words):
    with pytest.raises(TemplateError, match=words):
        make_template(source)


def test_template_keeps_indentation_and_names_the_method():
    source = ("class NN:\n    def relu(self, x):\n        # BEGIN SOLUTION activations\n"
              "        return x\n        # END SOLUTION\n")
    text = make_template(source)
    assert ('        raise NotImplementedError("activations: NN.relu is not implemented yet")\n'
            in text)
    assert "return x" not in text
    namespace = {}
    exec(compile(text, "t.py", "exec"), namespace)
    with pytest.raises(NotImplementedError):
        namespace["NN"]().relu(np.zeros(2))
