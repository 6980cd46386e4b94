"""The grader's metered child process (``grader/networks/metered.py``): what the grader runs on a
student's description is metered in CPU seconds and stopped at its budget, even inside one long
operation, and its cost is charged to the part being graded."""
from __future__ import annotations

import time

import numpy as np
import pytest
from test_worker import session_for

from grader.networks import metered


@pytest.fixture
def runner():
    runner = metered.Runner()
    yield runner
    runner.close()


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
