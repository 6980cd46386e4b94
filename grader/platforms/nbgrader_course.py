"""nbgrader: ``python -m grader nbgrader {init,collect,export} COURSE_DIR``.

- ``init`` writes a working nbgrader course (or adds an assignment to one):
  ``nbgrader_config.py`` (below) and ``source/<assignment>/`` with the student **template**
  ``solution.py`` (nbgrader releases a .py file as it is, so the worked one must never be there)
  and ``grading.ipynb``, the grading notebook: a read-only introduction, one hidden runner cell
  and one read-only autograder test cell per rubric part (``nbgrader_kernel`` says what they do).
- ``collect`` copies the released grading notebook into every ``submitted/<student>/<assignment>/``
  that has no notebook (a student who handed in only solution.py): nbgrader grades notebooks,
  and would otherwise not grade that student. It also does what nngrade's pre-convert hook does
  in ``nbgrader autograde`` (``nbgrader_preprocessors.secure_submission``).
- ``export`` writes ``grades.csv`` with one column per part from nbgrader's gradebook (through
  ``nbgrader.api.Gradebook``; ``nbgrader export`` has totals only), each student's feedback from
  the grader's results (``grader.batch.feedback``) and the class summary.

The course's ``nbgrader_config.py`` sets what nbgrader needs to grade this assignment:
``Autograde.exclude_overwriting`` (nbgrader otherwise replaces each student's solution.py with the
source copy, the template), ``Execute.timeout`` (one cell runs a whole grading), and nngrade's
preprocessors (``nbgrader_preprocessors``), which close nbgrader's holes for added cells and files.
The notebook's kernel is ``python3``, which ``init`` checks exists; nngrade must be installed in
that kernel's environment.

``nbgrader generate_feedback`` copies every file of the assignment folder into each student's
feedback folder: the source folder holds only the template and the notebook, and the hidden tests
and references stay in the installed grader, so nothing of them is copied there.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from grader.authoring.release import REPOSITORY, ReleaseError, answer_in
from grader.authoring.template import make_template
from grader.batch import engine
from grader.batch.feedback import feedback_html, feedback_markdown
from grader.batch.gradebook import grades_csv
from grader.batch.lms import write_exports
from grader.batch.records import GRADED, INVALID, NOT_GRADED, StudentRecord
from grader.batch.summary import summary_html
from grader.outputs.report import write_text_atomic
from grader.platforms.nbgrader_kernel import PART_PREFIX, RUNNER_ID, read_grading
from grader.platforms.nbgrader_preprocessors import secure_submission
from grader.parts import UnknownParts, select_parts
from grader.rubric import DEFAULT_PARTS, PARTS, RUBRIC

NOTEBOOK = "grading"
"""The grading notebook's name (``grading.ipynb``)."""
DEFAULT_ASSIGNMENT = "ps1"
KERNEL = "python3"
EXECUTE_TIMEOUT_S = int(engine.GRADING_CAP_S) + 300
"""nbgrader's per-cell timeout: the runner cell's grading is capped at ``engine.GRADING_CAP_S``;
the rest is for the kernel and the grading process to start and end."""
ABOUT_ID = "nngrade_about"
EXPORT_FOLDER = "nngrade_export"


class CourseError(ReleaseError):
    """The course cannot be written or read as asked; the message says how to fix it."""


def part_points(parts=()) -> dict[str, float]:
    """``{part: points}`` of ``parts`` (all when empty) in rubric order, hidden rows included where
    this installation has them (as the grader counts them)."""
    totals: dict[str, float] = {}
    parts = parts or DEFAULT_PARTS   # what a grading that names no part grades
    for row in RUBRIC:
        if row.part in parts:
            totals[row.part] = totals.get(row.part, 0.0) + row.points
    return {part: totals[part] for part in PARTS if part in totals}


def _nbgrader_metadata(grade_id: str, points: float | None) -> dict:
    return {"nbgrader": {"grade": points is not None, "grade_id": grade_id, "locked": True,
                         "points": points if points is not None else 0, "schema_version": 3,
                         "solution": False, "task": False}}


def grading_notebook(parts=()) -> dict:
    """The grading notebook (nbformat 4 JSON) for ``parts`` (all when empty)."""
    import nbformat

    points = part_points(parts)
    selected = list(points) if parts else []
    about = nbformat.v4.new_markdown_cell(
        "# Autograding\n\n"
        "Write your answers in **solution.py**; hand in this notebook unchanged beside it.\n\n"
        "The cells below are nngrade's: nbgrader restores them before grading and removes any "
        "cell you add. Your code is graded by running `solution.py` in a separate, sandboxed "
        "process, one score per part: " + ", ".join(f"{p} ({v:g})" for p, v in points.items())
        + ". To check your work before you hand it in, run `pytest grader` on the handout.",
        metadata=_nbgrader_metadata(ABOUT_ID, None))
    runner = nbformat.v4.new_code_cell(
        "# nngrade grades solution.py here, in a sandboxed process of its own.\n"
        "### BEGIN HIDDEN TESTS\n"
        "from grader.platforms.nbgrader_kernel import grade_here\n"
        f"GRADING = grade_here(parts={selected!r})\n"
        "### END HIDDEN TESTS", metadata=_nbgrader_metadata(RUNNER_ID, 0))
    cells = [about, runner]
    for part, value in points.items():
        cells.append(nbformat.v4.new_code_cell(
            f"# Part {part}: {value:g} points, from nngrade's grading of solution.py: the tests\n"
            "# that lost points, and why, are printed below.\n"
            "### BEGIN HIDDEN TESTS\n"
            f"GRADING.part({part!r}, {value!r})\n"
            "### END HIDDEN TESTS", metadata=_nbgrader_metadata(f"{PART_PREFIX}{part}", value)))
    notebook = nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"name": KERNEL, "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"}})
    nbformat.validate(notebook)
    return notebook


CONFIG = '''\
"""nbgrader's configuration of this course, written by nngrade (python -m grader nbgrader init).

Run nbgrader in this folder. See nngrade's README (nbgrader) for the commands."""
from pathlib import Path

from nbgrader.converters import Autograde

from grader.platforms import nbgrader_preprocessors as nngrade

c = get_config()  # noqa: F821 (nbgrader defines it)
c.CourseDirectory.course_id = {course_id!r}

# nbgrader replaces every file of a submission that is also in source/<assignment>/ with the
# source copy; a student's solution.py is the submission, so it is left as handed in.
c.Autograde.exclude_overwriting = {{
    folder.name: ["solution.py"] for folder in (Path(__file__).parent / "source").iterdir()
    if folder.is_dir()}}

# One cell runs a whole grading: nngrade caps it at {cap:g} s; nbgrader's default is 30 s.
c.Execute.timeout = {timeout}

# nngrade's steps (grader/platforms/nbgrader_preprocessors.py): before nbgrader copies a
# submission, move its links and devices out and put the released notebook in; rebuild the
# notebook from the source; set aside the files a student added; record no score when nngrade
# could not grade or a cell did not give nngrade's score.
c.Autograde.pre_convert_hook = nngrade.before_autograde
c.Autograde.sanitize_preprocessors = nngrade.sanitize_preprocessors(Autograde)
c.Autograde.autograde_preprocessors = nngrade.autograde_preprocessors(Autograde)
# The files set aside stay in autograded/ for the staff, out of generate_feedback's copies, and
# so does the record of what was graded (it holds the kernel's token).
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback",
                            nngrade.SET_ASIDE + "*", nngrade.QUARANTINE, nngrade.SUBMISSION_FILE]
'''


def _check_kernel() -> None:
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().find_kernel_specs()
    if KERNEL not in specs:
        raise CourseError(f"no Jupyter kernel named {KERNEL} here (kernels: {', '.join(specs) or 'none'}): "
                          "install ipykernel in the environment nbgrader runs in")


def init(course: Path, assignment: str = DEFAULT_ASSIGNMENT, parts=(),
         worked_solution: Path = REPOSITORY / "solution.py") -> Path:
    """Write a course at ``course`` with ``assignment`` in ``source/`` (or add ``assignment`` to
    the course there); return the assignment's source folder."""
    course = Path(course).resolve()
    if not assignment or not assignment.replace("_", "").replace("-", "").isalnum():
        raise CourseError(f"assignment name {assignment!r}: use letters, digits, - and _")
    try:
        parts = list(select_parts(parts)) if parts else []
    except UnknownParts as error:
        raise CourseError(str(error)) from None
    _check_kernel()
    config = course / "nbgrader_config.py"
    source = course / "source" / assignment
    if source.exists():
        raise CourseError(f"{source} already exists: choose another assignment name")
    if course.exists() and any(course.iterdir()) and not config.is_file():
        raise CourseError(f"{course} is not empty and has no nbgrader_config.py: choose a new folder")
    worked = Path(worked_solution).read_text()
    staging = course / f".{assignment}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        (staging / "solution.py").write_text(make_template(worked))
        (staging / f"{NOTEBOOK}.ipynb").write_text(json.dumps(grading_notebook(parts), indent=1) + "\n")
        leak = answer_in(staging, worked, (".py", ".ipynb", ".md", ".txt", ""))
        if leak:
            raise CourseError(f"{leak} would be released to students")
        source.parent.mkdir(exist_ok=True)
        staging.rename(source)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if not config.is_file():
        write_text_atomic(config, CONFIG.format(course_id=course.name, cap=engine.GRADING_CAP_S,
                                                timeout=EXECUTE_TIMEOUT_S))
        config.chmod(0o644)   # as nbgrader's own files: the course's graders read it too
    return source


def _assignment(course: Path, assignment: str | None) -> str:
    """``assignment``, or the course's only one."""
    names = sorted(p.name for p in (course / "source").iterdir() if p.is_dir()) \
        if (course / "source").is_dir() else []
    if not names:
        raise CourseError(f"{course} has no source/<assignment>/: run python -m grader nbgrader init first")
    if assignment is None:
        if len(names) > 1:
            raise CourseError(f"{course} has several assignments ({', '.join(names)}): pass --assignment")
        return names[0]
    if assignment not in names:
        raise CourseError(f"{course} has no assignment {assignment!r}; it has {', '.join(names)}")
    return assignment


def collect(course: Path, assignment: str | None = None) -> list[str]:
    """Copy the released grading notebook into each submission of ``assignment`` that has none;
    return those students' ids."""
    course = Path(course).resolve()
    assignment = _assignment(course, assignment)
    released = course / "release" / assignment / f"{NOTEBOOK}.ipynb"
    if not released.is_file():
        raise CourseError(f"{released} does not exist: run nbgrader generate_assignment {assignment} first")
    submitted = course / "submitted"
    completed = []
    for folder in sorted(submitted.glob(f"*/{assignment}")) if submitted.is_dir() else []:
        if folder.is_symlink() or not folder.is_dir():
            continue
        had_notebook = (folder / f"{NOTEBOOK}.ipynb").is_file()
        secure_submission(folder, released.parent)   # links out; the released notebook in
        if not had_notebook and (folder / f"{NOTEBOOK}.ipynb").is_file():
            completed.append(folder.parent.name)
    return completed


def _record(course: Path, assignment: str, student: str, name: str) -> StudentRecord:
    """The student's record from their autograded notebook (the runner cell's grading)."""
    notebook = course / "autograded" / student / assignment / f"{NOTEBOOK}.ipynb"
    try:
        grading = read_grading(json.loads(notebook.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        grading = None
    if grading is None:
        return StudentRecord(student=student, name=name, status=NOT_GRADED,
                             reason="nbgrader autograde has no grading of this submission (it was "
                                    "not autograded, or failed: see nbgrader's log)")
    status = {"graded": GRADED, "invalid": INVALID}.get(grading.get("status"), NOT_GRADED)
    return StudentRecord(student=student, name=name, status=status,
                         reason="" if status == GRADED else grading.get("reason", ""),
                         grading=grading.get("grading"), seconds=float(grading.get("seconds") or 0),
                         source=grading.get("source") or "")


def export(course: Path, assignment: str | None = None, out: Path | None = None, *,
           exports: list[str] = (), lms_column: str | None = None) -> Path:
    """Write ``grades.csv`` (per part, from nbgrader's gradebook), ``feedback/<student>.md|html``
    and ``summary.html`` for ``assignment`` into ``out`` (default
    ``COURSE_DIR/nngrade_export/<assignment>``), and the LMS files of ``exports``
    (``grader/batch/lms.py``; their column titled ``lms_column``, default the assignment's name);
    return ``out``."""
    from nbgrader.api import Gradebook, MissingEntry

    course = Path(course).resolve()
    assignment = _assignment(course, assignment)
    database = course / "gradebook.db"
    if not database.is_file():
        raise CourseError(f"{database} does not exist: run nbgrader generate_assignment and autograde first")
    out = Path(out).resolve() if out else course / EXPORT_FOLDER / assignment
    records, scores = [], {}
    with Gradebook(f"sqlite:///{database}") as gradebook:
        try:
            notebook = gradebook.find_notebook(NOTEBOOK, assignment)
        except MissingEntry as error:
            raise CourseError(f"the gradebook has no {NOTEBOOK}.ipynb in {assignment}: run nbgrader "
                              f"generate_assignment {assignment}") from error
        parts = [cell.name[len(PART_PREFIX):] for cell in notebook.grade_cells
                 if cell.name.startswith(PART_PREFIX)]
        parts = [part for part in PARTS if part in parts]
        for student in sorted(gradebook.students, key=lambda s: s.id):
            try:
                gradebook.find_submission(assignment, student.id)
            except MissingEntry:
                continue
            name = " ".join(filter(None, [student.first_name, student.last_name]))
            record = _record(course, assignment, student.id, name)
            record.sid, record.email = student.id, student.email or ""
            records.append(record)
            scores[student.id] = {}
            for part in parts:
                grade = gradebook.find_grade(f"{PART_PREFIX}{part}", NOTEBOOK, assignment, student.id)
                scores[student.id][part] = (grade.score, grade.max_score)
    # nbgrader's gradebook holds the scores (a TA's manual grade included), the records the rest
    write_text_atomic(out / "grades.csv", grades_csv(records, parts, scores))
    if exports:
        # The LMS files carry the totals of nbgrader's gradebook, a TA's manual grades included.
        write_exports(out, records, list(exports), lms_column or assignment, scores)
    for record in records:
        write_text_atomic(out / "feedback" / f"{record.student}.md", feedback_markdown(record))
        write_text_atomic(out / "feedback" / f"{record.student}.html", feedback_html(record))
    title = f"nngrade: {course.name} / {assignment}"
    write_text_atomic(out / "summary.html",
                      summary_html(records, title=title, layout="nbgrader", parts=parts))
    return out


