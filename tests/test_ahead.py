"""Runs started ahead (``grader/networks/ahead.py``, issue 26): the CNN parts' trainings start at
the start of a grading, in a metered child of their own, and their tests take the result. The
run is still metered and killable, it is charged to its own part when taken, a run that used
more than what the part has left then is a spent budget (as if it had started then), and its
verdicts are the same as when the trainings run one after the other."""
from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest
from conftest import WORKED_SOLUTION, grade_file, patched_solution, scores_by_test
from test_worker import session_for

from grader.networks import metered
from grader.networks.ahead import AheadRuns


def test_a_run_ahead_is_metered_and_stopped_at_its_budget(runner):
    runs = AheadRuns([(runner, threading.Lock(), False)])
    started = time.monotonic()
    try:
        value, error, cpu_used = runs.start("spin", {"seconds": 60.0}, 1.0).result()
    finally:
        runs.close()
    assert value is None and isinstance(error, metered.BudgetSpent), error
    assert 1.0 < cpu_used < 2.0, cpu_used
    assert time.monotonic() - started < 20, "the run was not stopped at its budget"
    assert runner.process is None      # its child is gone


def test_runs_ahead_share_one_child_one_at_a_time_and_cancel_kills_them(runner):
    lock = threading.Lock()
    runs = AheadRuns([(runner, lock, False)])
    try:
        first = runs.start("spin", {"seconds": 1.0}, 10.0)
        second = runs.start("spin", {"seconds": 30.0}, 60.0)
        third = runs.start("echo", {"x": 1}, 10.0)
        assert first.result()[0]["spun"] >= 1.0
        child = runner.process.pid
        time.sleep(1.0)                          # the second runs in the same child by now
        assert not second.done and runner.process is not None and runner.process.pid == child
        with pytest.raises(TimeoutError):        # a run the grading asks for waits its turn
            if not lock.acquire(timeout=0.5):
                raise TimeoutError
        runs.cancel(second)
        value, error, cpu_used = second.result()
        assert value is None and isinstance(error, metered.ChildFailed), error
        assert cpu_used < 10.0
        assert third.result()[0] == {"x": 1}     # the next run gets a fresh child
        # the child started by the runs' thread lives on for the grading's next run
        assert runner.run("echo", 5.0, y=2) == {"y": 2}
    finally:
        runs.close()


def test_two_lanes_run_two_runs_side_by_side_each_metered_in_its_own_child(runner):
    """An interactive grading's second lane: a child of its own, owned (closed with the runs);
    each run is metered and stopped at its own budget, whatever the other does."""
    second = metered.Runner()
    runs = AheadRuns([(runner, threading.Lock(), False), (second, threading.Lock(), True)])
    try:
        spinning = runs.start("spin", {"seconds": 60.0}, 1.5)
        echo = runs.start("echo", {"x": 2}, 10.0)
        assert echo.result()[0] == {"x": 2}              # not queued behind the spinning run
        value, error, cpu_used = spinning.result()
        assert isinstance(error, metered.BudgetSpent) and 1.5 < cpu_used < 2.5, (error, cpu_used)
        assert second.process is not None and runner.process is None   # the spin's was killed
        assert {runs._placed[id(spinning)].runner, runs._placed[id(echo)].runner} == {runner,
                                                                                      second}
    finally:
        runs.close()
    assert second.process is None, "a lane's own child outlived the runs"


def test_the_session_takes_a_run_started_ahead_and_charges_it_to_its_part(tmp_path):
    session = session_for(tmp_path, "")
    session.part_budgets = {"mnist_cnn": 30.0, "cats_dogs_cnn": 30.0}
    try:
        x = np.arange(6.0).reshape(2, 3)
        session.start_network_task("mnist_cnn", "spin", seconds=0.5)
        session.start_network_task("cats_dogs_cnn", "echo", x=x)
        session.begin_part_test("init", False)          # another part is graded meanwhile
        assert session.spent_by_part.get("mnist_cnn", 0.0) == 0.0
        session.begin_part_test("mnist_cnn", True)
        assert session.run_network_task("spin", seconds=0.5)["spun"] >= 0.5
        assert 0.5 <= session.spent_by_part["mnist_cnn"] < 1.5, session.spent_by_part
        session.end_part_test()
        session.begin_part_test("cats_dogs_cnn", True)
        # other arguments than the run's: the run started ahead is not taken
        other = session.run_network_task("echo", x=x + 1)
        assert np.array_equal(other["x"], x + 1)
        assert ("cats_dogs_cnn", "echo") not in session._ahead
    finally:
        session.close()


def test_a_run_ahead_that_used_more_than_is_left_when_taken_is_a_spent_budget(tmp_path):
    session = session_for(tmp_path, "")
    session.part_budgets = {"mnist_cnn": 2.0}
    try:
        session.start_network_task("mnist_cnn", "spin", seconds=1.2)
        session.begin_part_test("mnist_cnn", True)
        session._spend(1.0)     # the part spent some of its budget before its test took the run
        with pytest.raises(metered.BudgetSpent, match="whole budget of 2 CPU s in mnist_cnn"):
            session.run_network_task("spin", seconds=1.2)
        # charged what a run started now would have spent: the rest of the part's budget
        assert session.spent_by_part["mnist_cnn"] == pytest.approx(2.0, abs=0.05)
    finally:
        session.close()


def test_a_failed_run_ahead_is_its_own_tests_failure(tmp_path):
    session = session_for(tmp_path, "")
    try:
        session.start_network_task("mnist_cnn", "spin", seconds="a while")
        session.begin_part_test("mnist_cnn", True)
        with pytest.raises(metered.ChildFailed, match="TypeError"):
            session.run_network_task("spin", seconds="a while")
    finally:
        session.close()


@pytest.mark.parametrize("bug", ["cats_dogs_tiny_lr", "mnist_cnn_frozen"])
def test_verdicts_are_the_same_ahead_and_one_at_a_time(tmp_path, bug):
    """The CNN parts graded with their trainings started ahead and one at a time: the same
    score for every test, for networks that do not learn (the worked solution's full marks with
    its trainings ahead are every full grading's, e.g. ``tests/test_grading.py``)."""
    from bugs import BUGS

    path = WORKED_SOLUTION if bug is None else patched_solution(
        tmp_path, next(b for b in BUGS if b.name == bug).replacements)
    parts = ("--parts", "mnist_cnn,cats_dogs_cnn")
    code, output, ahead = grade_file(path, tmp_path / "ahead.json", *parts)
    _, alone_output, alone = grade_file(path, tmp_path / "alone.json", *parts, "--one-at-a-time")
    assert ahead and alone, (output[-2000:], alone_output[-2000:])
    assert scores_by_test(ahead) == scores_by_test(alone), (output[-2000:], alone_output[-2000:])
    if bug is None:
        assert code == 0 and ahead["score"] == ahead["max_score"], output[-3000:]
    else:
        learns = {"cats_dogs_tiny_lr": "test_cats_dogs_learns",
                  "mnist_cnn_frozen": "test_mnist_cnn_learns"}[bug]
        score, maximum = scores_by_test(ahead)[learns]
        assert score < maximum, output[-3000:]


def test_a_run_ahead_dies_with_its_grading(tmp_path):
    """A grading killed while its training runs ahead leaves no child behind: the child dies
    with the grading process (``die_with_parent``)."""
    import signal
    import subprocess
    import sys

    from conftest import REPOSITORY

    process = subprocess.Popen([sys.executable, "-m", "grader", "grade", str(WORKED_SOLUTION),
                                "--parts", "init,mnist_cnn"], cwd=REPOSITORY,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, children = time.monotonic() + 120, []
    try:
        while time.monotonic() < deadline and not children:
            children = [pid for pid in _descendants(process.pid)
                        if b"grader.networks.metered" in _cmdline(pid)]
            time.sleep(0.2)
        assert children, "no training was started ahead"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in children):
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in children)


def _descendants(root: int) -> list[int]:
    found, parents = [], {root}
    for _ in range(6):
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) not in found:
                try:
                    stat = open(f"/proc/{entry}/stat").read()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) in parents:
                    found.append(int(entry))
        parents = {root, *found}
    return found


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
