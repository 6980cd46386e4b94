"""grader.batch.layouts: the students of a batch found in every layout, in folders and in zips,
with the submissions that cannot be graded kept (and said why), and unsafe zips refused.

Every fixture is built in tmp_path; nothing here grades.
"""
from __future__ import annotations

import re
import stat
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.batch import layouts, student_files
from grader.batch.layouts import (
    FILES,
    FOLDERS,
    GRADESCOPE,
    KNOWN_LAYOUTS,
    MIXED,
    NBGRADER,
    LayoutError,
    open_roster,
    unique_ids,
)

CODE = "import numpy as np\n\n\ndef relu(x):\n    return np.maximum(x, 0)\n"
SAFE_ID = re.compile(r"[A-Za-z0-9._-]+")


def write(path: Path, content: str | bytes = CODE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def zip_folder(folder: Path, destination: Path, prefix: str = "") -> Path:
    """``destination``, a zip of every file under ``folder``, each under ``prefix``."""
    with zipfile.ZipFile(destination, "w") as archive:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                archive.write(file, prefix + file.relative_to(folder).as_posix())
    return destination


def by_student(roster) -> dict:
    return {submission.student: submission for submission in roster.submissions}


def assert_roster_sane(roster):
    students = [submission.student for submission in roster.submissions]
    assert students == sorted(students)
    assert len({student.casefold() for student in students}) == len(students)
    for submission in roster.submissions:
        assert SAFE_ID.fullmatch(submission.student), submission.student
        assert submission.student in submission.members
        assert (submission.source is None) == bool(submission.problem), submission
        if submission.source is not None:
            assert submission.source.is_file()


# ---- layout 1: one folder per student ---------------------------------------------------------

def test_one_folder_per_student(tmp_path):
    root = tmp_path / "subs"
    write(root / "ada" / "solution.py")
    write(root / "bob" / "solution.py", "print('bob')\n")
    write(root / "bob" / "notes.txt", "my notes")
    write(root / "carl" / "hw3" / "solution.py")          # one level deeper, the only one
    write(root / "grades.csv", "student,score\n")         # a stray file of the TA's: not a student
    write(root / ".DS_Store", b"\0\1")
    write(root / "__MACOSX" / "ada" / "._solution.py", b"\0\5")
    roster = open_roster(root, tmp_path / "scratch")
    assert roster.layout == FOLDERS
    assert roster.root == root
    assert_roster_sane(roster)
    found = by_student(roster)
    assert list(found) == ["ada", "bob", "carl"]
    assert found["ada"].source == root / "ada" / "solution.py"
    assert found["bob"].source == root / "bob" / "solution.py"
    assert found["carl"].source == root / "carl" / "hw3" / "solution.py"
    assert found["ada"].name == "ada" and found["ada"].members == ["ada"]
    assert all(submission.problem == "" for submission in roster.submissions)
    assert not (tmp_path / "scratch").exists() or not any((tmp_path / "scratch").iterdir())


def test_tool_folders_are_not_candidates(tmp_path):
    """A notebook's checkpoint copy and Python's cache hold files named like solutions; they are
    the tools', so solution.py is the only candidate."""
    root = tmp_path / "subs"
    write(root / "ada" / "solution.py")
    write(root / "ada" / ".ipynb_checkpoints" / "solution.py", "old = 1\n")
    write(root / "ada" / "__pycache__" / "solution.py", "cached = 1\n")
    write(root / "bob" / "solution.py")
    found = by_student(open_roster(root, tmp_path / "scratch"))
    assert found["ada"].source == root / "ada" / "solution.py" and found["ada"].problem == ""


# ---- layout 2: one file per student -----------------------------------------------------------

def test_one_file_per_student(tmp_path):
    root = tmp_path / "subs"
    write(root / "ada.py")
    write(root / "bob.py")
    write(root / "bob.ipynb", "{}")                       # beside bob.py: bob.py is graded
    write(root / "carl.ipynb", "{}")                      # a notebook alone: not graded, said why
    write(root / "README.txt", "instructions")
    roster = open_roster(root, tmp_path / "scratch")
    assert roster.layout == FILES
    assert_roster_sane(roster)
    found = by_student(roster)
    assert list(found) == ["ada", "bob", "carl"]
    assert found["ada"].source == root / "ada.py"
    assert found["bob"].source == root / "bob.py"
    assert found["carl"].source is None
    assert "carl.ipynb" in found["carl"].problem and "File > Download as > Python" in found["carl"].problem


def test_mixed_folders_and_files(tmp_path):
    root = tmp_path / "subs"
    write(root / "ada" / "solution.py")
    write(root / "bob.py")
    roster = open_roster(root, tmp_path / "scratch")
    assert roster.layout == MIXED
    assert {s.student: s.source for s in roster.submissions} == {
        "ada": root / "ada" / "solution.py", "bob": root / "bob.py"}


# ---- layout 3: nbgrader -----------------------------------------------------------------------

def nbgrader_course(course: Path, assignments=("hw3",)) -> Path:
    for assignment in assignments:
        for student in ("ada", "bob"):
            write(course / "submitted" / student / assignment / "solution.py")
            write(course / "submitted" / student / assignment / "timestamp.txt",
                  "2024-03-01 17:02:11.123456 UTC")
    write(course / "source" / assignments[0] / "solution.py")   # the instructor's copy
    write(course / "gradebook.db", b"SQLite format 3\0")
    return course


@pytest.mark.parametrize("point_at", ["course", "submitted"])
def test_nbgrader(tmp_path, point_at):
    course = nbgrader_course(tmp_path / "course")
    # carl submitted ps1 only: a student without hw3, and a second assignment, so hw3 is named.
    write(course / "submitted" / "carl" / "ps1" / "ps1.ipynb", "{}")
    path = course if point_at == "course" else course / "submitted"
    roster = open_roster(path, tmp_path / "scratch", assignment="hw3")
    assert roster.layout == NBGRADER
    assert roster.root == course / "submitted"
    assert_roster_sane(roster)
    found = by_student(roster)
    assert list(found) == ["ada", "bob", "carl"]
    assert found["ada"].source == course / "submitted" / "ada" / "hw3" / "solution.py"
    assert found["carl"].source is None
    assert "hw3" in found["carl"].problem and "ps1/" in found["carl"].problem


def test_nbgrader_takes_its_only_assignment(tmp_path):
    course = nbgrader_course(tmp_path / "course")
    roster = open_roster(course, tmp_path / "scratch")
    assert roster.layout == NBGRADER
    assert [s.source for s in roster.submissions] == [
        course / "submitted" / student / "hw3" / "solution.py" for student in ("ada", "bob")]


def test_nbgrader_missing_solution_does_not_list_timestamp(tmp_path):
    course = nbgrader_course(tmp_path / "course")
    (course / "submitted" / "bob" / "hw3" / "solution.py").unlink()
    write(course / "submitted" / "bob" / "hw3" / "hw3.py")
    found = by_student(open_roster(course, tmp_path / "scratch"))
    assert found["bob"].source is None
    assert "hw3.py" in found["bob"].problem and "timestamp.txt" not in found["bob"].problem


def test_nbgrader_several_assignments_must_be_named(tmp_path):
    course = nbgrader_course(tmp_path / "course", assignments=("hw2", "hw3"))
    with pytest.raises(LayoutError, match="several assignments: hw2, hw3"):
        open_roster(course, tmp_path / "scratch")
    with pytest.raises(LayoutError, match="no assignment 'hw9'.*hw2, hw3"):
        open_roster(course, tmp_path / "scratch", assignment="hw9")
    roster = open_roster(course, tmp_path / "scratch", assignment="hw2")
    assert all(s.source.parent.name == "hw2" for s in roster.submissions)


def test_submitted_folder_without_timestamps(tmp_path):
    """Copied without nbgrader's timestamp.txt, a folder named submitted whose students hold
    assignment folders is still nbgrader's."""
    submitted = tmp_path / "submitted"
    write(submitted / "ada" / "hw3" / "solution.py")
    roster = open_roster(submitted, tmp_path / "scratch")
    assert roster.layout == NBGRADER
    assert by_student(roster)["ada"].source == submitted / "ada" / "hw3" / "solution.py"


# ---- layout 4: Gradescope export --------------------------------------------------------------

# The shape of Gradescope's "Export Submissions" metadata, from public material: otter-grader's
# test fixtures (ucbds-infra/otter-grader, test/sample-metadata/gradescope-export/
# submission_metadata.yml: a top-level key per submission, ":submitters:" a list of ":name:",
# ":email:", ":sid:", with ":created_at:", ":score:" beside it, and a group submission listing
# several submitters), and a public parser of programming-assignment exports that reads
# ":results:" (the autograder's results.json) and ":history:" (earlier submissions) from the same
# entries. For a programming assignment each key is the name of a submission_<id> folder holding
# that submission's files. Names and addresses here are invented.
GRADESCOPE_METADATA = """\
---
submission_231400001:
  :submitters:
  - :name: Ada Lovelace
    :sid: '1001'
    :email: ada@example.edu
  :created_at: 2024-03-01 17:02:11.123456000 Z
  :score: 172.5
  :status: processed
  :results:
    score: 172.5
    execution_time: 41.2
    tests: []
  :history: []
submission_231400002:
  :submitters:
  - :name: Grace Hopper
    :sid: '1002'
    :email: grace@example.edu
  - :name: Alan Turing
    :sid:
    :email: alan.turing@example.edu
  :created_at: 2024-03-02 09:15:44.000000000 Z
  :score: 150.0
  :status: processed
  :history:
  - :created_at: 2024-03-01 23:59:01.000000000 Z
    :score: 120.0
    :autograder_score: 120.0
submission_231400003:
  :submitters:
  - :name: Émilie du Châtelet
    :sid:
    :email:
  :created_at: 2024-03-03 11:00:00.000000000 Z
  :score: 0.0
submission_231400004:
  :submitters:
  - :name: Lost Files
    :sid: '1004'
    :email: lost@example.edu
  :created_at: 2024-03-03 12:00:00.000000000 Z
  :score: 0.0
"""


def gradescope_export(root: Path) -> Path:
    write(root / "submission_metadata.yml", GRADESCOPE_METADATA)
    write(root / "submission_231400001" / "solution.py")
    write(root / "submission_231400002" / "solution.py")
    write(root / "submission_231400003" / "solution.ipynb", "{}")
    # submission_231400004 names no folder; submission_231400099 is a folder it does not name.
    write(root / "submission_231400099" / "solution.py")
    return root


def test_gradescope_export(tmp_path):
    root = gradescope_export(tmp_path / "export")
    roster = open_roster(root, tmp_path / "scratch")
    assert roster.layout == GRADESCOPE
    assert_roster_sane(roster)
    found = by_student(roster)
    # sid, else the email's local part, else the name (made file-safe).
    assert set(found) == {"1001", "1002", "alan.turing", "Emilie_du_Chatelet", "1004",
                          "submission_231400099"}
    # Name, SID and email stay three fields (the gradebook's columns).
    assert (found["1001"].name, found["1001"].sid, found["1001"].email) == (
        "Ada Lovelace", "1001", "ada@example.edu")
    assert found["1001"].source == root / "submission_231400001" / "solution.py"
    assert found["1001"].members == ["1001"]
    # The group submission counts for each member, with the same file.
    group = [found["1002"], found["alan.turing"]]
    assert [(member.name, member.sid, member.email) for member in group] == [
        ("Grace Hopper", "1002", "grace@example.edu"), ("Alan Turing", "", "alan.turing@example.edu")]
    assert all(member.source == root / "submission_231400002" / "solution.py" for member in group)
    assert all(member.members == ["1002", "alan.turing"] for member in group)
    assert found["Emilie_du_Chatelet"].name == "Émilie du Châtelet"
    assert "notebook" in found["Emilie_du_Chatelet"].problem
    assert found["1004"].source is None and "no files" in found["1004"].problem
    assert found["submission_231400099"].source == root / "submission_231400099" / "solution.py"


def test_gradescope_bad_yaml_is_a_layout_error(tmp_path):
    write(tmp_path / "export" / "submission_metadata.yml", "submission_1: [unclosed\n")
    with pytest.raises(LayoutError, match="not valid YAML"):
        open_roster(tmp_path / "export", tmp_path / "scratch")


def test_gradescope_key_cannot_point_outside(tmp_path):
    write(tmp_path / "secret" / "solution.py")
    write(tmp_path / "export" / "submission_metadata.yml",
          "../secret:\n  :submitters:\n  - :name: Eve\n    :sid: '666'\n")
    found = by_student(open_roster(tmp_path / "export", tmp_path / "scratch"))
    assert found["666"].source is None and "not a folder of the export" in found["666"].problem


# ---- layout 5: zips ---------------------------------------------------------------------------

def test_zip_of_folders_wrapped_in_one_folder(tmp_path):
    source = tmp_path / "src"
    write(source / "ada" / "solution.py")
    write(source / "bob" / "hw" / "solution.py")
    archive = zip_folder(source, tmp_path / "hw3.zip", prefix="hw3/")
    scratch = tmp_path / "scratch"
    roster = open_roster(archive, scratch)
    assert roster.layout == f"{FOLDERS}, in the zip hw3.zip"
    assert roster.root.name == "hw3" and scratch.resolve() in roster.root.resolve().parents
    found = by_student(roster)
    assert list(found) == ["ada", "bob"]
    assert found["ada"].source.read_text() == CODE
    assert found["bob"].source == roster.root / "bob" / "hw" / "solution.py"


def test_zip_of_files(tmp_path):
    source = tmp_path / "src"
    write(source / "ada.py")
    write(source / "bob.py", "")
    roster = open_roster(zip_folder(source, tmp_path / "subs.zip"), tmp_path / "scratch")
    assert roster.layout.startswith(FILES)
    found = by_student(roster)
    assert found["ada"].source.read_text() == CODE
    assert found["bob"].source is None and "empty" in found["bob"].problem


def test_zip_of_gradescope_export(tmp_path):
    """As Gradescope gives it: one assignment_<id>_export/ folder, here with macOS's litter."""
    export = gradescope_export(tmp_path / "src")
    archive = zip_folder(export, tmp_path / "submissions.zip", prefix="assignment_4242_export/")
    with zipfile.ZipFile(archive, "a") as extra:
        extra.writestr("__MACOSX/assignment_4242_export/._submission_metadata.yml", b"\0\0")
    roster = open_roster(archive, tmp_path / "scratch")
    assert roster.layout == f"{GRADESCOPE}, in the zip submissions.zip"
    assert roster.root.name == "assignment_4242_export"
    found = by_student(roster)
    assert found["alan.turing"].members == ["1002", "alan.turing"]
    assert found["1002"].source == roster.root / "submission_231400002" / "solution.py"


def test_zip_of_nbgrader_course(tmp_path):
    course = nbgrader_course(tmp_path / "course")
    roster = open_roster(zip_folder(course, tmp_path / "course.zip", prefix="course/"), tmp_path / "s")
    assert roster.layout.startswith(NBGRADER) and roster.root.name == "submitted"
    assert [s.student for s in roster.submissions] == ["ada", "bob"]


def test_zip_of_one_student_folder_is_not_unwrapped(tmp_path):
    """A zip holding only ada/solution.py is one student's folder, not a wrapper around a
    one-file-per-student folder with a student named 'solution'."""
    archive = tmp_path / "one.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("ada/solution.py", CODE)
    roster = open_roster(archive, tmp_path / "scratch")
    assert roster.layout.startswith(FOLDERS)
    assert [s.student for s in roster.submissions] == ["ada"]


def test_lone_folder_with_one_other_file_is_a_student(tmp_path):
    """ada/notes.py alone: ada is a student without solution.py, not a wrapper around a student
    named 'notes'."""
    write(tmp_path / "subs" / "ada" / "notes.py")
    roster = open_roster(tmp_path / "subs", tmp_path / "scratch")
    assert roster.layout == FOLDERS
    [ada] = roster.submissions
    assert ada.student == "ada" and "no solution.py" in ada.problem and "notes.py" in ada.problem


def test_folder_holding_one_wrapper_is_unwrapped(tmp_path):
    """An export extracted into a folder of its own is read from inside it."""
    export = gradescope_export(tmp_path / "subs" / "assignment_4242_export")
    roster = open_roster(tmp_path / "subs", tmp_path / "scratch")
    assert roster.layout == GRADESCOPE and roster.root == export
    write(tmp_path / "files" / "hw3" / "ada.py")
    write(tmp_path / "files" / "hw3" / "bob.ipynb", "{}")
    roster = open_roster(tmp_path / "files", tmp_path / "scratch")
    assert roster.layout == FILES and [s.student for s in roster.submissions] == ["ada", "bob"]


@pytest.mark.parametrize("member", ["../evil.py", "ok/../../evil.py", "/tmp/evil.py",
                                    "..\\evil.py", "C:/evil.py"])
def test_zip_slip_is_refused(tmp_path, member):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("ada/solution.py", CODE)
        out.writestr(member, "import os\n")
    scratch = tmp_path / "deep" / "scratch"
    with pytest.raises(LayoutError, match="is refused") as raised:
        open_roster(archive, scratch)
    assert repr(member) in str(raised.value)
    # Refused before anything was written.
    assert not list(tmp_path.rglob("evil.py"))
    assert not scratch.exists() or not any(scratch.iterdir())


def test_zip_symlinks_are_skipped(tmp_path):
    archive = tmp_path / "links.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("ada/solution.py", CODE)
        link = zipfile.ZipInfo("bob/solution.py")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        out.writestr(link, "/etc/passwd")
    roster = open_roster(archive, tmp_path / "scratch")
    assert not any(path.is_symlink() for path in roster.root.rglob("*"))
    found = by_student(roster)
    assert found["ada"].source.read_text() == CODE
    assert found["bob"].source is None and "empty" in found["bob"].problem


def test_zip_size_and_member_bounds(tmp_path, monkeypatch):
    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as out:
        out.writestr("ada/solution.py", "#" * 5000)
        out.writestr("bob/solution.py", "#" * 5000)
        out.writestr("carl/solution.py", CODE)
    monkeypatch.setattr(layouts, "MAX_ZIP_BYTES", 8000)
    with pytest.raises(LayoutError, match="would extract to"):
        open_roster(archive, tmp_path / "scratch")
    assert not (tmp_path / "scratch").exists() or not any((tmp_path / "scratch").iterdir())
    monkeypatch.setattr(layouts, "MAX_ZIP_BYTES", 1024 ** 3)
    monkeypatch.setattr(layouts, "MAX_ZIP_MEMBERS", 2)
    with pytest.raises(LayoutError, match="has 3 members"):
        open_roster(archive, tmp_path / "scratch")
    monkeypatch.setattr(layouts, "MAX_ZIP_MEMBERS", 3)
    assert len(open_roster(archive, tmp_path / "scratch").submissions) == 3


def test_broken_zip_is_a_layout_error(tmp_path):
    write(tmp_path / "broken.zip", b"PK\3\4 this is not really a zip")
    with pytest.raises(LayoutError, match="not a readable zip"):
        open_roster(tmp_path / "broken.zip", tmp_path / "scratch")


# ---- submissions that cannot be graded --------------------------------------------------------

def problems_of(tmp_path, build) -> dict:
    """{student: problem} of a one-folder-per-student roster ``build(root)`` makes (with a
    gradable student beside, so that the layout is the same whatever the case)."""
    root = tmp_path / "subs"
    write(root / "zz_good" / "solution.py")
    build(root)
    roster = open_roster(root, tmp_path / "scratch")
    assert_roster_sane(roster)
    found = by_student(roster)
    assert found.pop("zz_good").problem == ""
    return {student: submission.problem for student, submission in found.items()}


def test_folder_without_solution_lists_its_contents(tmp_path):
    def build(root):
        for name in ("hw3_final.py", "README.md", "data.csv", "a.txt", "b.txt", "c.txt"):
            write(root / "ada" / name, "x = 1\n")
        write(root / "ada" / "figures" / "loss.png", b"\x89PNG")
        (root / "bob").mkdir()
    problems = problems_of(tmp_path, build)
    assert "no solution.py" in problems["ada"]
    # Sorted, the first five named, the rest counted.
    assert "README.md, a.txt, b.txt, c.txt, data.csv and 2 more" in problems["ada"]
    assert problems["bob"].startswith("Your submission is empty")


@pytest.mark.parametrize("content, expected", [
    (b"", "is empty (0 bytes)"),
    (b"  \n\t\n   \n", "only whitespace"),
    (b"\xef\xbb\xbf\n\n", "only whitespace"),              # a BOM and blank lines
    (b"import numpy\0\0\0", "NUL bytes"),
    (b"# caf\xe9 au lait\nx = 1\n", "not UTF-8"),             # Latin-1
])
def test_unreadable_files(tmp_path, content, expected):
    problems = problems_of(tmp_path, lambda root: write(root / "ada" / "solution.py", content))
    assert expected in problems["ada"] and "solution.py" in problems["ada"]


def test_accented_utf8_is_gradable(tmp_path):
    root = tmp_path / "subs"
    write(root / "ada" / "solution.py", "\ufeff# café, 学生\nx = 1\n")
    assert by_student(open_roster(root, tmp_path / "scratch"))["ada"].problem == ""


def test_too_large_file(tmp_path, monkeypatch):
    monkeypatch.setattr(student_files, "MAX_SOURCE_BYTES", 100)
    problems = problems_of(tmp_path, lambda root: write(root / "ada" / "solution.py", "#" * 101))
    assert "larger than" in problems["ada"]


def test_notebook_instead_of_python(tmp_path):
    def build(root):
        write(root / "ada" / "solution.ipynb", "{}")
        write(root / "bob" / "hw3" / "My Homework.ipynb", "{}")
    problems = problems_of(tmp_path, build)
    for student, shown in (("ada", "solution.ipynb"), ("bob", "hw3/My Homework.ipynb")):
        assert shown in problems[student]
        assert "File > Download as > Python" in problems[student]
        assert "solution.py" in problems[student]


def test_notebook_beside_solution_is_ignored(tmp_path):
    problems = problems_of(tmp_path, lambda root: (write(root / "ada" / "solution.ipynb", "{}"),
                                                   write(root / "ada" / "solution.py")))
    assert problems == {"ada": ""}


@pytest.mark.parametrize("files", [
    ("a/solution.py", "b/solution.py"),
    ("solution.py", "solution (1).py"),
    ("solution.py", "old/solution.py"),
    ("solution-2.py", "Solution copy.py"),
])
def test_two_candidates_are_named(tmp_path, files):
    problems = problems_of(tmp_path, lambda root: [write(root / "ada" / name) for name in files])
    assert "2 candidate files" in problems["ada"]
    for name in files:
        assert name in problems["ada"]


def test_big_folder_beside_the_solution(tmp_path, monkeypatch):
    """A submitted data folder larger than the walk looks at does not hide hw/solution.py."""
    monkeypatch.setattr(layouts, "MAX_FOLDER_ENTRIES", 10)        # the layout's look at a folder
    monkeypatch.setattr(student_files, "MAX_FOLDER_ENTRIES", 10)  # and the walk of one student's

    def build(root):
        for i in range(30):
            write(root / "ada" / "aa_data" / f"{i:02d}.png", b"\x89PNG")
        write(root / "ada" / "hw" / "solution.py")
    assert problems_of(tmp_path, build) == {"ada": ""}


def test_solution_too_deep(tmp_path):
    problems = problems_of(tmp_path, lambda root: write(root / "ada" / "a" / "b" / "solution.py"))
    assert "a/b/solution.py" in problems["ada"] and "too many folders down" in problems["ada"]


def test_no_solution_py_among_other_python_files(tmp_path):
    """solution_v2.py or hw3.py is not taken for solution.py: the file to grade has a name."""
    problems = problems_of(tmp_path, lambda root: write(root / "ada" / "solution_v2.py"))
    assert "no solution.py" in problems["ada"] and "solution_v2.py" in problems["ada"]


# ---- not a layout -----------------------------------------------------------------------------

def assert_lists_layouts(message: str):
    for name, example in KNOWN_LAYOUTS:
        assert name in message and example in message


def test_empty_folder_lists_the_layouts(tmp_path):
    (tmp_path / "empty").mkdir()
    write(tmp_path / "empty" / ".DS_Store", b"\0")
    with pytest.raises(LayoutError) as raised:
        open_roster(tmp_path / "empty", tmp_path / "scratch")
    assert "is empty" in str(raised.value)
    assert_lists_layouts(str(raised.value))


@pytest.mark.parametrize("make", [
    lambda root: write(root / "README.txt", "hello"),        # no folder, no .py
    lambda root: write(root / "scores.csv", "a,b\n"),
])
def test_no_layout_lists_the_layouts(tmp_path, make):
    make(tmp_path / "stuff")
    with pytest.raises(LayoutError) as raised:
        open_roster(tmp_path / "stuff", tmp_path / "scratch")
    assert "holds no student folder" in str(raised.value)
    assert_lists_layouts(str(raised.value))


def test_missing_path_and_single_file(tmp_path):
    with pytest.raises(LayoutError, match="does not exist"):
        open_roster(tmp_path / "nowhere", tmp_path / "scratch")
    with pytest.raises(LayoutError, match="single file") as raised:
        open_roster(write(tmp_path / "solution.py"), tmp_path / "scratch")
    assert_lists_layouts(str(raised.value))
    assert issubclass(LayoutError, ValueError)


# ---- student ids ------------------------------------------------------------------------------

def test_ids_are_sanitised_and_collisions_numbered(tmp_path):
    root = tmp_path / "subs"
    for folder in ("Ada Lovelace", "Ada_Lovelace", "ada_lovelace", "Ada_Lovelace-2", "José Núñez",
                   "-rf", "o'brien@uni"):
        write(root / folder / "solution.py")
    roster = open_roster(root, tmp_path / "scratch")
    assert_roster_sane(roster)
    names = {submission.name: submission.student for submission in roster.submissions}
    assert names == {
        # Names needing no change first, then in code-point order: Ada_Lovelace keeps its id;
        # -2 is a student's own id, so the next are -3 and -4 (unique even ignoring case).
        "Ada_Lovelace": "Ada_Lovelace", "ada_lovelace": "ada_lovelace-3",
        "Ada Lovelace": "Ada_Lovelace-4", "Ada_Lovelace-2": "Ada_Lovelace-2",
        "José Núñez": "Jose_Nunez", "-rf": "_rf", "o'brien@uni": "o_brien_uni",
    }


def test_ids_do_not_depend_on_listing_order():
    raws = [("a b", "1"), ("a_b", "2"), ("A_B", "3"), ("x", "4")]
    expected = dict(zip(raws, unique_ids(raws), strict=True))
    assert dict(zip(raws[::-1], unique_ids(raws[::-1]), strict=True)) == expected
    assert expected == {("A_B", "3"): "A_B", ("a_b", "2"): "a_b-2", ("a b", "1"): "a_b-3",
                        ("x", "4"): "x"}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=12), st.text(max_size=3)), max_size=12))
def test_ids_are_safe_and_unique(raws):
    ids = unique_ids(raws)
    assert len(ids) == len(raws)
    assert len({student.casefold() for student in ids}) == len(ids)
    for student in ids:
        assert SAFE_ID.fullmatch(student) and not student.startswith((".", "-"))
