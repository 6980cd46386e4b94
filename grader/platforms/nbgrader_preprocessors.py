"""nngrade's preprocessors for ``nbgrader autograde``, enabled by the ``nbgrader_config.py`` that
``python -m grader nbgrader init`` writes.

nbgrader runs a submitted notebook's cells in the kernel whose outputs become the grades, and
its documentation says it does not protect against unsafe code. Three holes matter here:

1. a student can add cells; they run before the test cells, in the same kernel (patch
   ``subprocess``, define the names the test cells use, print a fake score);
2. a student can hand in files beside the notebook. nbgrader copies them into the folder the
   kernel starts in, and that folder is first on the kernel's ``sys.path``: a ``grader/`` package
   there would replace nngrade's, and an ``ipykernel_launcher.py`` would replace the kernel itself;
3. a test cell that prints a number above its points, or anything that is not a number, is
   scored by rules that favour the student (full credit for a non-numeric value).

So, in the nbgrader process (the instructor's, which runs no student code):

- ``KeepSourceCells`` (before nbgrader's ``OverwriteCells``, which then checks the read-only
  cells against the gradebook): rebuilds the notebook from the source notebook, its cells in its
  order (a cell the student added is gone);
- ``PrepareSubmission`` (before ``Execute``): finds the file to grade as every other channel does
  (``grader.batch.layouts``), moves every other file of the student's into ``SET_ASIDE`` (a
  hidden folder whose name no import can reach), writes the file found as ``solution.py`` and
  records what it found in ``nbgrader_kernel.SUBMISSION_FILE``;
- ``RequireVerdict`` (after ``Execute``): if the kernel's grading says "could not grade" (the
  sandbox or the grader's own imports failed), or there is no grading at all, it raises, so that
  nbgrader records no score for that student and names them as failed, instead of a 0.

The student's code itself only ever runs in the isolated grader's sandbox (``nbgrader_kernel``).
"""
from __future__ import annotations

import copy
import json
import os
import secrets
import shutil
import stat
import tempfile
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import NbGraderPreprocessor

from grader.batch.layouts import NBGRADER_TIMESTAMP
from grader.batch.student_files import CANDIDATE, examine_folder
from grader.platforms.nbgrader_kernel import (PART_PREFIX, RESULTS_MIME, SOURCE_NAME, SUBMISSION_FILE,
                                              TOKEN_VARIABLE, Grading, read_grading)

SET_ASIDE = ".nngrade-set-aside"
"""The prefix of the folder where ``PrepareSubmission`` moves the files it does not grade (kept
for the staff; ``CourseDirectory.ignore`` keeps it out of the feedback)."""



QUARANTINE = ".nngrade-quarantine"
"""Beside the student's assignment folders in ``submitted/<student>/``: what ``secure_submission``
moved out of them (links, devices, pipes), which nbgrader must never copy."""


def secure_submission(folder: Path, released: Path | None) -> list[str]:
    """Make ``submitted/<student>/<assignment>`` safe for nbgrader to copy, before it does:

    - every link, device, pipe or socket in it moves to ``../QUARANTINE/<assignment>/`` (nbgrader
      copies with ``shutil.copy``, which follows links: a link to the worked solution would be
      graded, a link to a secret file would land in the feedback, a link to /dev/zero would fill
      the disk);
    - each notebook that has a released copy is replaced by it (the student's is kept as
      ``<name>.submitted``): every cell of nngrade's notebook is the instructor's, and a student's
      broken or odd notebook (not JSON, metadata nbgrader cannot read) would make nbgrader fail.

    Returns what it did, one line each. Never follows a link; never raises for one entry."""
    done = []
    folder = Path(folder)
    quarantine = folder.parent / QUARANTINE / folder.name
    for current, directories, files in os.walk(folder, topdown=True, followlinks=False):
        for name in sorted(directories + files):
            path = Path(current) / name
            try:
                mode = path.lstat().st_mode
            except OSError:
                continue
            if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
                continue
            target = quarantine / path.relative_to(folder)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
                done.append(f"moved {path.relative_to(folder)} (not a regular file) to {target}")
            except OSError:
                try:
                    os.unlink(path)
                    done.append(f"removed {path.relative_to(folder)} (not a regular file)")
                except OSError as error:
                    done.append(f"could not remove {path} ({error})")
        directories[:] = [d for d in directories if (Path(current) / d).is_dir()
                          and not (Path(current) / d).is_symlink()]
    for notebook in sorted(Path(released).glob("*.ipynb")) if released and Path(released).is_dir() else []:
        mine = folder / notebook.name
        if mine.exists() and mine.is_file() and not mine.is_symlink():
            if mine.read_bytes() == notebook.read_bytes():
                continue
            os.replace(mine, folder / f"{notebook.name}.submitted")
        elif os.path.lexists(mine):
            continue   # a folder with the notebook's name: nbgrader grades nothing there
        _copy_new(notebook, mine)
        done.append(f"{notebook.name} is the released copy")
    return done


def _copy_new(source: Path, target: Path) -> None:
    """Copy ``source`` to a new file ``target``, never through a link or over a file."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(target, flags, 0o644)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(Path(source).read_bytes())


def before_autograde(assignment=None, student=None, notebooks=(), **_) -> None:
    """nbgrader's ``Autograde.pre_convert_hook``: ``secure_submission`` on the submission folder of
    ``notebooks`` (nbgrader passes the student's notebook paths; ``assignment`` and ``student``
    are the command line's filters, ``*`` when grading everyone). The released notebooks are in
    ``<course>/release/<assignment>/`` (nbgrader's default layout). nbgrader only logs a hook's
    exception, so this one logs nothing and raises nothing it can avoid."""
    for folder in sorted({Path(notebook).parent for notebook in notebooks}):
        course, assignment_id = folder.parents[2], folder.name
        secure_submission(folder, course / "release" / assignment_id)


def sanitize_preprocessors(autograde_class) -> list:
    """nbgrader's sanitizing preprocessors (``Autograde.sanitize_preprocessors``' default, so
    that nbgrader's own stay as its version has them) with ``KeepSourceCells`` before
    ``OverwriteCells``. Before, because OverwriteCells compares each locked cell with the
    gradebook's copy, which has the hidden tests that the released notebook lacks: on a notebook
    not rebuilt yet, it warns "Attribute 'checksum' ... has changed!" for every cell of nngrade's
    (all hold hidden tests; nbgrader issue 1961), on every student. Rebuilt from the source, the
    cells are the gradebook's, and OverwriteCells finds nothing to say."""
    return _insert(autograde_class.class_traits()["sanitize_preprocessors"].default(), "OverwriteCells",
                   before=[KeepSourceCells])


def autograde_preprocessors(autograde_class) -> list:
    """nbgrader's autograding preprocessors with ``PrepareSubmission`` before ``Execute`` and
    ``RequireVerdict`` after it."""
    return _insert(autograde_class.class_traits()["autograde_preprocessors"].default(), "Execute",
                   before=[PrepareSubmission], after=[RequireVerdict])


def _insert(defaults, name: str, before=(), after=()) -> list:
    names = [getattr(item, "__name__", str(item)).rsplit(".", 1)[-1] for item in defaults]
    if name not in names:
        raise RuntimeError(f"this nbgrader has no {name} preprocessor among {names}: nngrade's "
                           "preprocessors cannot be placed; nngrade supports nbgrader 0.9")
    index = names.index(name)
    return [*defaults[:index], *before, defaults[index], *after, *defaults[index + 1:]]


def _grade_id(cell) -> str | None:
    return (cell.get("metadata", {}).get("nbgrader") or {}).get("grade_id")


def _coursedir(component):
    """The nbgrader CourseDirectory of the converter running ``component``, or None."""
    while component is not None:
        coursedir = getattr(component, "coursedir", None)
        if coursedir is not None:
            return coursedir
        component = getattr(component, "parent", None)
    return None


class NotGraded(RuntimeError):
    """nngrade could not grade a submission; nbgrader must not record a score for it."""


class KeepSourceCells(NbGraderPreprocessor):
    """Rebuild the notebook from the instructor's source notebook: its cells in its order, each
    a fresh copy (no outputs, the gradebook's checksum). A cell the student added is gone, a cell
    they deleted is back, and nothing the student put in a cell's metadata survives (a
    ``skip-execution`` tag would make nbclient skip a test cell, which nbgrader then scores as
    full marks). Of an unlocked cell (an answer the instructor asks for), only the student's
    text is kept. Raises ``NotGraded`` when the source notebook cannot be read."""

    def preprocess(self, nb, resources):
        notebook_id = resources["nbgrader"]["notebook"]
        assignment_id = resources["nbgrader"]["assignment"]
        with Gradebook(resources["nbgrader"]["db_url"]) as gradebook:
            try:
                checksums = {cell.name: cell.checksum for cell in
                             gradebook.find_notebook(notebook_id, assignment_id).source_cells}
            except MissingEntry:
                checksums = {}
        source = self._source_notebook(assignment_id, notebook_id)
        answers = {}
        for cell in nb.cells:
            grade_id = _grade_id(cell)
            if grade_id in checksums and grade_id not in answers:
                answers[grade_id] = cell.get("source", "")
        cells = []
        for cell in source.cells:
            grade_id = _grade_id(cell)
            fresh = nbformat.from_dict(copy.deepcopy(dict(cell)))
            if fresh.cell_type == "code":
                fresh.outputs, fresh.execution_count = [], None
            if grade_id is not None and grade_id in checksums:
                fresh.metadata.nbgrader["checksum"] = checksums[grade_id]
                if not fresh.metadata.nbgrader.get("locked") and isinstance(answers.get(grade_id), str):
                    fresh.source = answers[grade_id]
            cells.append(fresh)
        removed = len(nb.cells) - len(answers)
        if removed:
            self.log.warning("nngrade: removed %d cell(s) that are not in the source notebook %s",
                             removed, notebook_id)
        nb.cells = cells
        nb.metadata = nbformat.from_dict(copy.deepcopy(dict(source.metadata)))
        return nb, resources

    def _source_notebook(self, assignment_id: str, notebook_id: str):
        """The instructor's source notebook (nbgrader's CourseDirectory says where it is)."""
        coursedir = _coursedir(self)
        if coursedir is None:
            raise NotGraded("nngrade's KeepSourceCells found no nbgrader course directory")
        folder = Path(coursedir.format_path(coursedir.source_directory, ".", assignment_id))
        path = folder / f"{notebook_id}.ipynb"
        try:
            return nbformat.read(os.fspath(path), as_version=4)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise NotGraded(f"the source notebook {path} cannot be read ({error}): nothing is "
                            "graded without it") from error

class PrepareSubmission(NbGraderPreprocessor):
    """Leave in the kernel's folder only the notebooks, nbgrader's timestamp, ``solution.py`` (the
    file found to grade, under that name) and ``SUBMISSION_FILE``; move all else to ``SET_ASIDE``."""

    def preprocess(self, nb, resources):
        folder = Path(resources["metadata"]["path"]).resolve()
        kept = {entry.name for entry in folder.iterdir()
                if entry.name == NBGRADER_TIMESTAMP or (entry.suffix == ".ipynb" and entry.is_file()
                                                        and not entry.is_symlink())}
        source, problem = examine_folder(folder, ignore=kept | {SUBMISSION_FILE})
        data = None
        if source is not None:
            if source.is_symlink() or any(p.is_symlink() for p in source.relative_to(folder).parents
                                          if str(p) != "."):
                source, problem = None, (f"{source.relative_to(folder).as_posix()} is a link, not a "
                                         f"file: submit the file itself as {SOURCE_NAME}.")
            else:
                data = source.read_bytes()
        if source is None:
            problem = self._linked(resources) or problem
        shown = source.relative_to(folder).as_posix() if source is not None else None
        if shown == SOURCE_NAME:
            kept.add(SOURCE_NAME)
            data = None   # already in place
        aside = None
        for entry in sorted(folder.iterdir()):
            if entry.name in kept or entry == aside:
                continue
            if aside is None:   # a fresh name: a student's file cannot be in the way
                aside = Path(tempfile.mkdtemp(prefix=f"{SET_ASIDE}-", dir=folder))
            shutil.move(os.fspath(entry), os.fspath(aside / entry.name))
        if data is not None:
            (folder / SOURCE_NAME).write_bytes(data)
        token = secrets.token_hex(16)
        os.environ[TOKEN_VARIABLE] = token   # inherited by the kernel Execute starts next
        found = {"source": shown, "problem": problem, "token": token}
        (folder / SUBMISSION_FILE).write_text(json.dumps(found))
        return nb, resources

    def _linked(self, resources) -> str:
        """When the student's solution was a link that ``secure_submission`` moved out, the
        sentence every channel gives for a link; else ""."""
        coursedir = _coursedir(self)
        if coursedir is None:
            return ""
        student, assignment = resources["nbgrader"]["student"], resources["nbgrader"]["assignment"]
        submitted = Path(coursedir.format_path(coursedir.submitted_directory, student, assignment))
        quarantine = submitted.parent / QUARANTINE / submitted.name
        links = sorted(p.relative_to(quarantine).as_posix() for p in quarantine.rglob("*")
                       if CANDIDATE.fullmatch(p.name)) if quarantine.is_dir() else []
        if not links:
            return ""
        return f"{links[0]} is a link, not a file: submit the file itself as {SOURCE_NAME}."


class RequireVerdict(NbGraderPreprocessor):
    """Raise ``NotGraded`` unless the runner cell holds a grading whose status is graded or
    invalid (a 0 the student earned), and every part cell's one value is that grading's score of
    its part (clamped to its points): anything else means a cell did not run as nngrade wrote
    it. nbgrader then removes that student's autograded folder, records no score and lists the
    student among the failures."""

    def preprocess(self, nb, resources):
        student = resources["nbgrader"].get("student")
        grading = read_grading(nb)
        if grading is None:
            raise NotGraded(f"the runner cell of {student}'s notebook left no {RESULTS_MIME} output: "
                            "either the kernel could not import nngrade (is it installed in the "
                            "kernel's environment?) or the cell did not run")
        if grading.get("status") not in ("graded", "invalid"):
            raise NotGraded(f"nngrade could not grade {student}: {grading.get('reason')}. No score "
                            "was recorded; fix the machine and run nbgrader autograde --force for "
                            "this student.")
        verdict = Grading(grading["status"], grading.get("reason", ""), grading.get("grading"),
                          grading.get("source"))
        for cell in nb.cells:
            grade_id = _grade_id(cell) or ""
            if not grade_id.startswith(PART_PREFIX):
                continue
            part = grade_id[len(PART_PREFIX):]
            expected = verdict.points(part, float(cell.metadata["nbgrader"]["points"]))
            values = [output for output in cell.get("outputs", [])
                      if output.get("output_type") == "execute_result"]
            others = [output for output in cell.get("outputs", [])
                      if output.get("output_type") == "error"
                      or (output.get("output_type") == "stream" and output.get("name") == "stderr")]
            try:
                shown = float("".join(values[0]["data"]["text/plain"])) if len(values) == 1 else None
            except (KeyError, ValueError, TypeError):
                shown = None
            if others or shown is None or abs(shown - expected) > 1e-9:
                raise NotGraded(f"the cell of part {part} in {student}'s notebook did not give "
                                f"nngrade's score {expected:g} (it gave {shown}); no score was "
                                "recorded")
        return nb, resources
