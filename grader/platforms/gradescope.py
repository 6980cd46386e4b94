"""Build Gradescope's autograder zip: ``python -m grader gradescope OUT.zip [--timeout S]``.

Gradescope's specification (https://gradescope-autograders.readthedocs.io/en/latest/specs/) wants
``setup.sh`` and ``run_autograder`` at the zip's root and unpacks the whole zip in
``/autograder/source``. The zip holds:

- ``setup.sh`` and ``run_autograder`` (``gradescope_files/``; setup.sh with the torch and
  torchvision versions of the building machine written in, run_autograder with the
  assignment's timeout), both executable;
- ``requirements.txt``: what grading needs, the handout's own list (``release.REQUIREMENTS``);
- ``grader/`` with the hidden tests and ``reference/`` with the withheld rules: Gradescope grades
  with everything the instructor's repository grades with.

It holds no worked solution, no template and none of the project's tests; ``check_autograder``
proves it on the staged folder before anything is zipped. The zip is written beside OUT and moved
into place at the end, so an interrupted build leaves no half zip.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path

from grader.authoring.release import REPOSITORY, REQUIREMENTS, ReleaseError, answer_in

FILES = Path(__file__).resolve().parent / "gradescope_files"
SCRIPTS = ("setup.sh", "run_autograder")
PACKAGES = ("grader", "reference")
"""The folders of the repository the autograder runs (as they are, hidden tests included)."""

TIMEOUT_S = 600.0
"""Gradescope's default timeout; an assignment set to another one is built with ``--timeout``."""
MAX_TIMEOUT_S = 2400.0
"""Gradescope's largest timeout (40 minutes)."""
_TIMEOUT_MARK = "@TIMEOUT@"
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")


class BuildError(ReleaseError):
    """The zip could not be built, or would hold the worked solution."""


def check_autograder(folder: Path, worked_solution: Path) -> None:
    """Raise BuildError if ``folder`` holds the worked solution (under any name), a solution
    region, a ``solution.py`` or the project's tests, or lacks a script at its root."""
    folder = Path(folder)
    worked_text = Path(worked_solution).read_text()
    for name in SCRIPTS:
        if not os.access(folder / name, os.X_OK):
            raise BuildError(f"{name} is not an executable file at the root of the autograder")
    if (folder / "tests").exists():
        raise BuildError("the project's tests are in the autograder")
    for path in folder.rglob("*"):
        if path.name.lower() == "solution.py":
            raise BuildError(f"a solution.py is in the autograder: {path}")
    leak = answer_in(folder, worked_text, (".py", ".md", ".txt", ".ipynb", ".json", ""))
    if leak:
        raise BuildError(f"{leak} is in the autograder")


def torch_versions() -> dict[str, str]:
    """The torch and torchvision this grader runs with, as release numbers (``2.14.1``, without
    a local build tag such as ``+cu130``): what setup.sh pins on Gradescope."""
    import torch
    import torchvision

    versions = {"@TORCH@": torch.__version__.split("+")[0],
                "@TORCHVISION@": torchvision.__version__.split("+")[0]}
    for mark, version in versions.items():
        if not re.fullmatch(r"\d+\.\d+(\.\d+)?", version):
            raise BuildError(f"this machine's {mark.strip('@').lower()} is {version}, a build "
                             "that PyTorch's CPU index does not publish: build the zip where a "
                             "released torch is installed")
    return versions


def _filled(name: str, text: str, marks: dict[str, str]) -> str:
    for mark, value in marks.items():
        if text.count(mark) != 1:
            raise BuildError(f"{FILES / name} must hold {mark} once")
        text = text.replace(mark, value)
    return text


def stage(folder: Path, timeout_s: float) -> None:
    """Write the autograder's files into the empty ``folder``."""
    for package in PACKAGES:
        shutil.copytree(REPOSITORY / package, folder / package, ignore=_IGNORED)
    (folder / "requirements.txt").write_text(REQUIREMENTS)
    marks = {"run_autograder": {_TIMEOUT_MARK: f"{timeout_s:g}"}, "setup.sh": torch_versions()}
    for name in SCRIPTS:
        text = _filled(name, (FILES / name).read_text(), marks[name])
        (folder / name).write_text(text)
        (folder / name).chmod(0o755)


def write_zip(folder: Path, target: Path) -> None:
    """Zip ``folder``'s files at the archive's root, in a fixed order, keeping the scripts'
    executable bit (Gradescope copies run_autograder and runs it as it is)."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            name = path.relative_to(folder).as_posix()
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            mode = 0o755 if name in SCRIPTS else 0o644
            info.external_attr = (0o100000 | mode) << 16   # a regular file with these permissions
            archive.writestr(info, path.read_bytes())


def build(out: Path, *, timeout_s: float = TIMEOUT_S, force: bool = False,
          worked_solution: Path = REPOSITORY / "solution.py") -> Path:
    """Write the autograder zip to ``out`` (which must not exist unless ``force``); return it.
    ``timeout_s``: the assignment's timeout on Gradescope (the grading stops a little before)."""
    out = Path(out).resolve()
    if out.suffix.lower() != ".zip":
        raise BuildError(f"{out} does not end in .zip (Gradescope takes a zip)")
    if out.exists() and not force:
        raise BuildError(f"{out} already exists; choose another name or pass --force")
    if not 60 <= timeout_s <= MAX_TIMEOUT_S:
        raise BuildError(f"--timeout {timeout_s:g}: Gradescope's timeouts go from 60 to "
                         f"{MAX_TIMEOUT_S:g} s (default {TIMEOUT_S:g})")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.stem}-", dir=out.parent) as scratch:
        folder = Path(scratch) / "autograder"
        folder.mkdir()
        stage(folder, timeout_s)
        check_autograder(folder, worked_solution)
        partial = Path(scratch) / out.name
        write_zip(folder, partial)
        os.replace(partial, out)
    return out


def unpack(archive: Path, root: Path) -> None:
    """Lay ``archive`` out as Gradescope does: unpacked in ``root/source``, ``run_autograder``
    copied to ``root``, empty ``submission/`` and ``results/``; each file keeps the permissions
    the zip gives it. A member that would land outside ``root/source`` is refused."""
    source = (Path(root) / "source").resolve()
    with zipfile.ZipFile(archive) as opened:
        for info in opened.infolist():
            target = (source / info.filename).resolve()
            if source not in target.parents:
                raise BuildError(f"{archive}: {info.filename} would land outside the autograder")
            path = Path(opened.extract(info, source))
            mode = (info.external_attr >> 16) & 0o777
            if mode:   # a zip made without Unix modes (Windows, Finder) keeps extract's
                path.chmod(mode | 0o600)
    (root / "run_autograder").write_bytes((source / "run_autograder").read_bytes())
    (root / "run_autograder").chmod(0o755)
    (root / "submission").mkdir()
    (root / "results").mkdir()


def run_locally(archive: Path, submission: Path, root: Path, *, parts=(), timeout_s=None,
                python: str | None = None, wall_s: float | None = None):
    """What Gradescope does with ``archive`` for one submission, on this machine: unpack it under
    ``root`` (an empty folder), copy ``submission`` (a file, under its own name, or a folder's
    contents) into ``root/submission``, run ``run_autograder`` with ``root`` in place of
    ``/autograder`` (``gradescope_run.ROOT_VARIABLE``) and this Python, and read
    ``results/results.json``. ``parts``: only those (``NNGRADE_PARTS``); ``timeout_s``: another
    timeout than the zip's. Returns (the completed process, results.json as a dict)."""
    import json
    import subprocess
    import sys

    from grader.platforms import gradescope_run

    root = Path(root)
    unpack(archive, root)
    submission = Path(submission)
    if submission.is_dir():
        shutil.copytree(submission, root / "submission", dirs_exist_ok=True, symlinks=True)
    else:
        shutil.copy2(submission, root / "submission" / submission.name)
    environment = {**os.environ, gradescope_run.ROOT_VARIABLE: str(root),
                   "NNGRADE_PYTHON": python or sys.executable}
    if parts:
        environment[gradescope_run.PARTS_VARIABLE] = ",".join(parts)
    if timeout_s is not None:
        environment[gradescope_run.TIMEOUT_VARIABLE] = str(timeout_s)
    process = subprocess.run([str(root / "run_autograder")], cwd=root, env=environment,
                             capture_output=True, text=True, timeout=wall_s)
    return process, json.loads((root / "results" / "results.json").read_text())


def student_view(results: dict) -> str:
    """What a student sees of ``results`` on Gradescope before grades are published: the score
    (Gradescope may show it), the top-level output, and each visible test with its score."""
    lines = []
    if "score" in results:
        maximum = results.get("max_score")
        lines.append(f"score: {results['score']:g}" + (f" / {maximum:g}" if maximum else ""))
    else:
        lines.append("score: none (the run says why)")
    lines += ["", str(results.get("output", "")).rstrip(), ""]
    hidden = 0
    for test in results.get("tests", []):
        if test.get("visibility", "visible") != "visible":
            hidden += 1
            continue
        lines.append(f"{test.get('score', 0):g} / {test.get('max_score', 0):g}  {test.get('name', '')}")
    if hidden:
        lines.append(f"({hidden} hidden test{'s' * (hidden != 1)}, shown when grades are published)")
    return "\n".join(lines)
