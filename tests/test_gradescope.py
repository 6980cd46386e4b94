"""Gradescope (issue 14): the autograder zip, and its real run_autograder run as Gradescope runs it.

Each grading test unpacks the zip built by ``python -m grader gradescope`` into a folder laid out
like Gradescope's ``/autograder`` (the zip in ``source/``, ``run_autograder`` copied to the root,
the student's files in ``submission/``, ``results/``: the "File hierarchy" of
https://gradescope-autograders.readthedocs.io/en/latest/specs/), runs ``run_autograder`` there
with ``NNGRADE_AUTOGRADER_ROOT`` pointing at it, and validates results.json against the spec's
fields, types and visibility values. Only the worked solution is graded on the whole rubric; the
others on ``NNGRADE_PARTS=softmax,loss``.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from bugs import BUGS
from conftest import REPOSITORY, TEMPLATE, WORKED_SOLUTION

from grader import model
from grader.outputs import report
from grader.platforms import gradescope, gradescope_run
from grader.rubric import DEFAULT_RUBRIC, RUBRIC

PARTS = ("softmax", "loss")
NUMBER = (int, float)
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}
FORMATS = {"text", "html", "simple_format", "md", "ansi"}
# The spec's fields with their types. The top-level max_score is ours (Gradescope takes the
# assignment's total from its own settings and ignores it); the spec lists every other one.
TOP_FIELDS = {"score": NUMBER, "execution_time": NUMBER, "output": str, "output_format": str,
              "test_output_format": str, "test_name_format": str, "visibility": str,
              "stdout_visibility": str, "extra_data": dict, "tests": list, "leaderboard": list,
              "max_score": NUMBER}
TEST_FIELDS = {"score": NUMBER, "max_score": NUMBER, "status": str, "name": str, "name_format": str,
               "number": str, "output": str, "output_format": str, "tags": list, "visibility": str,
               "extra_data": dict}


def check_spec(data: dict) -> None:
    """Assert that ``data`` is a results.json Gradescope reads: known fields of the right types,
    valid visibility, status and format values, and a score on top or on every test."""
    assert set(data) <= set(TOP_FIELDS), set(data) - set(TOP_FIELDS)
    for key, value in data.items():
        assert isinstance(value, TOP_FIELDS[key]) and not isinstance(value, bool), (key, value)
    for key in ("visibility", "stdout_visibility"):
        assert data.get(key, "visible") in VISIBILITIES, key
    for key in ("output_format", "test_output_format", "test_name_format"):
        assert data.get(key, "text") in FORMATS, key
    assert "score" in data or "tests" in data
    for test in data.get("tests", []):
        assert set(test) <= set(TEST_FIELDS), set(test) - set(TEST_FIELDS)
        for key, value in test.items():
            assert isinstance(value, TEST_FIELDS[key]) and not isinstance(value, bool), (key, value)
        assert test.get("visibility", "visible") in VISIBILITIES
        assert test.get("status", "passed") in ("passed", "failed")
        assert test.get("output_format", "text") in FORMATS
        assert all(isinstance(tag, str) for tag in test.get("tags", []))
        if "score" not in data:
            assert "score" in test
        if "score" in test and "max_score" in test:
            assert 0 <= test["score"] <= test["max_score"]


def by_test(data: dict) -> dict:
    """``{rubric test name: its entry}`` of a results.json."""
    return {t["extra_data"]["test"]: t for t in data["tests"]}


def rows(parts=()) -> list:
    return [row for row in RUBRIC if row.part in parts] if parts else list(DEFAULT_RUBRIC)


@pytest.fixture(scope="session")
def autograder_zip(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gradescope") / "autograder.zip"
    process = subprocess.run([sys.executable, "-m", "grader", "gradescope", str(out)], cwd=REPOSITORY,
                             capture_output=True, text=True, timeout=120)
    assert process.returncode == 0, process.stdout + process.stderr
    return out


unpack = gradescope.unpack   # as Gradescope lays a zip out (the product's own, for gradescope-try)


def run_autograder(archive: Path, root: Path, files: dict, *, parts=PARTS, timeout_s=None,
                   wall_s: float = 600):
    """Run the zip's run_autograder on a submission of ``files`` (``{relative path: text}``);
    return (the completed process, results.json, seconds)."""
    submission = root.parent / f"{root.name}-submission"
    for relative, text in files.items():
        path = submission / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    submission.mkdir(exist_ok=True)
    started = time.monotonic()
    process, data = gradescope.run_locally(archive, submission, root, parts=parts,
                                           timeout_s=timeout_s, wall_s=wall_s)
    seconds = time.monotonic() - started
    check_spec(data)
    return process, data, seconds


def patched(replacements) -> str:
    """The worked solution with each ``(old, new)`` replaced exactly once."""
    text = WORKED_SOLUTION.read_text()
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


SOFTMAX_BODY = "        shifted = x - np.max(x, axis=-1, keepdims=True)\n"
LOSS_BODY = "        clipped = np.clip(prediction, self.epsilon, 1 - self.epsilon)\n"


# ---- the zip ----------------------------------------------------------------------------------

def test_the_zip_has_the_scripts_at_its_root_the_grader_and_no_worked_solution(autograder_zip):
    with zipfile.ZipFile(autograder_zip) as archive:
        infos = {info.filename: info for info in archive.infolist()}
        worked = WORKED_SOLUTION.read_text()
        for name in infos:
            assert Path(name).name.lower() != "solution.py", name
            assert archive.read(name).decode(errors="replace") != worked, name
            assert not name.startswith("tests/"), name
        for script in gradescope.SCRIPTS:
            assert (infos[script].external_attr >> 16) & 0o111 == 0o111, script
        setup = archive.read("setup.sh").decode()
        run = archive.read("run_autograder").decode()
        requirements = archive.read("requirements.txt").decode()
    # The hidden tests and the withheld references grade on Gradescope.
    assert {"grader/hidden/cases.py", "reference/rmsprop_nesterov.py",
            "reference/finite_differences.py", "grader/plugin.py"} <= set(infos)
    assert "apt-get install" in setup and "bubblewrap" in setup
    assert "download.pytorch.org/whl/cpu" in setup and "-r /autograder/source/requirements.txt" in setup
    # torch's CPU build, pinned to the versions the grader ran with here
    import torch
    import torchvision
    assert f'"torch=={torch.__version__.split("+")[0]}"' in setup, setup
    assert f'"torchvision=={torchvision.__version__.split("+")[0]}"' in setup, setup
    assert "@" not in setup.replace("@example", ""), setup
    assert "TIMEOUT=600 " in run and "@TIMEOUT@" not in run
    assert "torch" in requirements and "numpy" in requirements


def test_the_build_refuses_a_worked_solution_under_another_name(tmp_path):
    folder = tmp_path / "staged"
    folder.mkdir()
    gradescope.stage(folder, 600)
    gradescope.check_autograder(folder, WORKED_SOLUTION)   # as built: accepted
    (folder / "grader" / "notes.txt").write_text(WORKED_SOLUTION.read_text())
    with pytest.raises(gradescope.BuildError, match="worked solution"):
        gradescope.check_autograder(folder, WORKED_SOLUTION)
    with pytest.raises(gradescope.BuildError, match="timeout"):
        gradescope.build(tmp_path / "a.zip", timeout_s=3000)
    assert not (tmp_path / "a.zip").exists()


# ---- gradings ---------------------------------------------------------------------------------

def test_the_worked_solution_scores_the_whole_rubric(autograder_zip, tmp_path):
    process, data, _ = run_autograder(autograder_zip, tmp_path / "autograder",
                                      {"solution.py": WORKED_SOLUTION.read_text()}, parts=())
    total = sum(row.points for row in DEFAULT_RUBRIC)
    assert data["score"] == data["max_score"] == total, process.stdout[-3000:]
    assert data["extra_data"]["nngrade"]["status"] == "graded"
    tests = by_test(data)
    assert set(tests) == {row.test for row in DEFAULT_RUBRIC}
    for row in DEFAULT_RUBRIC:
        entry = tests[row.test]
        assert entry["status"] == "passed" and entry["score"] == row.points
        assert entry["visibility"] == ("after_published" if row.hidden else "visible")
        assert entry["output_format"] == "text"
    assert data["output_format"] == "text"
    assert any(row.hidden for row in RUBRIC)
    # The bundled grader graded (run_autograder runs it from source/), in the sandbox; run as
    # root, as Gradescope runs it, the student's code had a user id of its own.
    assert str(tmp_path / "autograder" / "source") in process.stdout
    sandbox = data["extra_data"]["nngrade"]["sandbox"]
    assert sandbox["mode"] in ("bubblewrap", "unprivileged-user", "rlimits-only")
    if os.geteuid() == 0:
        assert sandbox["mode"] != "rlimits-only" and sandbox["private_user_id"] is True


def test_the_template_scores_zero_with_its_diagnoses(autograder_zip, tmp_path):
    _, data, _ = run_autograder(autograder_zip, tmp_path / "autograder",
                                {"solution.py": TEMPLATE.read_text()})
    assert data["score"] == 0 and data["max_score"] == sum(row.points for row in rows(PARTS))
    assert data["extra_data"]["nngrade"]["status"] == "graded"
    for entry in data["tests"]:
        assert "not implemented" in entry["output"] and entry["status"] == "failed", entry


def test_a_buggy_submission_loses_points_in_its_part_only(autograder_zip, tmp_path):
    bug = next(bug for bug in BUGS if bug.name == "loss_sum")
    _, data, _ = run_autograder(autograder_zip, tmp_path / "autograder",
                                {"solution.py": patched(bug.replacements)})
    tests = by_test(data)
    for row in rows(PARTS):
        entry = tests[row.test]
        if row.part == "softmax":
            assert entry["score"] == row.points, entry
    lost = [tests[row.test] for row in rows(["loss"]) if tests[row.test]["score"] < row.points]
    assert lost and any(bug.says in entry["output"] for entry in lost), lost
    assert data["score"] < data["max_score"]


def test_a_crashing_flooding_misnamed_submission_is_graded_and_said_so(autograder_zip, tmp_path):
    """``solution (1).py`` (a browser's second copy) that prints 2 MB at import, whose softmax
    ends its process and whose loss says which user id it runs as."""
    source = patched([("\nimport torch\n", "\nimport torch\nprint('flood ' * 350_000)\n"),
                      (SOFTMAX_BODY, "        import os\n        os._exit(3)\n"),
                      (LOSS_BODY, "        import os\n        raise RuntimeError(f'running as uid "
                                  "{os.getuid()}')\n")])
    process, data, _ = run_autograder(autograder_zip, tmp_path / "autograder", {"solution (1).py": source})
    assert data["extra_data"]["nngrade"]["status"] == "graded"
    assert data["output"].startswith("Note: your submission has no solution.py; graded solution (1).py")
    assert "WARNING" not in data["output"]   # the file imported, flood and all
    tests = by_test(data)
    softmax = [tests[row.test] for row in rows(["softmax"])]
    assert all(entry["score"] == 0 for entry in softmax)
    assert any("exit" in entry["output"].lower() for entry in softmax), softmax
    uids = {line.rsplit("uid ", 1)[1].split()[0].strip("'\".,)")
            for row in rows(["loss"]) for line in tests[row.test]["output"].splitlines()
            if "running as uid" in line}
    assert uids and "0" not in uids, uids   # Gradescope runs run_autograder as root; the student is not
    assert len(process.stdout) < 2 * gradescope_run.ECHO_CHARS


def test_a_hang_under_a_short_time_limit_ends_by_its_budgets_not_the_cap(autograder_zip, tmp_path):
    """The loss hangs; the run's timeout is 30 s (the grading's cap 27 s). The CPU budgets are
    scaled to fit under that cap (``tolerances.budget_scale_for_cap``), so the hang uses up the
    loss part's budget, the submission's verdict, and the grading ends "graded" before the cap:
    the softmax tests keep their points, and the loss tests say why they lost theirs."""
    source = patched([(LOSS_BODY, "        while True:\n            pass\n")])
    _, data, seconds = run_autograder(autograder_zip, tmp_path / "autograder", {"solution.py": source},
                                      timeout_s=30)
    assert seconds < 40
    assert data["extra_data"]["nngrade"]["status"] == "graded", data["output"][:2000]
    tests = by_test(data)
    for row in rows(["softmax"]):
        assert tests[row.test]["score"] == row.points, tests[row.test]
    loss = [tests[row.test] for row in rows(["loss"])]
    assert all(entry["score"] == 0 for entry in loss)
    assert all("used its whole budget" in entry["output"] and "in loss" in entry["output"]
               for entry in loss), loss
    assert data["score"] == sum(row.points for row in rows(["softmax"]))


@pytest.mark.parametrize("files, words", [
    ({}, "Your submission is empty"),
    ({"solution.ipynb": "{}"}, "notebook"),
    ({"solution.py": ""}, "is empty (0 bytes)"),
    ({"solution.py": "x = 1\n", "solution (1).py": "x = 2\n"}, "2 candidate files"),
    ({"hw/notes.txt": "see attached"}, "has no solution.py"),
])
def test_a_submission_without_one_gradable_file_scores_zero_and_says_why(autograder_zip, tmp_path,
                                                                       files, words):
    process, data, _ = run_autograder(autograder_zip, tmp_path / "autograder", files)
    assert data["score"] == 0 and data["max_score"] == sum(row.points for row in rows(PARTS))
    assert data["extra_data"]["nngrade"]["status"] == "invalid"
    assert words in data["output"], data["output"]
    assert all(words in entry["output"] for entry in data["tests"])
    hidden = {row.test for row in rows(PARTS) if row.hidden}
    assert hidden and all(entry["visibility"] == "after_published"
                          for entry in data["tests"] if entry["extra_data"]["test"] in hidden)


def test_an_instructor_tries_the_zip_on_a_submission_in_one_command(autograder_zip, tmp_path):
    """``python -m grader gradescope-try ZIP FILE``: the zip run here as Gradescope runs it; it
    prints what the student sees, whose public table says why its total differs from the score
    Gradescope may show above it (the hidden tests), and keeps the run with ``--keep``."""
    bug = next(bug for bug in BUGS if bug.name == "loss_sum")
    submission = tmp_path / "solution.py"
    submission.write_text(patched(bug.replacements))
    keep = tmp_path / "run"
    process = subprocess.run(
        [sys.executable, "-m", "grader", "gradescope-try", str(autograder_zip), str(submission),
         "--parts", ",".join(PARTS), "--keep", str(keep)], cwd=REPOSITORY, capture_output=True,
        text=True, timeout=600)
    assert process.returncode == 0, process.stdout + process.stderr
    data = json.loads((keep / "results" / "results.json").read_text())
    check_spec(data)
    shown = process.stdout
    assert shown.startswith(f"score: {data['score']:g} / {data['max_score']:g}"), shown
    hidden = sum(row.points for row in rows(PARTS) if row.hidden)
    visible = sum(row.points for row in rows(PARTS) if not row.hidden)
    assert hidden and "public tests" in shown and f"/ {visible:g}" in shown, shown
    assert (f"These are the tests you can see now, {visible:g} points" in shown
            and f"the submission's score (out of {visible + hidden:g}) counts them" in shown), shown
    assert bug.says in shown and "test_hidden" not in shown, shown
    assert "hidden test" in shown
    # without --keep nothing is left behind; a missing zip is a clear error
    missing = subprocess.run([sys.executable, "-m", "grader", "gradescope-try",
                              str(tmp_path / "none.zip"), str(submission)], cwd=REPOSITORY,
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_a_link_to_the_graders_files_is_not_graded(autograder_zip, tmp_path):
    root = tmp_path / "autograder"
    unpack(autograder_zip, root)
    (root / "submission" / "solution.py").symlink_to(root / "source" / "grader" / "hidden" / "cases.py")
    environment = {**os.environ, gradescope_run.ROOT_VARIABLE: str(root), "NNGRADE_PYTHON": sys.executable}
    subprocess.run([str(root / "run_autograder")], cwd=root, env=environment, capture_output=True,
                   timeout=120, check=True)
    data = json.loads((root / "results" / "results.json").read_text())
    check_spec(data)
    assert data["extra_data"]["nngrade"]["status"] == "invalid" and data["score"] == 0
    assert "is a link" in data["output"]
    assert "def test_hidden" not in json.dumps(data)


def test_a_grading_stopped_before_its_first_test_leaves_a_could_not_grade_file(autograder_zip, tmp_path,
                                                                             monkeypatch):
    """A 2 s timeout stops the grader while it starts (as an overloaded machine would): no score,
    nothing blamed on the student, and the grader's own output for the staff only. Cold workers
    (each imports torch) keep the start longer than that cap: with warm ones, a grading of two
    numpy parts now finishes in under 2 s."""
    monkeypatch.setenv("NNGRADE_WARM_WORKER", "0")
    _, data, seconds = run_autograder(autograder_zip, tmp_path / "autograder",
                                      {"solution.py": WORKED_SOLUTION.read_text()}, timeout_s=2)
    nngrade = data["extra_data"]["nngrade"]
    assert "score" not in data and data["tests"] == [] and nngrade["status"] == "could_not_grade"
    assert re.search(r"ran past its time limit of \d s and was stopped before any test had finished",
                     data["output"]), data["output"]
    assert "not of the submission" in data["output"]
    assert isinstance(nngrade["output_tail"], str) and seconds < 10


def test_run_autograder_writes_a_valid_file_when_python_does_not_start(autograder_zip, tmp_path):
    root = tmp_path / "autograder"
    unpack(autograder_zip, root)
    (root / "submission" / "solution.py").write_text(WORKED_SOLUTION.read_text())
    environment = {**os.environ, gradescope_run.ROOT_VARIABLE: str(root),
                   "NNGRADE_PYTHON": str(tmp_path / "no-python")}
    subprocess.run([str(root / "run_autograder")], cwd=root, env=environment, capture_output=True,
                   timeout=60, check=True)
    data = json.loads((root / "results" / "results.json").read_text())
    check_spec(data)
    assert "score" not in data and data["extra_data"]["nngrade"]["status"] == "could_not_grade"
    assert "the grader did not start" in data["output"]


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def test_results_written_after_each_test_survive_a_killed_grading(tmp_path):
    """``python -m grader grade --results-json`` rewrites the file after every test: killed with
    SIGKILL midway, the file is valid and keeps the finished tests' scores."""
    results = tmp_path / "results.json"
    process = subprocess.Popen([sys.executable, "-m", "grader", "grade", str(WORKED_SOLUTION),
                                "--results-json", str(results), "--parts",
                                # long enough to be caught midway (in-process grading is quick)
                                ",".join((*PARTS, "backward", "train_loop", "optimizers"))],
                               cwd=REPOSITORY, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    snapshot = None
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            data = read_json(results)
            if data and data["extra_data"]["nngrade"]["status"] == "incomplete":
                snapshot = data
                break
            time.sleep(0.05)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass   # the grading had already ended: its code is in the assertion below
        process.wait()
    assert snapshot is not None, (f"no results after the first test (the grading ended with code "
                                  f"{process.returncode})")
    data = json.loads(results.read_text())
    check_spec(data)
    nngrade = data["extra_data"]["nngrade"]
    assert nngrade["status"] == "incomplete" and "ended before it finished" in nngrade["reason"]
    done = [t for t in data["tests"] if t["extra_data"]["status"] != "not run"]
    left = {t["extra_data"]["test"] for t in data["tests"] if t["extra_data"]["status"] == "not run"}
    assert done and left, "killed after the first test and before the last"
    assert all(t["score"] == t["max_score"] for t in done)
    assert data["score"] == sum(t["score"] for t in done)
    # run_autograder's end turns the model beside it (written first, so at least as far along)
    # into a final file that says what happened.
    grading = model.read(model.grading_path(results))
    assert grading is not None and grading.status == model.INCOMPLETE
    left = {t.test for t in grading.tests() if t.status == model.NOT_RUN}
    done = [t for t in grading.tests() if t.status != model.NOT_RUN]
    assert done and left
    final = report.results_json(gradescope_run.finish(
        grading, gradescope_run.Ending(-signal.SIGKILL, False, 540.0),
        submission="solution.py", seconds=1.0, note="", log_tail=""))
    check_spec(final)
    assert final["output"].startswith(f"The grading did not finish: the grading process was killed by "
                                      f"SIGKILL (most likely the platform's memory limit). The "
                                      f"{len(done)} tests that had finished keep their scores")
    assert all("killed by SIGKILL" in t["output"] for t in final["tests"] if t["extra_data"]["test"] in left)



def test_a_zip_made_without_unix_modes_unpacks_readable(tmp_path):
    """A zip re-made on Windows or in Finder carries no Unix modes: its files keep extract's
    (a mode of 0 would leave them unreadable), the scripts as the zip sets them."""
    archive = tmp_path / "plain.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("run_autograder", "#!/bin/sh\nexit 0\n")
        bundle.writestr("grader/__init__.py", "")
    root = tmp_path / "autograder"
    gradescope.unpack(archive, root)
    assert (root / "source" / "grader" / "__init__.py").read_text() == ""
    assert os.access(root / "run_autograder", os.X_OK)
