"""The dying-ReLU study (``report.studies.dying_relu``): its smoke run, the batched training against
one ``nn.Sequential`` at a time, and ReLU collapsing more often than leaky ReLU."""
from __future__ import annotations

import json
import types

import pytest
import torch

from report import plots
from report.studies import dying_relu

pytestmark = pytest.mark.xdist_group("report")


@pytest.fixture(scope="module")
def smoke_logs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dying_relu")
    context = types.SimpleNamespace(folder=folder, scale="smoke", notes=[], solution=None, data_root=None,
                                    progress=lambda iterable=None, total=None, desc="": iterable)
    torch.set_num_threads(1)
    logs = dying_relu.run(dying_relu.Config.at_scale("smoke"), context)
    return json.loads(json.dumps(logs)), folder   # what logs.json keeps


def test_the_smoke_run_logs_plots_tabulates_and_describes(smoke_logs):
    logs, folder = smoke_logs
    config = dying_relu.Config.at_scale("smoke")
    assert logs["runs"] == config.runs and logs["dims"] == [1] + [2] * 10 + [1] and logs["parameters"] == 61
    for entry in logs["activations"].values():
        assert entry["collapse_fraction"] == entry["collapsed"] / config.runs
        for verdict, runs in entry["examples"].items():
            for outputs in runs.values():
                assert len(outputs) == len(logs["grid"])
                # The examples are kept on every 10th grid point: their spread is close to the verdict's.
                spread = torch.tensor(outputs).std() / torch.tensor(logs["target"]).std()
                limit = dying_relu.COLLAPSE_RATIO * (2 if verdict == "collapsed" else 0.5)
                assert (spread < limit) == (verdict == "collapsed")
    figures = dying_relu.plot(logs)
    assert set(figures) == {"collapse_fraction", "learned_functions"}
    assert figures["collapse_fraction"].axes[0].get_title() == "Runs that collapse to a constant function"
    for name, figure in figures.items():
        assert plots.save(figure, folder, name)["png"].stat().st_size > 5000
    headers, rows = dying_relu.table(logs)
    assert len(rows) == 2 and all(len(row) == len(headers) for row in rows)
    settings = dying_relu.describe(logs)
    assert settings["scale"] == "smoke" and "10 hidden layers of width 2" in settings["architecture"]


def test_relu_collapses_more_often_than_leaky_relu(smoke_logs):
    # Measured at the smoke size (100 runs, 5 epochs), seeds 0-4: relu 0.95-0.97, leaky relu 0.33-0.39;
    # most ReLU networks are constant from the start (the paper's "born dead").
    activations = smoke_logs[0]["activations"]
    relu, leaky = activations["relu"], activations["leaky relu"]
    assert relu["collapse_fraction"] > 0.8
    assert relu["collapse_fraction"] > leaky["collapse_fraction"] + 0.2
    assert relu["dead_at_start"] > 0.7 * smoke_logs[0]["runs"]


@pytest.mark.parametrize("slope", [0.0, 0.01])
def test_the_batched_runs_match_one_network_at_a_time(slope):
    """Same initial weights and minibatch orders: the same final outputs (float64) and verdicts.
    40 runs are trained together; the loop retrains 6 of them, 4 that were not constant at the start
    (so that some end not collapsed) and 2 that were."""
    torch.set_num_threads(1)
    config = dying_relu.Config(runs=40, epochs=2)
    x, y, grid, wanted = dying_relu.problem(config)
    verdicts = []
    for seed in (0, 1):
        parameters = dying_relu.initial_parameters(config, config.runs, seed)
        start = [(weight.clone(), bias.clone()) for weight, bias in parameters]
        dead = dying_relu.collapsed(dying_relu.outputs_on(parameters, grid, slope), wanted).tolist()
        chosen = ([run for run, flag in enumerate(dead) if not flag][:4]
                  + [run for run, flag in enumerate(dead) if flag][:2])
        orders = dying_relu.minibatch_orders(config, config.runs, seed + 1)
        batched = dying_relu.outputs_on(dying_relu.train_batched(config, parameters, orders, slope, x, y),
                                        grid, slope)[chosen]
        alone = torch.stack([dying_relu.train_one(config, start, run, orders, slope, x, y, grid)
                             for run in chosen])
        assert torch.allclose(batched, alone, rtol=0, atol=1e-5)   # measured: below 1e-6
        assert torch.equal(dying_relu.collapsed(batched, wanted), dying_relu.collapsed(alone, wanted))
        verdicts += dying_relu.collapsed(batched, wanted).tolist()
    assert any(verdicts) and not all(verdicts)   # both verdicts were compared
