"""The gradebook a batch leaves in OUTDIR is never lost (issue 27): a batch of some students of
the class merges into it, another class is refused with nothing written, ``--student`` regrades
the named students only, SIGHUP and SIGTERM leave complete outputs as Ctrl-C does, and the notes
column says what a TA should know beyond a score.

Every grading is real (two quick parts); a batch of a few students takes seconds."""
from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader import model
from grader.batch.lms import canvas_csv, moodle_csv
from grader.batch.records import GRADED, NOT_GRADED, StudentRecord
from tests.test_batch import PARTS, batch, gradebook, one_file_per_student, patched
from tests.conftest import REPOSITORY, WORKED_SOLUTION


@pytest.fixture(scope="module")
def worked_text() -> str:
    return WORKED_SOLUTION.read_text()


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder``, by relative path."""
    return {str(path.relative_to(folder)): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture
def graded_class(tmp_path, worked_text):
    """A class of three, graded into OUTDIR: (its folder, OUTDIR)."""
    folder = one_file_per_student(tmp_path / "class", {
        "ada.py": worked_text, "bob.py": worked_text + "\n# bob\n", "cy.py": worked_text + "\n# cy\n"})
    out = tmp_path / "out"
    code, output = batch(folder, out, "--export", "canvas")
    assert code == 0, output
    return folder, out


def test_a_batch_of_some_students_merges_into_the_class_gradebook(tmp_path, graded_class, worked_text):
    folder, out = graded_class
    before = snapshot(out / "results")
    late = one_file_per_student(tmp_path / "late", {"bob.py": patched(worked_text, "loss_sum")})
    code, output = batch(late, out)
    assert code == 0, output
    assert "holds the gradebook of 3 students: 1 of them are graded into it here" in output, output
    book = gradebook(out)
    assert set(book) == {"ada", "bob", "cy"}, book
    assert float(book["bob"]["loss"]) < 8 and book["ada"]["total"] == book["cy"]["total"] == "17"
    after = snapshot(out / "results")
    assert after["ada.json"] == before["ada.json"] and after["cy.json"] == before["cy.json"]
    assert after["bob.json"] != before["bob.json"]
    # every output follows: the summary lists the three, the LMS file an earlier run asked for
    # is written again with bob's new total
    summary = (out / "summary.html").read_text()
    assert "3 students" in summary and "nngrade: class" in summary
    with open(out / "canvas.csv", newline="") as handle:
        canvas = {row[2]: row[5] for row in list(csv.reader(handle))[2:]}
    assert canvas == {student: book[student]["total"] for student in book}, canvas
    # and the similarity report still compares the whole class (the others' files are kept)
    pairs = {(pair["left"], pair["right"]) for pair in
             json.loads((out / "similarity.json").read_text())["pairs"]}
    assert {("ada", "bob"), ("ada", "cy"), ("bob", "cy")} <= pairs, pairs
    assert (out / "files" / "bob.py").read_text() == (late / "bob.py").read_text()


def test_another_roster_is_refused_and_nothing_is_written(tmp_path, graded_class, worked_text):
    _, out = graded_class
    before = snapshot(out)
    other = one_file_per_student(tmp_path / "other", {"zed.py": worked_text, "ada.py": worked_text})
    code, output = batch(other, out)
    assert code == 2 and "another roster" in output and "zed" in output, output
    assert "choose another --out" in output, output
    assert snapshot(out) == before
    # a subset graded with other parts would give the gradebook columns that do not agree
    subset = one_file_per_student(tmp_path / "subset", {"ada.py": worked_text})
    process = subprocess.run(
        [sys.executable, "-m", "grader", "batch", str(subset), "--out", str(out), "--parts",
         "softmax", "--no-progress"], cwd=REPOSITORY, capture_output=True, text=True, timeout=600)
    assert process.returncode == 2 and "same --parts" in process.stderr, process.stderr
    assert snapshot(out) == before


def test_student_regrades_only_the_named_students(tmp_path, graded_class, worked_text):
    folder, out = graded_class
    before = snapshot(out / "results")
    # both files change; only the named student is regraded
    (folder / "bob.py").write_text(patched(worked_text, "loss_sum"))
    (folder / "cy.py").write_text(patched(worked_text, "softmax_axis0"))
    code, output = batch(folder, out, "--student", "cy")
    assert code == 0, output
    book = gradebook(out)
    assert float(book["cy"]["softmax"]) < 9 and book["bob"]["total"] == "17", book
    after = snapshot(out / "results")
    assert after["ada.json"] == before["ada.json"] and after["bob.json"] == before["bob.json"]
    # an unknown id is refused before anything is graded, with the close ones named
    code, output = batch(folder, out, "--student", "cyy")
    assert code == 2 and "--student cyy" in output and "close: cy" in output, output
    assert snapshot(out / "results") == after
    # so is --student with other parts: the others' grades are of the gradebook's parts
    process = subprocess.run(
        [sys.executable, "-m", "grader", "batch", str(folder), "--out", str(out), "--parts",
         "softmax", "--no-progress", "--student", "ada"], cwd=REPOSITORY, capture_output=True,
        text=True, timeout=300)
    assert process.returncode == 2 and "--student would mix the two" in process.stderr
    assert snapshot(out / "results") == after


def test_student_in_a_fresh_outdir_says_who_is_not_graded_yet(tmp_path, worked_text):
    folder = one_file_per_student(tmp_path / "class", {"ada.py": worked_text, "bob.py": worked_text})
    out = tmp_path / "out"
    code, output = batch(folder, out, "--student", "ada")
    assert code == 2, output    # someone has no grade
    book = gradebook(out)
    assert book["ada"]["total"] == "17" and book["bob"]["total"] == "", book
    assert "--student" in book["bob"]["status"] and book["bob"]["status"].startswith("not graded")


@pytest.mark.parametrize("stop", [signal.SIGHUP, signal.SIGTERM])
def test_a_signal_midway_leaves_complete_outputs(tmp_path, worked_text, stop):
    students = {f"s{i}.py": worked_text + f"\n# {i}\n" for i in range(6)}
    folder = one_file_per_student(tmp_path / "class", students)
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "grader", "batch", str(folder), "--out", str(out), "--parts", PARTS,
         "--no-progress", "--jobs", "1", "--export", "moodle"], cwd=REPOSITORY,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while len(list((out / "results").glob("*.json"))) < 2:
        assert time.monotonic() < deadline and process.poll() is None, "no result was written"
        time.sleep(0.05)
    process.send_signal(stop)
    _, errors = process.communicate(timeout=120)
    assert process.returncode == 128 + stop, (process.returncode, errors)
    book = gradebook(out)
    assert set(book) == {f"s{i}" for i in range(6)}, book
    graded = {s for s, row in book.items() if row["status"] == "graded"}
    assert 2 <= len(graded) < 6, book
    for student, row in book.items():
        if student not in graded:
            assert row["status"].startswith("not graded: the batch was interrupted"), row
    with open(out / "moodle.csv", newline="") as handle:
        assert {row["ID number"] for row in csv.DictReader(handle)} == graded
    assert "6 students" in (out / "summary.html").read_text()
    assert not [path for path in out.rglob("*") if path.name.startswith(".") or "tmp" in path.name]
    # a re-run grades only those the signal stopped
    code, output = batch(folder, out, "--jobs", "2")
    assert code == 0 and f"{6 - len(graded)} to grade" in output, output


def test_the_notes_column_says_what_a_score_does_not(tmp_path, worked_text):
    """A file graded in place of solution.py, and a file whose script code failed at import (its
    definitions graded, full marks): the gradebook's notes and the summary say so."""
    root = tmp_path / "class"
    (root / "ada").mkdir(parents=True)
    (root / "ada" / "solution (1).py").write_text(worked_text)
    (root / "bob").mkdir()
    (root / "bob" / "solution.py").write_text(worked_text + "\ntrain_everything_now()\n")
    (root / "cy").mkdir()
    (root / "cy" / "solution.py").write_text(worked_text)
    out = tmp_path / "out"
    code, output = batch(root, out)
    assert code == 0, output
    book = gradebook(out)
    assert all(row["total"] == "17" for row in book.values()), book
    assert book["ada"]["notes"] == "graded ada/solution (1).py in place of solution.py", book["ada"]
    assert book["bob"]["notes"].startswith("script code at import was skipped"), book["bob"]
    assert "NameError" in book["bob"]["notes"], book["bob"]
    assert book["cy"]["notes"] == ""
    summary = (out / "summary.html").read_text()
    assert "Notes (2)" in summary and "in place of solution.py" in summary
    assert "script code at import was skipped" in summary


def test_the_lms_files_leave_out_who_was_not_graded():
    """An import would replace a grade with an empty or 0 cell: a student the machine could not
    grade is not in the LMS files at all, and the others carry their totals."""
    graded = StudentRecord(student="ada", name="Ada Lovelace", status=GRADED, sid="1001",
                           email="ada@example.edu",
                           grading=model.invalid("no code", ["softmax", "loss"]).to_json())
    machine = StudentRecord(student="bob", name="Bob", status=NOT_GRADED, reason="sandbox failed",
                            sid="1002", email="bob@example.edu")
    canvas = list(csv.reader(canvas_csv([graded, machine], "HW3 (1234)").splitlines()))
    assert canvas[0][5] == "HW3 (1234)" and canvas[1] == ["Points Possible", "", "", "", "", "17"]
    assert canvas[2:] == [["Ada Lovelace", "", "1001", "ada@example.edu", "", "0"]]
    moodle = list(csv.DictReader(moodle_csv([graded, machine]).splitlines()))
    assert [(row["ID number"], row["nngrade"]) for row in moodle] == [("1001", "0")]
    # without a SID the email matches: nngrade's own id (made from the email) could be another
    # student's SID; with neither, the folder's name stands
    emailed = StudentRecord(student="jdoe", status=GRADED, email="jdoe@example.edu",
                            grading=graded.grading)
    folder_only = StudentRecord(student="kim", status=GRADED, grading=graded.grading)
    rows = list(csv.reader(canvas_csv([emailed, folder_only]).splitlines()))[2:]
    assert [(row[2], row[3]) for row in rows] == [("", "jdoe@example.edu"), ("kim", "")]
