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

- ``KeepSourceCells`` (after nbgrader's ``OverwriteCells``, which restores the read-only cells'
  sources): removes every cell that is not one of the source notebook's, and puts the rest back
  in the source's order;
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
import shutil
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import NbGraderPreprocessor

from grader.batch.layouts import NBGRADER_TIMESTAMP, _examine_folder
from grader.platforms.nbgrader_kernel import (RESULTS_MIME, SOURCE_NAME, SUBMISSION_FILE,
                                              read_grading)

SET_ASIDE = ".nngrade-set-aside"
"""Where ``PrepareSubmission`` moves the files it does not grade (kept for the staff to see)."""



def sanitize_preprocessors(autograde_class) -> list:
    """nbgrader's sanitizing preprocessors (``Autograde.sanitize_preprocessors``' default, so
    that nbgrader's own stay as its version has them) with ``KeepSourceCells`` after
    ``OverwriteCells``."""
    return _insert(autograde_class.class_traits()["sanitize_preprocessors"].default(), "OverwriteCells",
                   after=[KeepSourceCells])


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


class KeepSourceCells(NbGraderPreprocessor):
    """Make the notebook the source notebook's cells, in the source's order: a cell the student
    added (nbgrader's ``OverwriteCells`` has already dropped the grade id of a cell it does not
    know) is removed, the first of two cells with one id is kept, and a cell the student deleted
    is put back from the source (nbgrader's own ``add_missing_cells`` fails on an added cell that
    carries nbgrader metadata without a known id, so it is left off)."""

    def preprocess(self, nb, resources):
        notebook_id = resources["nbgrader"]["notebook"]
        assignment_id = resources["nbgrader"]["assignment"]
        with Gradebook(resources["nbgrader"]["db_url"]) as gradebook:
            try:
                checksums = {cell.name: cell.checksum for cell in
                             gradebook.find_notebook(notebook_id, assignment_id).source_cells}
            except MissingEntry:
                checksums = {}
        submitted = {}
        for cell in nb.cells:
            grade_id = _grade_id(cell)
            if grade_id in checksums and grade_id not in submitted:
                submitted[grade_id] = cell
        source = self._source_cells(assignment_id, notebook_id)
        if source is None:   # the source notebook cannot be read: keep the known cells as they are
            cells = list(submitted.values())
        else:
            cells = []
            for cell in source:
                grade_id = _grade_id(cell)
                if grade_id in submitted:
                    cells.append(submitted[grade_id])
                elif grade_id in checksums or grade_id is None:
                    restored = nbformat.from_dict(copy.deepcopy(dict(cell)))
                    if restored.cell_type == "code":
                        restored.outputs, restored.execution_count = [], None
                    if grade_id is not None:
                        restored.metadata.nbgrader["checksum"] = checksums[grade_id]
                    cells.append(restored)
        removed = len(nb.cells) - len(submitted)
        if removed:
            self.log.warning("nngrade: removed %d cell(s) that are not in the source notebook %s",
                             removed, notebook_id)
        nb.cells = cells
        return nb, resources

    def _source_cells(self, assignment_id: str, notebook_id: str) -> list | None:
        """The cells of the instructor's source notebook, or None if it cannot be read."""
        coursedir = _coursedir(self)
        if coursedir is None:
            return None
        folder = Path(coursedir.format_path(coursedir.source_directory, ".", assignment_id))
        path = folder / f"{notebook_id}.ipynb"
        try:
            return list(nbformat.read(os.fspath(path), as_version=4).cells)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None


class PrepareSubmission(NbGraderPreprocessor):
    """Leave in the kernel's folder only the notebooks, nbgrader's timestamp, ``solution.py`` (the
    file found to grade, under that name) and ``SUBMISSION_FILE``; move all else to ``SET_ASIDE``."""

    def preprocess(self, nb, resources):
        folder = Path(resources["metadata"]["path"]).resolve()
        kept = {entry.name for entry in folder.iterdir()
                if entry.name == NBGRADER_TIMESTAMP or (entry.suffix == ".ipynb" and entry.is_file()
                                                        and not entry.is_symlink())}
        source, problem = _examine_folder(folder, ignore=kept | {SET_ASIDE, SUBMISSION_FILE})
        data = None
        if source is not None:
            if source.is_symlink() or any(p.is_symlink() for p in source.relative_to(folder).parents
                                          if str(p) != "."):
                source, problem = None, (f"{source.relative_to(folder).as_posix()} is a link, not a "
                                         f"file: submit the file itself as {SOURCE_NAME}.")
            else:
                data = source.read_bytes()
        shown = source.relative_to(folder).as_posix() if source is not None else None
        if shown == SOURCE_NAME:
            kept.add(SOURCE_NAME)
            data = None   # already in place
        aside = folder / SET_ASIDE
        for entry in sorted(folder.iterdir()):
            if entry.name in kept or entry.name == SET_ASIDE:
                continue
            aside.mkdir(exist_ok=True)
            shutil.move(os.fspath(entry), os.fspath(aside / entry.name))
        if data is not None:
            (folder / SOURCE_NAME).write_bytes(data)
        (folder / SUBMISSION_FILE).write_text(json.dumps({"source": shown, "problem": problem}))
        return nb, resources


class NotGraded(RuntimeError):
    """nngrade could not grade a submission; nbgrader must not record a score for it."""


class RequireVerdict(NbGraderPreprocessor):
    """Raise ``NotGraded`` unless the runner cell holds a grading whose status is graded or
    invalid (a 0 the student earned); nbgrader then removes that student's autograded folder,
    records no score and lists the student among the failures."""

    def preprocess(self, nb, resources):
        grading = read_grading(nb)
        if grading is None:
            raise NotGraded(f"the grading notebook's runner cell left no {RESULTS_MIME} output: "
                            "the kernel could not run nngrade (is nngrade installed in the "
                            "kernel's environment?)")
        if grading.get("status") not in ("graded", "invalid"):
            raise NotGraded(f"nngrade could not grade {resources['nbgrader'].get('student')}: "
                            f"{grading.get('reason')}. No score was recorded; fix the machine "
                            "and run nbgrader autograde --force for this student.")
        return nb, resources
