"""The experiments part (``pytest grader --experiments``): opt-in, full marks for the worked
solution with its measurements and figures in results.json, and each missed outcome costs its
own row with a message that names it."""
from __future__ import annotations

import base64
import math

import pytest

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


BROKEN = (
    # a "zero" initializer that draws small random weights: the network learns
    ("                w = np.zeros((d_in, d_out))\n",
     "                w = np.random.normal(0.0, 0.05, size=(d_in, d_out))\n"),
    # a finite difference that ignores epsilon (a fixed 1e-5): the same error at every N
    ("            w[index] = original + epsilon\n", "            w[index] = original + 1e-5\n"),
    ("            w[index] = original - epsilon\n", "            w[index] = original - 1e-5\n"),
    ("            estimates[i] = (loss_plus - loss_minus) / (2 * epsilon)\n",
     "            estimates[i] = (loss_plus - loss_minus) / (2 * 1e-5)\n"),
    # Adam climbs the gradient
    ("            params[name] = param - self.lr * m_hat / (np.sqrt(v_hat) + self.eps)",
     "            params[name] = param + self.lr * m_hat / (np.sqrt(v_hat) + self.eps)"),
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
    assert "held-out images correctly" in cats["output"] and "learning rate" in cats["output"]
    assert cats["extra_data"]["experiment"]["attempts"] == 3
    optimizers = tests["test_experiment_optimizers"]
    assert scores["test_experiment_optimizers"] == (4.0, 5.0), output
    assert "Adam: the training loss went from" in optimizers["output"]
    runs = optimizers["extra_data"]["experiment"]["runs"]
    assert runs["Adam"]["final_loss"] > runs["Adam"]["initial_loss"] * 0.75
    assert all(runs[name]["final_loss"] < 0.75 * runs[name]["initial_loss"]
               for name in ("AdaGrad", "RMSProp", "RMSPropNesterov", "AdaDelta"))
