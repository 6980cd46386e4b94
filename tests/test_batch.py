"""``python -m grader batch``: a class graded for real, end to end.

Every grading here is a real one (a batch's grading process, ``grader/batch/grading_process.py``,
with a fresh sandboxed worker for each submission), restricted to two quick parts so that a class
of several students takes seconds.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.bugs import BUGS
from tests.conftest import REPOSITORY, WORKED_SOLUTION, grade_file

PARTS = "softmax,loss"
BUG = {bug.name: bug for bug in BUGS}


def patched(text: str, bug: str) -> str:
    for old, new in BUG[bug].replacements:
        assert text.count(old) == 1, (bug, old)
        text = text.replace(old, new)
    return text


def batch(submissions: Path, out: Path, *extra: str, env=None, timeout: float = 900):
    """Run the batch command; return (exit code, stderr + stdout)."""
    process = subprocess.run(
        [sys.executable, "-m", "grader", "batch", str(submissions), "--out", str(out),
         "--parts", PARTS, "--no-progress", *extra],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=timeout, env=env)
    return process.returncode, process.stderr + process.stdout


def gradebook(out: Path) -> dict[str, dict]:
    with open(out / "grades.csv", newline="") as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def worked_text() -> str:
    return WORKED_SOLUTION.read_text()


def one_file_per_student(folder: Path, files: dict[str, str | bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return folder


def test_a_class_is_graded_with_its_bad_submissions(tmp_path, worked_text):
    folder = one_file_per_student(tmp_path / "class", {
        "ada.py": worked_text,
        "bob.py": patched(worked_text, "loss_sum"),
        "cy.py": patched(worked_text, "softmax_axis0"),
        "dee.py": "def softmax(:\n",           # does not compile: graded, 0
        "eve.py": "",                           # empty: not gradable as code
        "fay.py": b"\x00\x01binary\xff",
    })
    out = tmp_path / "out"
    code, output = batch(folder, out, "--jobs", "2")
    assert code == 0, output
    assert "one file per student" in output.lower() or "<student>.py" in output, output
    book = gradebook(out)
    assert set(book) == {"ada", "bob", "cy", "dee", "eve", "fay"}, output
    assert list(book["ada"]) == ["student", "name", "sid", "email", "total", "max", "softmax",
                                 "loss", "status", "notes"]
    assert book["ada"]["total"] == book["ada"]["max"] == "17", book["ada"]
    assert float(book["bob"]["loss"]) < 8 and book["bob"]["softmax"] == "9", book["bob"]
    assert float(book["cy"]["softmax"]) < 9 and book["cy"]["loss"] == "8", book["cy"]
    for student in ("dee", "eve", "fay"):
        assert book[student]["total"] == "0", book[student]
    assert book["eve"]["status"].startswith("invalid:") and "empty" in book["eve"]["status"]
    assert book["fay"]["status"].startswith("invalid:") and "binary" in book["fay"]["status"]
    assert book["dee"]["status"] == "graded"   # a file that does not compile is graded: 0
    # every student has results and feedback; no temporary file is left behind
    for student in book:
        results = json.loads((out / "results" / f"{student}.json").read_text())
        assert results["extra_data"]["nngrade"]["batch"]["student"] == student
        assert (out / "feedback" / f"{student}.md").is_file()
        assert (out / "feedback" / f"{student}.html").is_file()
    assert (out / "summary.html").is_file()
    assert not list(out.rglob("*.tmp"))
    # The gradebook's totals are what `python -m grader grade` gives for the same files.
    for student in ("ada", "bob"):
        _, _, single = grade_file(folder / f"{student}.py", tmp_path / f"{student}.json",
                                  "--parts", PARTS)
        assert float(book[student]["total"]) == pytest.approx(single["score"]), student


def hanging(worked_text: str) -> str:
    """softmax never returns (a CPU-bound infinite loop)."""
    old = "    def softmax(self, x):\n"
    return worked_text.replace(old, old + "        while True:\n            pass\n", 1)


def memory_bomb(worked_text: str) -> str:
    """loss allocates 40 GiB, a GiB at a time."""
    old = "    def loss(self, prediction, labels):\n"
    assert old in worked_text
    return worked_text.replace(old, old + "        _keep = [bytearray(2 ** 30) for _ in range(40)]\n", 1)


def test_a_hang_and_a_memory_bomb_cost_only_their_own_points(tmp_path, worked_text):
    folder = one_file_per_student(tmp_path / "class", {
        "ada.py": worked_text, "hal.py": hanging(worked_text), "max.py": memory_bomb(worked_text),
        "ned.py": worked_text + "\n# another copy\n"})
    out = tmp_path / "out"
    started = time.monotonic()
    code, output = batch(folder, out, "--jobs", "2")
    elapsed = time.monotonic() - started
    assert code == 0, output
    book = gradebook(out)
    assert book["ada"]["total"] == book["ned"]["total"] == "17", output
    assert book["hal"]["softmax"] == "0" and book["hal"]["loss"] == "8", book["hal"]
    assert float(book["max"]["loss"]) == 0 and book["max"]["softmax"] == "9", book["max"]
    hal = json.loads((out / "results" / "hal.json").read_text())
    assert any("time limit" in test["output"] for test in hal["tests"]), hal["tests"]
    seconds = {s: json.loads((out / "results" / f"{s}.json").read_text())
               ["extra_data"]["nngrade"]["batch"]["seconds"] for s in book}
    # the hang costs its own calls' limits, the others grade as fast as ever
    assert seconds["ada"] < 60 and seconds["ned"] < 60, seconds
    assert seconds["hal"] < 400, seconds
    assert elapsed < 600, elapsed


def grading_processes(parent: int | None = None) -> dict[int, int]:
    """``{pid: parent pid}`` of the batches' grading processes now running on this machine
    (`python -m grader.batch.grading_process`, each grading one submission after another); only
    the children of ``parent`` when given. Other tests may be grading at the same time, so a test
    looks only at the processes it started."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                command = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if command[1:3] == [b"-m", b"grader.batch.grading_process"] and parent in (None, ppid):
                found[int(entry)] = ppid
    return found


def alive(pids) -> list[int]:
    """Those of ``pids`` that still run (a zombie waiting for its parent's wait() does not)."""
    running = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            running.append(pid)
    return running


def test_a_killed_batch_resumes_without_losing_or_regrading(tmp_path, worked_text):
    students = {f"s{i}.py": patched(worked_text, "loss_sum") if i % 2 else worked_text + f"\n# {i}\n"
                for i in range(5)}
    folder = one_file_per_student(tmp_path / "class", students)
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "grader", "batch", str(folder), "--out", str(out), "--parts", PARTS,
         "--no-progress", "--jobs", "1"], cwd=REPOSITORY, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    running = {}
    while time.monotonic() < deadline and (len(list((out / "results").glob("*.json"))) < 2
                                           or not running):
        running = grading_processes(process.pid)
        time.sleep(0.1)
    assert running, "no grading was running"
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = {p.name: p.read_bytes() for p in (out / "results").glob("*.json")}
    assert 2 <= len(finished) < 5, sorted(finished)
    deadline = time.monotonic() + 10
    while alive(running) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert alive(running) == [], "a grading outlived its killed batch"
    for path in (out / "results").glob("*.json"):     # every file on disk is whole
        json.loads(path.read_text())
    code, output = batch(folder, out, "--jobs", "2")
    assert code == 0, output
    assert f"{5 - len(finished)} to grade" in output and f"{len(finished)} unchanged" in output, output
    for name, data in finished.items():      # not graded again: the very same bytes
        assert (out / "results" / name).read_bytes() == data, name
    book = gradebook(out)
    assert len(book) == 5 and all(row["status"] == "graded" for row in book.values()), book
    # --force grades everyone again
    code, output = batch(folder, out, "--jobs", "2", "--force")
    assert code == 0 and "5 to grade" in output, output


NAMESPACE_FAULT = "bwrap: No permissions to create new namespace"


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap (apt install bubblewrap)")
def test_a_broken_sandbox_grades_nobody_and_writes_no_zero(tmp_path, worked_text):
    folder = one_file_per_student(tmp_path / "class", {"ada.py": worked_text,
                                                       "bob.py": patched(worked_text, "loss_sum")})
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    (bin_folder / "bwrap").write_text(f"#!/bin/sh\necho '{NAMESPACE_FAULT}' >&2\nexit 1\n")
    (bin_folder / "bwrap").chmod(0o755)
    broken = {**os.environ, "PATH": f"{bin_folder}{os.pathsep}{os.environ['PATH']}",
              "NNGRADE_SANDBOX_MODE": "bubblewrap"}
    out = tmp_path / "out"
    code, output = batch(folder, out, env=broken)
    assert code == 2, output
    book = gradebook(out)
    for row in book.values():
        assert row["total"] == "" and row["softmax"] == "" and row["status"].startswith("not graded"), row
    assert "not graded: ada" in output, output
    code, output = batch(folder, out)           # the machine is fixed: a re-run grades them
    assert code == 0, output
    assert "2 to grade" in output, output
    assert gradebook(out)["ada"]["total"] == "17"


def test_a_folder_of_no_known_layout_is_refused(tmp_path):
    folder = tmp_path / "junk"
    (folder / "a" / "b").mkdir(parents=True)
    (folder / "notes.txt").write_text("hello")
    code, output = batch(folder, tmp_path / "out")
    assert code == 2, output
    assert "layout" in output.lower() and "submission_metadata.yml" in output, output
    assert not (tmp_path / "out" / "grades.csv").exists()


def test_dask_gives_the_same_gradebook_as_local(tmp_path, worked_text):
    pytest.importorskip("distributed")
    folder = one_file_per_student(tmp_path / "class", {
        "ada.py": worked_text, "bob.py": patched(worked_text, "loss_sum"),
        "cy.py": patched(worked_text, "softmax_axis0"), "eve.py": ""})
    code, output = batch(folder, tmp_path / "local", "--jobs", "2")
    assert code == 0, output
    code, output = batch(folder, tmp_path / "dask", "--jobs", "2", "--engine", "dask")
    assert code == 0, output
    assert (tmp_path / "local" / "grades.csv").read_bytes() == (tmp_path / "dask" / "grades.csv").read_bytes()


def test_a_restarted_dask_worker_takes_its_grading_with_it(tmp_path, worked_text):
    """Seen with Dask: a worker restarted by its nanny leaves the process it started running,
    as an orphan that keeps a core busy. The grading process dies with its worker."""
    distributed = pytest.importorskip("distributed")
    import logging

    from grader.batch.engine import grade_bytes

    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=logging.ERROR)
    client = distributed.Client(cluster)
    try:
        future = client.submit(grade_bytes, hanging(worked_text).encode(), parts=["softmax"],
                               cap_s=600, key="nngrade-orphan-check", pure=False)
        workers = {nanny.process.pid for nanny in cluster.workers.values()}
        deadline = time.monotonic() + 120
        running = {}
        while not running and time.monotonic() < deadline:
            running = {pid: ppid for pid, ppid in grading_processes().items() if ppid in workers}
            time.sleep(0.2)
        assert running, "the grading never started"
        client.restart()
        deadline = time.monotonic() + 30
        while alive(running) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert alive(running) == [], "the grading outlived its restarted Dask worker"
        del future
    finally:
        client.close()
        cluster.close()


def assert_lms_files(out: Path, book: dict, emails: dict[str, str]) -> None:
    """canvas.csv and moodle.csv read by their formats' rules (``grader/batch/lms.py``): Canvas's
    five identity columns, then the assignment, with a Points Possible row; Moodle's identity
    columns, a grade and its feedback. Each graded student's total is the gradebook's."""
    with open(out / "canvas.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "nngrade"], rows[0]
    assert rows[1][0] == "Points Possible" and float(rows[1][5]) == float(next(iter(book.values()))["max"])
    canvas = {row[2]: row for row in rows[2:]}   # matched by SIS User ID
    assert set(canvas) == set(emails), canvas
    for sid, row in canvas.items():
        assert row[0] == book[sid]["name"] and row[1] == "" and row[3] == emails[sid], row
        assert float(row[5]) == float(book[sid]["total"]) <= float(rows[1][5]), row
    with open(out / "moodle.csv", newline="") as handle:
        moodle = list(csv.DictReader(handle))
    assert list(moodle[0]) == ["ID number", "Email address", "Full name", "nngrade", "Feedback"]
    assert {row["ID number"]: row["Email address"] for row in moodle} == emails
    for row in moodle:
        assert float(row["nngrade"]) == float(book[row["ID number"]]["total"]), row
        assert row["Feedback"].startswith(f"nngrade: {book[row['ID number']]['total']}/"), row


def test_a_zipped_gradescope_export_grades_a_group_once_for_each_member(tmp_path, worked_text):
    import zipfile

    metadata = """\
submission_1001:
  :submitters:
  - :name: Ada Lovelace
    :sid: '1001'
    :email: ada@example.edu
  :created_at: 2026-11-30 23:58:00.000000000 Z
submission_1002:
  :submitters:
  - :name: Grace Hopper
    :sid: '1002'
    :email: grace@example.edu
  - :name: Alan Turing
    :sid: '1003'
    :email: alan@example.edu
  :created_at: 2026-11-30 23:59:00.000000000 Z
"""
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("assignment_export/submission_metadata.yml", metadata)
        bundle.writestr("assignment_export/submission_1001/solution.py", worked_text)
        bundle.writestr("assignment_export/submission_1002/solution.py", patched(worked_text, "loss_sum"))
    out = tmp_path / "out"
    code, output = batch(archive, out, "--jobs", "2", "--export", "canvas,moodle")
    assert code == 0, output
    assert "Gradescope" in output and "3 students" in output and "2 distinct files" in output, output
    book = gradebook(out)
    assert set(book) == {"1001", "1002", "1003"}, book
    assert [book["1001"][column] for column in ("name", "sid", "email", "total")] == [
        "Ada Lovelace", "1001", "ada@example.edu", "17"]
    assert_lms_files(out, book, {"1001": "ada@example.edu", "1002": "grace@example.edu",
                                 "1003": "alan@example.edu"})
    assert book["1002"]["total"] == book["1003"]["total"] and float(book["1002"]["loss"]) < 8, book
    for member in ("1002", "1003"):
        results = json.loads((out / "results" / f"{member}.json").read_text())
        assert results["extra_data"]["nngrade"]["batch"]["members"] == ["1002", "1003"], results
