"""Local re-runs (``grader/reuse.py``, issue 26): the student's own re-run reuses a CNN part's
training verdict when nothing that decides it changed, and trains again after any change to
the network, its optimizer or the grader; no platform channel reuses anything."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from bugs import BUGS
from conftest import REPOSITORY, WORKED_SOLUTION, patched_solution, scores_by_test

from grader import reuse, session
from grader.outputs import report

PARTS = "mnist_cnn,cats_dogs_cnn"
LEARNS = ("test_mnist_cnn_learns", "test_cats_dogs_learns")


def grade(path, tmp_path, cache, *extra: str, parts: str = PARTS) -> tuple[dict, str]:
    results = tmp_path / "results.json"
    results.unlink(missing_ok=True)
    process = subprocess.run(
        [sys.executable, "-m", "grader", "grade", str(path), "--results-json", str(results),
         "--parts", parts, *extra], cwd=REPOSITORY, capture_output=True, text=True, timeout=600,
        env={**os.environ, reuse.CACHE_VARIABLE: str(cache)})
    output = process.stdout + process.stderr
    assert results.is_file(), output[-3000:]
    return json.loads(results.read_text()), output


def reused(data: dict) -> set[str]:
    """The tests whose verdict says it was reused."""
    return {t["extra_data"]["test"] for t in data["tests"] if "this verdict was reused" in t["output"]}


def bug(name: str):
    return next(b for b in BUGS if b.name == name).replacements


def test_a_rerun_reuses_the_training_verdicts_until_the_network_or_optimizer_changes(tmp_path):
    cache = tmp_path / "cache"
    copy = tmp_path / "mine" / "solution.py"
    copy.parent.mkdir()
    text = WORKED_SOLUTION.read_text()
    copy.write_text(text)
    first, output = grade(copy, tmp_path, cache, "--reuse")
    assert reused(first) == set() and first["score"] == first["max_score"], output[-3000:]
    # a numpy method edited: the CNN verdicts are reused, with the same scores
    edit = ("    def backward(self, cache, labels):\n",
            "    def backward(self, cache, labels):\n        _edited = True\n")
    copy.write_text(text.replace(*edit, 1))
    second, output = grade(copy, tmp_path, cache, "--reuse")
    assert reused(second) == set(LEARNS), output[-3000:]
    assert scores_by_test(second) == scores_by_test(first)
    assert "unchanged since" in output and "--fresh" in output
    # the optimizer changed: cats vs. dogs trains again, MNIST is reused
    adam = patched_solution(tmp_path / "mine", bug("cats_dogs_adam"))
    third, output = grade(adam, tmp_path, cache, "--reuse")
    assert reused(third) == {"test_mnist_cnn_learns"}, output[-3000:]
    # the network changed (frozen layers): MNIST trains again, and its verdict follows
    frozen = patched_solution(tmp_path / "mine", bug("mnist_cnn_frozen"))
    fourth, output = grade(frozen, tmp_path, cache, "--reuse")
    assert "test_mnist_cnn_learns" not in reused(fourth), output[-3000:]
    score, maximum = scores_by_test(fourth)["test_mnist_cnn_learns"]
    assert score < maximum, output[-3000:]
    # --fresh trains again (and keeps the new verdicts); without --reuse nothing is reused
    fresh, output = grade(frozen, tmp_path, cache, "--fresh", parts="mnist_cnn")
    assert reused(fresh) == set(), output[-3000:]
    plain, output = grade(frozen, tmp_path, cache, parts="mnist_cnn")
    assert reused(plain) == set(), output[-3000:]


def test_a_change_to_the_grader_trains_again(tmp_path, monkeypatch):
    """The grader's own sources are part of the key (``report.suite_hash``)."""
    monkeypatch.setenv(reuse.CACHE_VARIABLE, str(tmp_path / "cache"))

    def graded():
        options = session.GradingOptions(submission=WORKED_SOLUTION, parts=("mnist_cnn",),
                                         reuse=session.REUSE, ahead=False)
        return {test["extra_data"]["test"] for test in session.grade(options).results["tests"]
                if "this verdict was reused" in test["output"]}

    assert graded() == set()
    assert graded() == {"test_mnist_cnn_learns"}
    real = report.suite_hash()
    monkeypatch.setattr(report, "suite_hash", lambda: real[::-1])
    assert graded() == set()


def test_no_channel_but_the_students_own_run_reuses():
    from grader.batch import grading_process
    from grader.platforms import gradescope_run

    assert session.GradingOptions(submission=WORKED_SOLUTION).reuse == session.NEVER
    request = {"id": "x", "submission": str(WORKED_SOLUTION), "results_json": "/tmp/r.json",
               "log": "/tmp/log", "parts": ["mnist_cnn"]}
    assert grading_process.options_of(request).reuse == session.NEVER
    assert "--reuse" not in gradescope_run.grading_command(WORKED_SOLUTION, "/tmp/r.json", [], 600.0)


def test_pytest_grader_reuses_unless_fresh(tmp_path):
    """The student's own command: the second ``pytest grader`` reuses; ``--fresh`` does not."""
    environment = {**os.environ, reuse.CACHE_VARIABLE: str(tmp_path / "cache")}
    command = [sys.executable, "-m", "pytest", "grader", "-p", "no:cacheprovider", "--parts",
               "mnist_cnn", "--submission", str(WORKED_SOLUTION)]
    runs = [subprocess.run(command + extra, cwd=REPOSITORY, capture_output=True, text=True,
                           env=environment, timeout=600)
            for extra in ([], [], ["--fresh"])]
    assert all(run.returncode == 0 for run in runs), [run.stdout[-3000:] for run in runs]
    assert ["unchanged since" in run.stdout for run in runs] == [False, True, False], \
        [run.stdout[-2000:] for run in runs]
