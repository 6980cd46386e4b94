"""The experiments part (``pytest grader --experiments``): opt-in, full marks for the worked
solution with its measurements and figures in results.json, and each missed outcome costs its
own row with a message that names it."""
from __future__ import annotations

import base64
import math

import pytest
import torch

from tests.conftest import WORKED_SOLUTION, grade_file, part_scores, patched_solution, scores_by_test

pytestmark = pytest.mark.xdist_group("experiments")

EXPERIMENT_TESTS = ("test_experiment_initialization", "test_experiment_finite_differences",
                    "test_experiment_cnn_vs_mlp", "test_experiment_cats_dogs",
                    "test_experiment_batch_norm", "test_experiment_optimizers")


def experiments_of(data: dict) -> dict:
    return {t["extra_data"]["test"]: t for t in data["tests"]
            if t["extra_data"]["test"] in EXPERIMENT_TESTS}


def test_experiments_are_opt_in(tmp_path):
    from grader.rubric import DEFAULT_PARTS, OPT_IN_PARTS, RUBRIC

    assert "experiments" in OPT_IN_PARTS and "experiments" not in DEFAULT_PARTS
    assert {row.test for row in RUBRIC if row.part == "experiments"} == set(EXPERIMENT_TESTS)
    code, output, data = grade_file(WORKED_SOLUTION, tmp_path / "r.json", "--parts", "softmax")
    assert code == 0, output
    assert "experiments" not in part_scores(data) and not experiments_of(data)


def test_worked_solution_shows_every_outcome(tmp_path):
    code, output, data = grade_file(WORKED_SOLUTION, tmp_path / "r.json", "--experiments",
                                    "--parts", "experiments")
    assert code == 0, output
    assert part_scores(data) == {"experiments": (21.0, 21.0)}, output
    tests = experiments_of(data)
    assert set(tests) == set(EXPERIMENT_TESTS)
    for name, test in tests.items():
        experiment = test["extra_data"]["experiment"]
        assert experiment["figures"], name
        for uri in experiment["figures"].values():
            assert base64.b64decode(uri.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    init = tests["test_experiment_initialization"]["extra_data"]["experiment"]["runs"]
    assert all(abs(loss - math.log(10)) < 1e-2 for loss in init["zero"]["train_loss"])
    assert init["glorot"]["train_loss"][-1] < init["normal"]["train_loss"][-1]
    fd = tests["test_experiment_finite_differences"]["extra_data"]["experiment"]
    assert fd["best_N"] not in (fd["N"][0], fd["N"][-1]) and len(fd["errors"]) == len(fd["N"])
    cnn = tests["test_experiment_cnn_vs_mlp"]["extra_data"]["experiment"]["runs"]
    assert set(cnn) == {"MnistCNN", "your MLP"}
    assert len(cnn["your MLP"]["validation_error"]) == len(cnn["MnistCNN"]["validation_error"]) == 3
    # the grader's own controls and "before" states, and the student's code measured against them
    own = tests["test_experiment_initialization"]["extra_data"]["experiment"]["your_train_loop"]
    assert set(own) == {"glorot"} and own["glorot"]["epoch_1_off_by"] < 1e-9, own
    assert len(fd["epsilon"]) == len(fd["N"])
    assert all(1 / n <= e < 2 / n for n, e in zip(fd["N"], fd["epsilon"], strict=True))
    assert tests["test_experiment_cnn_vs_mlp"]["extra_data"]["experiment"][
        "untrained_validation_accuracy"] < 0.3
    cats = tests["test_experiment_cats_dogs"]["extra_data"]["experiment"]
    assert cats["run"]["held_out_accuracy"][-1] - cats["run"]["untrained_accuracy"] >= 0.2
    batch_norm = tests["test_experiment_batch_norm"]["extra_data"]["experiment"]
    assert batch_norm["held_out_accuracy"][-1] - batch_norm["untrained_accuracy"] >= 0.3
    optimizers = tests["test_experiment_optimizers"]["extra_data"]["experiment"]["runs"]
    assert all(run["path_error"] < 1e-9 and run["steps"] == 16 for run in optimizers.values())


BROKEN = (
    # a "zero" initializer that draws small random weights: the network learns
    ("                w = np.zeros((d_in, d_out))\n",
     "                w = np.random.normal(0.0, 0.05, size=(d_in, d_out))\n"),
    # a finite difference that ignores epsilon (a fixed 1e-5): the same error at every N
    ("            w[index] = original + epsilon\n", "            w[index] = original + 1e-5\n"),
    ("            w[index] = original - epsilon\n", "            w[index] = original - 1e-5\n"),
    ("            estimates[i] = (loss_plus - loss_minus) / (2 * epsilon)\n",
     "            estimates[i] = (loss_plus - loss_minus) / (2 * 1e-5)\n"),
    # NN.update ignores the optimizer and takes its own SGD step (the red team's finding: at the
    # NN's default learning rate that step alone lowered the loss enough to pass)
    ("            self.optimizer.step(self.weights, grads)\n            return\n", "            pass\n"),
    # a BatchNorm2d that never uses its weight and bias: they get no gradient and stay put
    ("        return self.weight.view(shape) * x_hat + self.bias.view(shape)\n",
     "        return x_hat + 0 * self.weight.sum() + 0 * self.bias.sum()\n"),
    # an optimizer whose learning rate is far too small to learn in a few epochs
    ("return torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)",
     "return torch.optim.SGD(model.parameters(), lr=1e-7, momentum=0.9, weight_decay=5e-4)"),
)


def test_missed_outcomes_cost_their_rows(tmp_path):
    broken = patched_solution(tmp_path, BROKEN)
    code, output, data = grade_file(broken, tmp_path / "r.json", "--experiments", "--parts",
                                    "experiments")
    assert code == 1, output
    scores = scores_by_test(data)
    tests = experiments_of(data)
    init = tests["test_experiment_initialization"]
    assert scores["test_experiment_initialization"] == (2.0, 4.0), output
    assert "init_method='zero'" in init["output"] and "ln 10" in init["output"]
    fd = tests["test_experiment_finite_differences"]
    assert scores["test_experiment_finite_differences"][0] < 3.0, output
    assert "Does finite_difference use epsilon?" in fd["output"]
    assert scores["test_experiment_cnn_vs_mlp"] == (3.0, 3.0), output
    cats = tests["test_experiment_cats_dogs"]
    assert scores["test_experiment_cats_dogs"] == (0.0, 3.0), output
    assert "does not learn" in cats["output"] and "learning rate" in cats["output"]
    assert "training loss hardly moved" in cats["output"]
    assert cats["extra_data"]["experiment"]["attempts"] == 3
    optimizers = tests["test_experiment_optimizers"]
    assert scores["test_experiment_optimizers"] == (0.0, 5.0), output
    assert "AdaGrad: the training loss went from" in optimizers["output"]
    assert "does NN.update call it?" in optimizers["output"]
    runs = optimizers["extra_data"]["experiment"]["runs"]
    assert all(run["final_loss"] == pytest.approx(run["initial_loss"]) for run in runs.values())
    assert all(run["path_error"] == pytest.approx(1.0) for run in runs.values())   # never moved
    batch_norm = tests["test_experiment_batch_norm"]
    assert scores["test_experiment_batch_norm"] == (2.0, 3.0), output   # it learns; nothing moved
    assert "did not move" in batch_norm["output"] and "self.weight and self.bias" in batch_norm["output"]
    # each parameter that did not move is named (issue 24: the message named gamma alone)
    assert batch_norm["output"].count("(gamma and beta)") == 4, batch_norm["output"]


class Padded(torch.nn.Module):
    """A batch norm that computes the right values through a copy 2,000 times its input's size."""

    def __init__(self, channels: int, padded: bool):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(channels))
        self.bias = torch.nn.Parameter(torch.zeros(channels))
        self.padded = padded

    def forward(self, x):
        if self.padded:
            x = x.unsqueeze(-1).expand(*x.shape, 2000).mean(-1)
        mean, var = x.mean(dim=(0, 2, 3), keepdim=True), x.var(dim=(0, 2, 3), keepdim=True)
        x_hat = (x - mean) / torch.sqrt(var + 1e-5)
        return self.weight.view(1, -1, 1, 1) * x_hat + self.bias.view(1, -1, 1, 1)


def test_a_layer_that_would_cost_the_grader_memory_is_refused_before_it_runs():
    """The batch-norm experiment replays the student's layer on whole batches in the grader's
    process: ``layer.measure`` replays it first on the meta device (nothing allocated) and refuses
    an operation far larger than the input (the red team's padded layer held the grader 420 s)."""
    from grader.isolation.inside.worker_graph import capture_layer_steps
    from grader.networks import layer

    shape = (50, 6, 28, 28)
    plain = capture_layer_steps(Padded(6, padded=False), {"train": shape, "eval": shape})
    assert layer.measure(plain, shape) == ""
    padded = capture_layer_steps(Padded(6, padded=True), {"train": shape, "eval": shape})
    problem = layer.measure(padded, shape)
    assert "470,400,000 numbers from an input of 235,200" in problem, problem


PADDED_BATCHNORM2D = (
    "        if self.training:\n            mean = x.mean(dim=(0, 2, 3))\n",
    "        x = x.unsqueeze(-1).expand(*x.shape, 2000).mean(-1)\n"
    "        if self.training:\n            mean = x.mean(dim=(0, 2, 3))\n")


def test_part_batchnorm2d_measures_the_layer_before_it_replays_it(tmp_path):
    """Part batchnorm2d replays the student's layer in the grader's process too: it is measured
    first, so that every replay has a cost the grader has bounded (each operator's cost is linear
    in the sizes it reads and writes, and measure bounds them). A layer that computes the right
    values through a copy 2,000 times its input is refused with the reason (on main it was
    replayed, and got every point)."""
    padded = patched_solution(tmp_path, [PADDED_BATCHNORM2D])
    code, output, data = grade_file(padded, tmp_path / "r.json", "--parts", "batchnorm2d")
    assert data is not None, output[-3000:]
    tests = {t["extra_data"]["test"]: t for t in data["tests"]}
    train = tests["test_batchnorm2d_train"]
    assert train["score"] == 0, output[-3000:]
    assert "the grader will not replay it" in train["output"], train["output"]
    assert "at most 8 times the input's size" in train["output"], train["output"]
