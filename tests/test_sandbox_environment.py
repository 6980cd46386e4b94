"""The environment is never the student's fault (issue 10, section 1).

A grader that cannot start its worker says "could not grade" and exits 2, and results.json says
so in a form that is not a score of 0; a Python in a venv under /tmp or reached through a link
grades fully. Each grading here is a real ``python -m grader grade`` run.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REPOSITORY, TEMPLATE, WORKED_SOLUTION, part_scores
from test_worker import MODES, mode_or_skip, session_for

from grader.isolation import sandbox
from grader.isolation.worker import CouldNotGrade, Limits, Worker

BWRAP = shutil.which("bwrap")
BUBBLEWRAP_HERE = sandbox.choose_mode("auto").name == "bubblewrap"
needs_bubblewrap = pytest.mark.skipif(not BUBBLEWRAP_HERE,
                                      reason="bubblewrap cannot run on this machine")

# What a stand-in bwrap prints when it refuses: the real message of a machine whose user
# namespaces ran out (e.g. max_user_namespaces reached by many graders at once).
NAMESPACE_FAULT = "bwrap: Creating new namespace failed: No space left on device"


def grade(python: str, submission: Path, results: Path, *extra: str, env=None, timeout=600):
    """``python -m grader grade`` from the repository root; (exit code, output, results or None)."""
    process = subprocess.run([python, "-m", "grader", "grade", str(submission), "--results-json",
                              str(results), *extra], cwd=REPOSITORY, capture_output=True,
                             text=True, timeout=timeout, env=env)
    data = json.loads(results.read_text()) if results.is_file() else None
    return process.returncode, process.stdout + process.stderr, data


def stand_in_bwrap(folder: Path, real_bwrap: str, works: int = 1) -> Path:
    """A ``bwrap`` that runs the real one ``works`` times (the first is the mode probe, so the
    grader picks bubblewrap) and then fails the way bubblewrap fails when the machine's user
    namespaces are used up: no further worker can start. Only the preflight (or, later in the
    run, the worker's missing ready line) can tell this from a submission that crashed.
    Returns the folder to put first on PATH."""
    (folder / "bin").mkdir()
    counter = folder / "invocations"
    script = folder / "bin" / "bwrap"
    script.write_text(f"""#!/bin/sh
n=$(cat '{counter}' 2>/dev/null || echo 0)
echo $((n + 1)) > '{counter}'
if [ "$n" -lt {works} ]; then exec '{real_bwrap}' "$@"; fi
echo '{NAMESPACE_FAULT}' >&2
exit 1
""")
    script.chmod(0o755)
    return folder / "bin"


@needs_bubblewrap
@pytest.mark.parametrize("submission, works, warm, starts", [
    (WORKED_SOLUTION, 1, "1", 3), (TEMPLATE, 1, "1", 3), (WORKED_SOLUTION, 2, "0", 3)],
    ids=["worked", "template", "after-the-preflight"])
def test_a_sandbox_that_cannot_start_the_worker_is_could_not_grade(tmp_path, submission, works,
                                                                   warm, starts):
    """bwrap starts: the mode probe, then (warm) the warm sandbox, which fails, and the cold
    preflight, which fails too; or (cold workers) the preflight and the first graded test's
    worker, which fails. Either way the grading stops: could not grade."""
    path_first = stand_in_bwrap(tmp_path, BWRAP, works)
    environment = {**os.environ, "PATH": f"{path_first}{os.pathsep}{os.environ['PATH']}",
                   "NNGRADE_WARM_WORKER": warm}
    code, output, data = grade(sys.executable, submission, tmp_path / "results.json",
                               env=environment, timeout=300)
    assert (tmp_path / "invocations").read_text().strip() == str(starts), output[-3000:]
    assert code == 2, output[-3000:]
    assert "could not grade:" in output and NAMESPACE_FAULT in output, output[-3000:]
    # Nothing tells the student they did something wrong, and no part is scored.
    for blame in ("sys.exit", "os._exit", "could not be loaded", "0.00 /", "What lost points"):
        assert blame not in output, (blame, output[-3000:])
    assert not re.search(r"\d+ (passed|failed|error)", output), output[-3000:]
    assert data is not None, output[-3000:]
    assert data["extra_data"]["nngrade"]["status"] == "could_not_grade"
    assert "score" not in data and data["tests"] == []
    assert NAMESPACE_FAULT in data["output"] and NAMESPACE_FAULT in data["extra_data"]["nngrade"]["reason"]


def test_a_graded_run_says_graded(worked_results):
    code, output, data = worked_results
    assert code == 0, output[-3000:]
    assert data["extra_data"]["nngrade"]["status"] == "graded" and data["score"] == 185


def make_venv(where: Path) -> Path:
    """A ``--system-site-packages`` venv at ``where`` (nothing installed: torch, numpy and
    pytest come from the system site-packages, the grader from the repository root)."""
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip",
                    str(where)], check=True, timeout=120)
    return where


def describe(python: str) -> dict:
    probe = ("import json, sys, grader; print(json.dumps({'executable': sys.executable, "
             "'prefix': sys.prefix, 'base_prefix': sys.base_prefix, 'grader': grader.__file__}))")
    out = subprocess.run([python, "-c", probe], cwd=REPOSITORY, capture_output=True, text=True,
                         check=True, timeout=120).stdout
    return json.loads(out)


def grades_fully(python: str, folder: Path) -> None:
    """The worked solution gets 185 / 185 and the template 0 when graded with ``python``."""
    code, output, data = grade(python, WORKED_SOLUTION, folder / "worked.json")
    assert code == 0 and data is not None, output[-3000:]
    assert data["extra_data"]["nngrade"]["status"] == "graded"
    assert (data["score"], data["max_score"]) == (185, 185), output[-3000:]
    code, output, data = grade(python, TEMPLATE, folder / "template.json",
                               "--parts", "activations,backward")
    assert code == 1 and data is not None, output[-3000:]
    assert part_scores(data) == {"activations": (0, 12), "backward": (0, 23)}, output[-3000:]


@pytest.fixture
def public_folder():
    """Folders a worker that drops to a private user id can traverse (mkdtemp makes 0700)."""
    made = []

    def make(base: str, prefix: str) -> Path:
        folder = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
        folder.chmod(0o755)
        made.append(folder)
        return folder

    yield make
    for folder in made:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_venv_under_tmp_grades_fully(public_folder):
    venv = make_venv(public_folder("/tmp", "nngrade-venv-") / "venv")
    python = str(venv / "bin" / "python")
    facts = describe(python)
    assert facts["executable"].startswith("/tmp/") and facts["prefix"] != facts["base_prefix"]
    assert Path(facts["grader"]).resolve().is_relative_to(REPOSITORY)
    grades_fully(python, venv.parent)


def test_a_venv_reached_through_a_link_grades_fully(public_folder):
    # As ~/.cache/venv -> /opt/venv: the venv itself lives outside /tmp (so that only the
    # link is tested), the interpreter is started through the link.
    real = make_venv(public_folder("/var/tmp", "nngrade-real-venv-") / "venv")
    link = public_folder("/tmp", "nngrade-venv-link-") / "venv"
    link.symlink_to(real, target_is_directory=True)
    python = str(link / "bin" / "python")
    facts = describe(python)
    assert facts["executable"] == python and facts["prefix"] != facts["base_prefix"]
    grades_fully(python, link.parent)


@pytest.mark.parametrize("mode", MODES)
def test_an_interpreter_that_cannot_start_is_could_not_grade(tmp_path, monkeypatch, mode):
    # Seen: "bwrap: execvp .../bin/python: No such file or directory" never reached the message,
    # which blamed the submission ("sys.exit or os._exit in the submission?").
    monkeypatch.setattr(sandbox, "interpreter", lambda: str(tmp_path / "gone" / "bin" / "python"))
    session = session_for(tmp_path, "")
    session.mode = mode_or_skip(mode)
    try:
        with pytest.raises(CouldNotGrade) as preflight:
            session.preflight()
        text = str(preflight.value)
        assert "could not be started" in text and "No such file" in text, text
        assert "sys.exit" not in text and "submission?" not in text, text
        if mode == "bubblewrap":
            assert "bwrap: execvp" in text, text   # bubblewrap's own words
        with pytest.raises(CouldNotGrade):
            session.call("relu", args=[np.zeros(2)])
        assert session.load_failure is None, "an environment fault is not the submission's load failure"
    finally:
        session.close()


def test_the_workers_own_output_reaches_the_crash_message(tmp_path):
    session = session_for(tmp_path, "", prelude="import os, sys\n"
                          "print('last words of the worker', file=sys.stderr, flush=True)\nos._exit(3)\n")
    try:
        outcome = session.call("relu", args=[np.zeros(2)])
        text = outcome.failure_text()
        assert "exited with status 3" in text and "last words of the worker" in text, text
    finally:
        session.close()


@pytest.mark.parametrize("mode", MODES)
def test_output_before_the_first_request_reaches_its_message(tmp_path, monkeypatch, mode):
    # An interpreter (or bwrap) that complains and exits at once: its words are read before the
    # load request is sent, and must still be part of that request's outcome.
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'this interpreter refuses to start' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(sandbox, "interpreter", lambda: str(fake))
    worker = Worker(session_for(tmp_path, "").submission, Limits(), lambda *a: None,
                    mode_or_skip(mode))
    try:
        worker.start()
        time.sleep(0.5)
        outcome = worker.request({"op": "load"}, 10.0)
    finally:
        worker.kill()
    # (bubblewrap cannot even find it, which is the Seen case: its execvp error must show)
    words = "bwrap: execvp" if mode == "bubblewrap" else "this interpreter refuses to start"
    assert not outcome.ok and words in outcome.output, outcome
    assert "before the worker program started" in outcome.crashed, outcome.crashed
