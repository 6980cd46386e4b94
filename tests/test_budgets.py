"""Budgets (issue 23, section 2): what a grading runs on a submission's behalf is metered in CPU
seconds, per part and per grading, and using up a budget is the submission's verdict.

- a part whose calls use up its budget: the calls that remain are not made, the message says
  "used its whole budget of N CPU s in <part>", other parts keep their points, and the grading
  ends "graded";
- the grader's own CPU time counts in the parts where it runs what the student described;
- waiting without computing is metered too (idle time), per call and per grading;
- every platform's wall-clock cap is above the budgets, or scales them to fit under it.
"""
from __future__ import annotations

import time

import numpy as np
from conftest import grade_file, patched_solution
from test_worker import session_for

from grader import tolerances as tol
from grader.batch import engine
from grader.rubric import DEFAULT_PARTS, PARTS

BURNS_IN_SIGMOID = """
    def sigmoid(self, x):
        import time
        started = time.process_time()
        while time.process_time() - started < 0.6:
            pass
        return 1 / (1 + np.exp(-x))
"""

SLEEPS_IN_SIGMOID = """
    def sigmoid(self, x):
        import time
        time.sleep(float(x[0]))
        return 1 / (1 + np.exp(-x))
"""


def test_a_part_that_uses_up_its_budget_loses_the_calls_that_remain(tmp_path):
    session = session_for(tmp_path, BURNS_IN_SIGMOID, call_timeout_s=5.0)
    session.part_budgets = {"activations": 1.0, "softmax": 10.0}
    try:
        session.begin_part_test("activations", False)
        x = [np.array([0.0, 1.0])]
        first = session.call("sigmoid", args=x)
        assert first.ok, first.failure_text()
        assert 0.5 <= session.spent_by_part["activations"] <= 0.9, session.spent_by_part
        second = session.call("sigmoid", args=x)   # 0.4 s left: stopped there
        assert second.budget_out and not second.ok, second.failure_text()
        assert "used its whole budget of 1 CPU s in activations" in second.failure_text()
        started = time.monotonic()
        third = session.call("sigmoid", args=x)
        assert time.monotonic() - started < 0.5, "a call was made on a spent budget"
        assert "did not run (not called: this submission used its whole budget of 1 CPU s in " \
               "activations)" in third.failure_text(), third.failure_text()
        assert session.hangs == 0, "a spent budget is not a hang"
        session.end_part_test()
        session.begin_part_test("softmax", False)       # another part has its own budget
        assert session.call("sigmoid", args=x).ok
    finally:
        session.close()


def test_the_grading_budget_binds_across_parts(tmp_path):
    session = session_for(tmp_path, BURNS_IN_SIGMOID, call_timeout_s=5.0)
    session.part_budgets = {"a": 10.0, "b": 10.0}
    session.grading_budget_s = 1.0
    try:
        session.begin_part_test("a", False)
        assert session.call("sigmoid", args=[np.array([0.0])]).ok
        session.begin_part_test("b", False)
        outcome = session.call("sigmoid", args=[np.array([0.0])])
        assert outcome.budget_out and "budget of 1 CPU s for the grading" in outcome.failure_text()
    finally:
        session.close()


def test_the_graders_own_work_counts_where_it_runs_the_students_description(tmp_path):
    session = session_for(tmp_path, "")
    session.part_budgets = {"mnist_cnn": 0.5, "softmax": 0.5}
    for part, counted in (("mnist_cnn", True), ("softmax", False)):
        session.begin_part_test(part, counted)
        started = time.process_time()
        while time.process_time() - started < 0.3:   # the grader training a rebuilt network
            pass
        assert (session.budget_left() < 0.25) is counted, (part, session.budget_left())
        session.end_part_test()
    assert session.spent_by_part.get("mnist_cnn", 0) >= 0.3
    assert session.spent_by_part.get("softmax", 0) == 0


def test_waiting_is_metered_per_call_and_per_grading(tmp_path):
    """Idle time (sleeping) has its own limits: a call that sleeps past its limit is stopped;
    sleeps add up, and once the grading's allowance is spent a call that sleeps is stopped at
    once; calls that compute are not charged idle time."""
    session = session_for(tmp_path, SLEEPS_IN_SIGMOID, call_timeout_s=3.0, idle_budget_s=2.0,
                          call_idle_s=1.0)
    try:
        assert session.call("sigmoid", args=[np.array([0.0, 1.0])]).ok   # starts the worker
        before = session.idle_s      # the load's reading of files can wait on the disk
        assert session.call("sigmoid", args=[np.array([0.0, 1.0])]).ok
        assert session.idle_s - before < 0.2, session.idle_s   # a call that does not sleep
        long = session.call("sigmoid", args=[np.array([1.6])])
        assert long.timed_out and long.idle_out, long.failure_text()
        assert "waited longer than 1 s without computing" in long.failure_text()
        assert "CPU" not in long.failure_text()
        assert session.call("sigmoid", args=[np.array([0.6])]).ok     # 1.6 of 2 s spent
        # 0.4 s left: more than the 0.25 s below which a call is refused outright
        short = session.call("sigmoid", args=[np.array([0.9])])
        assert short.idle_out and "what was left of its allowance" in short.failure_text()
        spent = session.call("sigmoid", args=[np.array([0.9])])
        assert "not called again" in spent.failure_text() and "2 s allowance" in spent.failure_text()
        assert session.hangs == 0 and session.waits == 2
        assert relu_works_quickly(session)
    finally:
        session.close()


def relu_works_quickly(session) -> bool:
    """A method that does not wait still runs after the allowance for waiting is spent."""
    outcome = session.call("relu", args=[np.array([-1.0, 2.0])])
    return outcome.ok and np.array_equal(outcome.value, [0.0, 2.0])


def test_every_platforms_cap_is_above_the_budgets():
    for parts in (DEFAULT_PARTS, PARTS):
        cap = engine.default_cap_s(list(parts))
        assert cap >= tol.minimum_cap_s(parts) > tol.grading_cpu_budget(parts)
        assert engine.budget_options(list(parts), cap) == []
    assert engine.default_cap_s([]) == engine.default_cap_s(list(DEFAULT_PARTS))
    assert tol.grading_cpu_budget(DEFAULT_PARTS) <= sum(tol.PART_CPU_BUDGET_S[p] for p in DEFAULT_PARTS)
    # Gradescope's default timeout of 600 s leaves the grading a cap of 540 s: the budgets shrink
    # until they fit under it.
    options = engine.budget_options([], 540.0)
    scale = float(options[1])
    assert options[0] == "--budget-scale" and 0 < scale < 1
    scaled = scale * tol.grading_cpu_budget(DEFAULT_PARTS)
    idle = scale * tol.IDLE_ALLOWANCE_S
    assert tol.CAP_WALL_PER_CPU_S * (scaled + idle) + tol.CAP_OVERHEAD_S <= 540.0 + 1e-6
    assert set(tol.PART_CPU_BUDGET_S) == set(PARTS)


def test_a_spent_budget_is_graded_as_the_students_verdict(tmp_path):
    """Through ``python -m grader grade``: a forward that computes 0.4 CPU s per call, with every
    budget scaled to 2 % (forward's: 1.2 CPU s), loses the forward tests that come after its
    budget is spent, with the reason; softmax keeps its points; the grading says "graded"."""
    slow = patched_solution(tmp_path, [(
        '    def forward(self, x):\n        """Forward pass of a batch',
        '    def forward(self, x):\n        import time; _t = time.process_time()\n'
        '        while time.process_time() - _t < 0.4: pass\n        """Forward pass of a batch')])
    code, output, data = grade_file(slow, tmp_path / "results.json", "--parts", "softmax,forward",
                                    "--budget-scale", "0.02")
    assert code == 1 and data is not None, output[-3000:]
    assert data["extra_data"]["nngrade"]["status"] == "graded"
    parts = data["extra_data"]["nngrade"]["parts"]
    assert parts["softmax"]["score"] == parts["softmax"]["max_score"]
    assert 0 < parts["forward"]["score"] < parts["forward"]["max_score"], parts["forward"]
    lost = [t["output"] for t in data["tests"] if t["score"] < t["max_score"]]
    assert lost and all("used its whole budget of 1.2 CPU s in forward" in text for text in lost), lost
    spent = data["extra_data"]["nngrade"]["sandbox"]["spent"]["cpu_s_by_part"]
    assert spent["forward"] >= 1.2, spent
