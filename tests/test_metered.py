"""The grader's metered child process (``grader/networks/metered.py``): what the grader runs on a
student's description is metered in CPU seconds and stopped at its budget, even inside one long
operation, and its cost is charged to the part being graded."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from test_worker import session_for

from grader.networks import metered


def test_plain_data_travels_both_ways(runner):
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    value = runner.run("echo", 5.0, x=x, settings={"lr": 1e-3, "epochs": 2})
    assert np.array_equal(value["x"], x) and value["x"].dtype == np.float32
    assert value["settings"] == {"lr": 1e-3, "epochs": 2}


def test_a_run_past_its_budget_is_stopped_and_the_next_run_gets_a_fresh_child(runner):
    started = time.monotonic()
    with pytest.raises(metered.BudgetSpent):
        runner.run("spin", 1.0, seconds=60.0)
    assert time.monotonic() - started < 20, "the run was not stopped at its budget"
    assert 1.0 < runner.cpu_used < 2.0, runner.cpu_used
    assert runner.process is None
    assert runner.run("spin", 10.0, seconds=0.2)["spun"] >= 0.2   # a fresh child


def test_a_task_that_fails_says_why_and_unknown_tasks_are_refused(runner):
    with pytest.raises(metered.ChildFailed, match="TypeError"):
        runner.run("spin", 5.0, seconds="a while")
    with pytest.raises(ValueError, match="unknown task"):
        runner.run("os.system", 5.0)


def test_the_session_charges_the_childs_cpu_to_the_part(tmp_path):
    session = session_for(tmp_path, "")
    session.part_budgets = {"mnist_cnn": 1.5}
    try:
        session.begin_part_test("mnist_cnn", True)
        session.run_network_task("spin", seconds=0.5)
        assert 0.5 <= session.spent_by_part["mnist_cnn"] < 1.0, session.spent_by_part
        with pytest.raises(metered.BudgetSpent, match="used its whole budget of 1.5 CPU s in mnist_cnn"):
            session.run_network_task("spin", seconds=30.0)
        assert session.budget_left() <= 0
        with pytest.raises(metered.BudgetSpent, match="whole budget of 1.5 CPU s in mnist_cnn"):
            session.run_network_task("echo")
    finally:
        session.close()


def test_the_child_uses_the_graders_thread_count(runner):
    """Several gradings (or the worker beside one) share the cores: the child must not start a
    thread per core when the grader runs with one."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runner.close()
        assert runner.run("threads", 5.0) == 1
    finally:
        torch.set_num_threads(threads)


def test_a_run_with_its_own_limit_is_stopped_there_and_charged_to_the_part(tmp_path):
    """The experiments give each study's run a limit below the part's budget, so that one costly
    network does not take the other studies' share; the CPU it used still counts for the part."""
    session = session_for(tmp_path, "")
    session.part_budgets = {"experiments": 100.0}
    try:
        session.begin_part_test("experiments", True)
        with pytest.raises(metered.BudgetSpent, match="used its whole limit of 1 CPU s"):
            session.run_network_task("spin", limit_s=1.0, seconds=30.0)
        assert 1.0 <= session.spent_by_part["experiments"] < 2.0, session.spent_by_part
        assert session.budget_left() > 90   # the part goes on
    finally:
        session.close()


class _Pooled(torch.nn.Module):
    """A network for 28 x 28 digits whose cost the graph's FLOP measure does not price: 120 max
    poolings with a 27 x 27 window at stride 1 over 64 channels (about 9 G comparisons an image)."""

    def __init__(self, poolings: int = 120):
        super().__init__()
        self.wide = torch.nn.Conv2d(1, 64, 3, padding=1)
        self.pool = torch.nn.MaxPool2d(27, stride=1, padding=13)
        self.fc = torch.nn.Linear(64 * 28 * 28, 10)
        self.poolings = poolings

    def forward(self, x):
        x = torch.relu(self.wide(x))
        for _ in range(self.poolings):
            x = self.pool(x)
        return self.fc(x.flatten(1))


def _study(capture, images, labels, **settings):
    return dict(capture=capture, seed=3, input_shape=[8, 1, 28, 28],
                optimizer={"grader": "Adam", "settings": {"lr": 1e-3}}, images=images,
                labels=labels, calibration=None, evaluate=[images[:32], images[32:48]],
                epochs=2, batch_size=8, train_seeds=[0, 1], **settings)


def test_an_experiment_study_is_metered_inside_its_operations(runner):
    """The experiments' CNN studies (untrained control, epochs, evaluations) run in the child: a
    network the measure does not price is stopped at the run's CPU limit inside one pooling,
    where the grader's own process could only check between batches."""
    from test_networks import capture_of

    rng = np.random.default_rng(0)
    images = rng.normal(size=(64, 1, 28, 28)).astype(np.float32)
    labels = rng.integers(0, 10, 64)
    cheap = runner.run("study_training", 60.0, **_study(capture_of(_Pooled(0), (2, 1, 28, 28)),
                                                        images, labels))
    assert cheap["untrained"].shape == (16, 10)
    assert [[a.shape for a in e["logits"]] for e in cheap["epochs"]] == [[(32, 10), (16, 10)]] * 2
    assert all(np.isfinite(e["loss"]) for e in cheap["epochs"])
    assert cheap["first_kernels"].shape == (64, 1, 3, 3)
    started = time.monotonic()
    with pytest.raises(metered.BudgetSpent):
        runner.run("study_training", 3.0, **_study(capture_of(_Pooled(), (2, 1, 28, 28)),
                                                   images, labels))
    assert time.monotonic() - started < 60, "the study was not stopped at its limit"
    assert 3.0 <= runner.cpu_used < 5.0, runner.cpu_used


def test_the_batch_norm_study_runs_the_replayed_layers_in_the_child(runner):
    """LeNet-5 with the student's replayed BatchNorm2d is trained in the child: its result is
    plain data (accuracies, losses, the trained gamma and beta by the student's names), and a
    run past its limit is stopped."""
    from test_networks import OwnBatchNorm2d, worker_graph

    from reference.lenet import BN_SHAPES

    batch = 10
    captures = {where: worker_graph.capture_layer_steps(
        OwnBatchNorm2d(shape[0]), {"train": [batch, *shape], "eval": [batch, *shape]})
        for where, shape in BN_SHAPES.items() if where != "input"}
    rng = np.random.default_rng(1)
    images, labels = rng.normal(size=(40, 1, 28, 28)), rng.integers(0, 10, 40)
    settings = dict(captures=captures, torch_seed=5, images=images, labels=labels,
                    held_out=images[:20], held_out_labels=labels[:20], batch=batch, lr=1e-2)
    run = runner.run("lenet_batch_norm", 60.0, epochs=2, **settings)
    assert len(run["train_loss"]) == len(run["held_out_accuracy"]) == 2
    assert 0.0 <= run["untrained_accuracy"] <= 1.0
    assert set(run["parameters"]) == {"conv1", "conv2", "fc1", "fc2"}
    gamma = run["parameters"]["conv1"]["weight"]
    assert gamma.shape == (6,) and np.max(np.abs(gamma - 1.0)) > 1e-4   # trained
    with pytest.raises(metered.BudgetSpent):
        runner.run("lenet_batch_norm", 0.3, epochs=50, **settings)
