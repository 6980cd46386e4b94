"""nbgrader (issue 14): a real course round trip, and one grade through every channel.

The module's course is made by ``python -m grader nbgrader init`` and graded by the real
nbgrader commands (``generate_assignment``, ``autograde``, ``generate_feedback``), with six
students in ``submitted/``: the worked solution, the template, a bug in the loss, a softmax that
hangs, a notebook with tampering cells and files beside it, and a solution.py without a notebook
(completed by ``python -m grader nbgrader collect``). Every per-part score in nbgrader's gradebook
must equal what ``python -m grader grade`` gives for the same file; the last test adds the batch
and Gradescope's ``run_autograder``.

The course grades the parts softmax and loss (``init --parts``), and every channel runs with
``PYTEST_ADDOPTS=--call-timeout 2`` so that a hanging call costs 2 s, not 30, in all of them alike.
The tests share one course, so they run on one xdist worker (``xdist_group``; the test command
distributes with ``--dist loadgroup``).
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
api = pytest.importorskip("nbgrader.api")

from bugs import BUGS  # noqa: E402
from conftest import REPOSITORY, TEMPLATE, WORKED_SOLUTION  # noqa: E402

from grader import model  # noqa: E402
from grader.authoring.release import answer_in  # noqa: E402
from grader.authoring.template import make_template  # noqa: E402
from grader.platforms import nbgrader_course  # noqa: E402
from grader.platforms.nbgrader_kernel import RUNNER_ID  # noqa: E402
from grader.platforms.nbgrader_preprocessors import SET_ASIDE  # noqa: E402

pytestmark = pytest.mark.xdist_group("nbgrader")

PARTS = ("softmax", "loss")
ASSIGNMENT = "ps1"
CHANNEL_ENV = {"PYTEST_ADDOPTS": "--call-timeout 2"}
SOFTMAX_BODY = "        shifted = x - np.max(x, axis=-1, keepdims=True)\n"
TAMPER_CELLS = [
    # Patches subprocess so that the grading process never starts, and prints a score.
    "import subprocess\nclass Fake:\n    def __init__(self, *a, **k):\n        raise SystemExit\n"
    "subprocess.Popen = Fake\nprint(9.0)",
    # Defines the name the part cells read, with a fake full score.
    "class Full:\n    def points(self, part, maximum):\n        return maximum\nGRADING = Full()",
]


def _bugged(name: str) -> str:
    bug = next(bug for bug in BUGS if bug.name == name)
    text = WORKED_SOLUTION.read_text()
    for old, new in bug.replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def solutions() -> dict[str, str]:
    """The six students' solution.py."""
    worked = WORKED_SOLUTION.read_text()
    assert worked.count(SOFTMAX_BODY) == 1
    return {"worked": worked, "template": TEMPLATE.read_text(), "buggy": _bugged("loss_sum"),
            "hanging": worked.replace(SOFTMAX_BODY, "        while True:\n            pass\n"),
            "tamper": _bugged("loss_sum"), "bare": _bugged("softmax_unstable")}


def environment(**extra) -> dict:
    """The channels' environment: nbgrader runs in the course folder, so the repository is put
    first on the import path (of nbgrader's config, its kernel and the grading) explicitly."""
    path = os.pathsep.join(filter(None, [str(REPOSITORY), os.environ.get("PYTHONPATH")]))
    return {**os.environ, **CHANNEL_ENV, "PYTHONPATH": path, **extra}


def run_nbgrader(course: Path, *args: str, env=None, check: bool = True) -> subprocess.CompletedProcess:
    process = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, capture_output=True,
                             text=True, timeout=900, env=env or environment())
    if check:
        assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-5000:]
    return process


def gradebook_scores(course: Path) -> dict[str, dict[str, float]]:
    """``{student: {part: score}}`` from nbgrader's gradebook."""
    scores = {}
    with api.Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for student in gradebook.students:
            try:
                gradebook.find_submission(ASSIGNMENT, student.id)
            except api.MissingEntry:
                continue
            scores[student.id] = {part: gradebook.find_grade(f"{nbgrader_course.PART_PREFIX}{part}",
                                                             nbgrader_course.NOTEBOOK, ASSIGNMENT,
                                                             student.id).score for part in PARTS}
    return scores


def results_parts(data: dict) -> dict[str, float]:
    """``{part: score}`` of a results.json (rounded as the gradebook's CSV rounds)."""
    return {part: round(value["score"], 4) for part, value in data["extra_data"]["nngrade"]["parts"].items()}


def make_course(root: Path) -> Path:
    course = root / "course"
    process = subprocess.run([sys.executable, "-m", "grader", "nbgrader", "init", str(course), "--parts",
                              ",".join(PARTS)], cwd=REPOSITORY, capture_output=True, text=True, timeout=120)
    assert process.returncode == 0, process.stdout + process.stderr
    run_nbgrader(course, "generate_assignment", ASSIGNMENT)
    return course


def submit(course: Path, student: str, source: str, notebook=None, files=None) -> Path:
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True)
    (folder / "solution.py").write_text(source)
    if notebook is not None:
        nbformat.write(notebook, os.fspath(folder / "grading.ipynb"))
    for relative, text in (files or {}).items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(text)
    return folder


def tampered(released: Path):
    """The released notebook with cells added before the test cells, a test cell rewritten to
    print the maximum, and an added autograder cell worth 100 points."""
    notebook = nbformat.read(os.fspath(released), as_version=4)
    for index, source in enumerate(TAMPER_CELLS):
        notebook.cells.insert(1 + index, nbformat.v4.new_code_cell(source))
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id", "").startswith(nbgrader_course.PART_PREFIX):
            # nbclient skips a cell with this tag, and nbgrader scores a test cell that printed
            # nothing as full marks.
            cell.metadata["tags"] = ["skip-execution"]
        if cell.metadata.get("nbgrader", {}).get("grade_id") == f"{nbgrader_course.PART_PREFIX}loss":
            cell.source = "8.0"
    notebook.cells.append(nbformat.v4.new_code_cell("100.0", metadata={"nbgrader": {
        "grade": True, "grade_id": "extra_credit", "locked": False, "points": 100,
        "schema_version": 3, "solution": False, "task": False}}))
    return notebook


@pytest.fixture(scope="module")
def direct(tmp_path_factory) -> dict[str, dict]:
    """``{student: results.json}`` from ``python -m grader grade`` on each student's file."""
    folder = tmp_path_factory.mktemp("direct")
    graded = {}
    for student, source in solutions().items():
        path = folder / student / "solution.py"
        path.parent.mkdir()
        path.write_text(source)
        results = path.parent / "results.json"
        subprocess.run([sys.executable, "-m", "grader", "grade", str(path), "--parts", ",".join(PARTS),
                        "--results-json", str(results)], cwd=REPOSITORY, capture_output=True,
                       timeout=600, env=environment())
        graded[student] = json.loads(results.read_text())
        assert graded[student]["extra_data"]["nngrade"]["status"] == "graded", student
    return graded


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """The course after generate_assignment, collect and autograde; (folder, autograde's log,
    the gradebook's scores then)."""
    course = make_course(tmp_path_factory.mktemp("nbgrader"))
    released = course / "release" / ASSIGNMENT / "grading.ipynb"
    sources = solutions()
    for student in ("worked", "template", "buggy", "hanging"):
        submit(course, student, sources[student], nbformat.read(os.fspath(released), as_version=4))
    submit(course, "tamper", sources["tamper"], tampered(released), files={
        # Beside the notebook, in the folder the kernel starts in and imports from first.
        "grader/__init__.py": "raise SystemExit('a grader of the student')\n",
        "ipykernel_launcher.py": "print(1.0)\n"})
    submit(course, "bare", sources["bare"])
    # A link to the worked solution as solution.py (nbgrader's own copy follows links), and an
    # honest student whose notebook is broken (nngrade's notebook is the instructor's anyway).
    linked = submit(course, "linked", "placeholder\n")
    (linked / "solution.py").unlink()
    (linked / "solution.py").symlink_to(WORKED_SOLUTION)
    submit(course, "corrupt", sources["worked"]).joinpath("grading.ipynb").write_text("{not json")
    (course / "submitted" / "tamper" / ASSIGNMENT / "notes.txt").symlink_to(WORKED_SOLUTION)
    collected = subprocess.run([sys.executable, "-m", "grader", "nbgrader", "collect", str(course)],
                               cwd=REPOSITORY, capture_output=True, text=True, timeout=120)
    assert collected.returncode == 0, collected.stdout + collected.stderr
    assert "bare, linked" in collected.stdout, collected.stdout
    autograde = run_nbgrader(course, "autograde", ASSIGNMENT)
    return course, autograde.stdout + autograde.stderr, gradebook_scores(course)


def test_init_releases_the_template_and_a_notebook_without_the_grading_code(course):
    folder, _, _ = course
    worked = WORKED_SOLUTION.read_text()
    source = folder / "source" / ASSIGNMENT
    assert sorted(p.name for p in source.iterdir()) == ["grading.ipynb", "solution.py"]
    assert (source / "solution.py").read_text() == make_template(worked)
    released = folder / "release" / ASSIGNMENT
    assert sorted(p.name for p in released.iterdir()) == ["grading.ipynb", "solution.py"]
    assert answer_in(released, worked, (".py", ".ipynb")) == ""
    notebook = nbformat.read(os.fspath(released / "grading.ipynb"), as_version=4)
    assert "grade_here" not in json.dumps(notebook)      # the runner is a hidden test
    metadata = [cell.metadata["nbgrader"] for cell in notebook.cells]
    assert all(entry["locked"] for entry in metadata)
    points = {m["grade_id"]: m["points"] for m in metadata if m["grade"]}
    assert points == {RUNNER_ID: 0, **{f"{nbgrader_course.PART_PREFIX}{part}": value
                                       for part, value in nbgrader_course.part_points(PARTS).items()}}
    config = (folder / "nbgrader_config.py").read_text()
    assert "exclude_overwriting" in config
    assert f"Execute.timeout = {nbgrader_course.EXECUTE_TIMEOUT_S}" in config


def test_autograde_gives_each_part_what_python_m_grader_grade_gives(course, direct):
    folder, log, scores = course
    # nngrade's cells hold hidden tests, which nbgrader's OverwriteCells used to warn about for
    # every cell of every student; rebuilt from the source first, they match the gradebook.
    assert "has changed" not in log, log[-3000:]
    assert set(scores) == set(solutions()) | {"linked", "corrupt"}
    for student, results in direct.items():
        assert scores[student] == pytest.approx(results_parts(results), abs=1e-9), (student, scores[student])
    full = nbgrader_course.part_points(PARTS)
    # The scores themselves, from the rubric alone (two broken gradings would agree on 0).
    assert scores["worked"] == full
    assert scores["template"] == {part: 0 for part in PARTS}
    assert scores["buggy"]["softmax"] == full["softmax"] and scores["buggy"]["loss"] < full["loss"]
    assert scores["hanging"]["softmax"] < full["softmax"] and scores["hanging"]["loss"] == full["loss"]
    assert scores["bare"]["softmax"] < full["softmax"] and scores["bare"]["loss"] == full["loss"]
    assert scores["corrupt"] == full   # a broken notebook is replaced by the released one
    assert scores["linked"] == {part: 0 for part in PARTS}   # a link to the worked solution is not graded
    found = folder / "autograded" / "linked" / ASSIGNMENT / ".nngrade-submission.json"
    linked = json.loads(found.read_text())
    assert linked["source"] is None
    assert linked["problem"] == "solution.py is a link, not a file: submit the file itself as solution.py."


def test_cells_and_files_a_student_adds_change_no_score(course, direct):
    folder, log, scores = course
    assert scores["tamper"] == pytest.approx(results_parts(direct["tamper"]))
    assert scores["tamper"]["loss"] < nbgrader_course.part_points(PARTS)["loss"]
    # The student's notebook is kept for the staff; the released one was graded in its place.
    handed_in = folder / "submitted" / "tamper" / ASSIGNMENT / "grading.ipynb.submitted"
    assert "skip-execution" in handed_in.read_text()
    graded = nbformat.read(os.fspath(folder / "autograded" / "tamper" / ASSIGNMENT / "grading.ipynb"),
                           as_version=4)
    source = nbformat.read(os.fspath(folder / "source" / ASSIGNMENT / "grading.ipynb"), as_version=4)
    assert [c.metadata["nbgrader"]["grade_id"] for c in graded.cells] == \
        [c.metadata["nbgrader"]["grade_id"] for c in source.cells]
    assert [c.source for c in graded.cells] == [c.source for c in source.cells]
    assert not any(c.metadata.get("tags") for c in graded.cells)
    kept = folder / "autograded" / "tamper" / ASSIGNMENT
    assert not (kept / "grader").exists() and not (kept / "ipykernel_launcher.py").exists()
    assert [p.relative_to(kept).as_posix() for p in kept.glob(f"{SET_ASIDE}-*/grader/__init__.py")]
    # The link never reached autograded/ (nbgrader would have copied its target).
    assert not list(kept.rglob("notes.txt"))
    assert (folder / "submitted" / "tamper" / ".nngrade-quarantine" / ASSIGNMENT / "notes.txt").is_symlink()


def test_keep_source_cells_rebuilds_a_tampered_notebook_from_the_source(course):
    """nngrade's own preprocessor, on the tampering notebook itself (in a course, the pre-convert
    hook has already put the released notebook in its place)."""
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Configurable

    from grader.platforms.nbgrader_preprocessors import KeepSourceCells

    folder, _, _ = course

    class Converter(Configurable):   # KeepSourceCells finds nbgrader's course directory up its parents
        pass

    converter = Converter()
    converter.coursedir = CourseDirectory(root=str(folder))

    handed_in = folder / "submitted" / "tamper" / ASSIGNMENT / "grading.ipynb.submitted"
    notebook = nbformat.read(os.fspath(handed_in), as_version=4)
    assert len(notebook.cells) == 7
    resources = {"nbgrader": {"notebook": "grading", "assignment": ASSIGNMENT,
                              "db_url": f"sqlite:///{folder / 'gradebook.db'}"}}
    preprocessor = KeepSourceCells(parent=converter)
    rebuilt, _ = preprocessor.preprocess(notebook, resources)
    source = nbformat.read(os.fspath(folder / "source" / ASSIGNMENT / "grading.ipynb"), as_version=4)
    assert [c.source for c in rebuilt.cells] == [c.source for c in source.cells]
    assert not any(c.metadata.get("tags") for c in rebuilt.cells)
    assert all(c.metadata["nbgrader"].get("checksum") for c in rebuilt.cells)


def test_generate_feedback_and_export_write_per_part_grades_and_feedback(course, direct):
    folder, _, scores = course
    run_nbgrader(folder, "generate_feedback", ASSIGNMENT)
    for student in solutions():
        assert (folder / "feedback" / student / ASSIGNMENT / "grading.html").is_file()
    # generate_feedback copies the assignment's files: the template student's holds no answer.
    worked = WORKED_SOLUTION.read_text()
    assert answer_in(folder / "feedback" / "template", worked, (".py", ".html", "")) == ""
    assert answer_in(folder / "feedback" / "linked", worked, (".py", ".html", "")) == ""
    assert not list((folder / "feedback").rglob(f"{SET_ASIDE}*"))   # CourseDirectory.ignore
    assert not any("test_hidden" in p.read_text(errors="replace")
                   for p in (folder / "feedback").rglob("*") if p.is_file())
    # nbgrader's own feedback carries each part's diagnoses (hidden tests only as a count), and
    # not the file that records what was graded (it holds the kernel's token).
    feedback = (folder / "feedback" / "buggy" / ASSIGNMENT / "grading.html").read_text()
    assert "summed over the batch instead of averaging" in feedback
    assert "every test passed" in feedback    # buggy's softmax
    assert not list((folder / "feedback").rglob(".nngrade-submission.json"))
    run_nbgrader(folder, "export")   # nbgrader's own, totals only: it still works with the course
    process = subprocess.run([sys.executable, "-m", "grader", "nbgrader", "export", str(folder),
                              "--export", "canvas,moodle"],
                             cwd=REPOSITORY, capture_output=True, text=True, timeout=120)
    assert process.returncode == 0, process.stdout + process.stderr
    out = folder / nbgrader_course.EXPORT_FOLDER / ASSIGNMENT
    with open(out / "grades.csv", newline="") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(scores)
    # The LMS files carry nbgrader's totals under the assignment's name, by nbgrader's student id.
    with open(out / "canvas.csv", newline="") as handle:
        canvas = list(csv.reader(handle))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", ASSIGNMENT]
    assert canvas[1][0] == "Points Possible"
    assert {row[2]: float(row[5]) for row in canvas[2:]} == pytest.approx(
        {student: sum(parts.values()) for student, parts in scores.items()}, abs=1e-4)
    with open(out / "moodle.csv", newline="") as handle:
        moodle = {row["ID number"]: float(row[ASSIGNMENT]) for row in csv.DictReader(handle)}
    assert moodle == pytest.approx({row[2]: float(row[5]) for row in canvas[2:]})
    for student, row in rows.items():
        assert row["sid"] == student
        assert {part: float(row[part]) for part in PARTS} == pytest.approx(scores[student], abs=1e-4)
        assert row["status"] == ("invalid: solution.py is a link, not a file: submit the file itself as "
                                 "solution.py." if student == "linked" else "graded")
        assert float(row["total"]) == pytest.approx(sum(scores[student].values()), abs=1e-4)
    feedback = (out / "feedback" / "buggy.md").read_text()
    assert "summed over the batch instead of averaging" in feedback
    assert (out / "summary.html").is_file() and (out / "feedback" / "hanging.html").is_file()


def test_a_forced_rerun_gives_the_same_scores(course):
    folder, _, scores = course
    run_nbgrader(folder, "autograde", ASSIGNMENT, "--force")
    assert gradebook_scores(folder) == scores


def test_one_grade_every_channel(course, direct, tmp_path):
    """The six files through ``grade``, ``batch``, Gradescope's ``run_autograder`` and nbgrader:
    the same score in every part."""
    from test_gradescope import run_autograder

    from grader.platforms import gradescope

    _, _, nbgrader_scores = course
    sources = solutions()
    submissions = tmp_path / "class"
    for student, source in sources.items():
        (submissions / student).mkdir(parents=True)
        (submissions / student / "solution.py").write_text(source)
    process = subprocess.run([sys.executable, "-m", "grader", "batch", str(submissions), "--out",
                              str(tmp_path / "batch"), "--parts", ",".join(PARTS), "--jobs", "1",
                              "--no-progress"], cwd=REPOSITORY, capture_output=True, text=True,
                             timeout=900, env=environment())
    assert process.returncode == 0, process.stdout + process.stderr
    results = tmp_path / "batch" / "results"
    batch = {student: results_parts(json.loads((results / f"{student}.json").read_text()))
             for student in sources}
    archive = gradescope.build(tmp_path / "autograder.zip")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in CHANNEL_ENV.items():
            patch.setenv(name, value)
        platform = {student: results_parts(run_autograder(archive, tmp_path / f"gs-{student}",
                                                          {"solution.py": source}, parts=PARTS)[1])
                    for student, source in sources.items()}
    for student in sources:
        expected = results_parts(direct[student])
        assert batch[student] == expected, ("batch", student)
        assert platform[student] == expected, ("run_autograder", student)
        assert nbgrader_scores[student] == pytest.approx(expected, abs=1e-9), ("nbgrader", student)


def test_a_grading_the_machine_cannot_run_records_no_score(tmp_path):
    """The grader cannot start its sandbox: nbgrader names the student as failed, the gradebook
    has no score for them, and the export says "not graded", never 0."""
    course = make_course(tmp_path)
    released = course / "release" / ASSIGNMENT / "grading.ipynb"
    submit(course, "ada", WORKED_SOLUTION.read_text(), nbformat.read(os.fspath(released), as_version=4))
    process = run_nbgrader(course, "autograde", ASSIGNMENT, check=False,
                           env=environment(NNGRADE_SANDBOX_MODE="no-such-sandbox"))
    assert process.returncode != 0
    log = process.stdout + process.stderr
    assert "nngrade could not grade ada" in log and "no-such-sandbox" in log
    assert not (course / "autograded" / "ada" / ASSIGNMENT).exists()   # nbgrader removed it
    export = subprocess.run([sys.executable, "-m", "grader", "nbgrader", "export", str(course)],
                            cwd=REPOSITORY, capture_output=True, text=True, timeout=120)
    assert export.returncode == 0, export.stdout + export.stderr
    with open(course / nbgrader_course.EXPORT_FOLDER / ASSIGNMENT / "grades.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["student"], r["total"], r["softmax"], r["status"][:10]) for r in rows] == \
        [("ada", "", "", "not graded")]
    # nbgrader goes on without a config file that fails to load (it only logs it): then no
    # nngrade step runs (the template would replace bob's solution.py), and the kernel refuses to
    # grade rather than let every part score 0.
    config = course / "nbgrader_config.py"
    config.write_text(config.read_text() + "\nraise RuntimeError('a broken course configuration')\n")
    submit(course, "bob", WORKED_SOLUTION.read_text(), nbformat.read(os.fspath(released), as_version=4))
    process = run_nbgrader(course, "autograde", ASSIGNMENT, "--student", "bob", check=False)
    log = process.stdout + process.stderr
    assert process.returncode != 0 and "a broken course configuration" in log
    # The kernel said why in its cell and ended itself; nbgrader reports the dead kernel.
    assert "DeadKernelError: Kernel died" in log
    assert not (course / "autograded" / "bob" / ASSIGNMENT).exists()


# ---- the pieces, without a kernel ------------------------------------------------------------

def _prepare(folder: Path) -> dict:
    from grader.platforms.nbgrader_kernel import SUBMISSION_FILE
    from grader.platforms.nbgrader_preprocessors import PrepareSubmission

    PrepareSubmission().preprocess(nbformat.v4.new_notebook(), {"metadata": {"path": str(folder)}})
    return json.loads((folder / SUBMISSION_FILE).read_text())


def test_prepare_submission_grades_a_misnamed_file_as_solution_py_and_sets_the_rest_aside(tmp_path):
    (tmp_path / "grading.ipynb").write_text("{}")
    (tmp_path / "timestamp.txt").write_text("2026-12-01 10:00:00")
    (tmp_path / "solution (1).py").write_text("x = 1\n")
    (tmp_path / "subprocess.py").write_text("raise SystemExit\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    found = _prepare(tmp_path)
    assert found["source"] == "solution (1).py" and found["problem"] == "" and len(found["token"]) == 32
    assert (tmp_path / "solution.py").read_text() == "x = 1\n"
    asides = list(tmp_path.glob(f"{SET_ASIDE}-*"))
    assert len(asides) == 1
    assert sorted(p.name for p in tmp_path.iterdir() if p not in asides) == sorted(
        [".nngrade-submission.json", "grading.ipynb", "solution.py", "timestamp.txt"])
    aside = sorted(p.name for p in asides[0].iterdir())
    assert aside == ["pkg", "solution (1).py", "subprocess.py"]


@pytest.mark.parametrize("files, words", [
    ({"notes.txt": "see attached"}, "has no solution.py (it holds notes.txt)"),
    ({"solution.py": "", }, "is empty"),
    ({"solution.py": "x = 1\n", "solution (1).py": "x = 2\n"}, "2 candidate files"),
])
def test_prepare_submission_says_why_there_is_nothing_to_grade(tmp_path, files, words):
    (tmp_path / "grading.ipynb").write_text("{}")
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    found = _prepare(tmp_path)
    assert found["source"] is None and words in found["problem"], found
    assert not (tmp_path / "solution.py").exists()   # set aside: nothing of the student's is importable


def test_prepare_submission_does_not_follow_a_link(tmp_path):
    (tmp_path / "grading.ipynb").write_text("{}")
    (tmp_path / "solution.py").symlink_to(WORKED_SOLUTION)
    found = _prepare(tmp_path)
    assert found["source"] is None and "is a link" in found["problem"]


def test_the_kernel_side_scores_an_invalid_submission_zero_and_clamps_a_part(tmp_path):
    from grader.platforms.nbgrader_kernel import SUBMISSION_FILE, TOKEN_VARIABLE, Grading, grade_here

    found = {"source": None, "problem": "Your submission is empty.", "token": "0123"}
    (tmp_path / SUBMISSION_FILE).write_text(json.dumps(found))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        patch.setenv(TOKEN_VARIABLE, "0123")
        grading = grade_here(parts=list(PARTS))
    assert grading.status == "invalid" and grading.points("loss", 8) == 0.0
    assert grading.record().max_score == sum(nbgrader_course.part_points(PARTS).values())
    loss = model.TestRecord("test_loss_value", "loss", "the loss", 12.0, False, model.PASSED, 12.0,
                            fraction=1.0)
    above = Grading("graded", "", model.assemble(model.GRADED, "s.py", [loss]).to_json(), "solution.py")
    assert above.points("loss", 8) == 8.0   # never above the cell's points (nbgrader would fail the notebook)
    with pytest.raises(RuntimeError, match="could not grade"):
        Grading("not_graded", "no sandbox", None, "solution.py").points("loss", 8)


def test_require_verdict_refuses_a_notebook_without_a_grading():
    from grader.platforms.nbgrader_kernel import RESULTS_MIME
    from grader.platforms.nbgrader_preprocessors import NotGraded, RequireVerdict

    resources = {"nbgrader": {"student": "ada"}}
    runner = nbformat.v4.new_code_cell("", metadata={"nbgrader": {"grade_id": RUNNER_ID}})
    with pytest.raises(NotGraded, match="no .* output"):
        RequireVerdict().preprocess(nbformat.v4.new_notebook(cells=[runner]), resources)
    runner.outputs = [nbformat.v4.new_output("display_data", data={
        "text/plain": "", RESULTS_MIME: {"status": "not_graded", "reason": "the sandbox did not start"}})]
    with pytest.raises(NotGraded, match="could not grade ada: the sandbox did not start"):
        RequireVerdict().preprocess(nbformat.v4.new_notebook(cells=[runner]), resources)
    runner.outputs[0].data[RESULTS_MIME] = {"status": "graded", "grading": None}
    RequireVerdict().preprocess(nbformat.v4.new_notebook(cells=[runner]), resources)


def test_init_and_collect_refuse_what_they_cannot_do(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(nbgrader_course.CourseError, match="not empty and has no nbgrader_config.py"):
        nbgrader_course.init(tmp_path)
    with pytest.raises(nbgrader_course.CourseError, match="unknown part"):
        nbgrader_course.init(tmp_path / "course", parts=["softmaxx"])
    nbgrader_course.init(tmp_path / "course", parts=["softmax"])
    with pytest.raises(nbgrader_course.CourseError, match="already exists"):
        nbgrader_course.init(tmp_path / "course", parts=["softmax"])
    nbgrader_course.init(tmp_path / "course", assignment="ps2")   # a second assignment
    assert sorted(p.name for p in (tmp_path / "course" / "source").iterdir()) == ["ps1", "ps2"]
    with pytest.raises(nbgrader_course.CourseError, match="several assignments"):
        nbgrader_course.collect(tmp_path / "course")
    with pytest.raises(nbgrader_course.CourseError, match="generate_assignment ps1 first"):
        nbgrader_course.collect(tmp_path / "course", "ps1")
