"""Write the student handout: the template, the public grader, the report builder and a README.

The handout is built from an allow-list (``HANDOUT_FOLDERS``) of what a student needs: to grade
themselves (``pytest grader``) and to build their report (``python -m report``). The TA's and
instructor's tools (``grader/batch``, ``grader/platforms``, ``grader/authoring``) and the hidden
tests are not on it, so a new folder ships only once it is added there.

The handout never holds the worked solution, the hidden tests or code that computes a numpy
part's answer; ``check_handout`` checks the first two after every release, and
``tests/test_release.py`` the last. Most references are torch (autograd, ``torch.optim``,
``torch.nn.init``, ``torch.nn.BatchNorm1d``), which a numpy answer cannot be copied from. The
hand-written rules (RMSProp with Nesterov momentum, central differences) and the numpy variants
the grader uses to name likely causes (``reference/known_mistakes.py``) are withheld
(``reference/withheld.py``): the handout leaves their modules out and ships their outputs on the
public tests' cases instead (``reference/public_outputs.json``, made here by replaying the public
tests' own case builders). The handout is built beside the target folder and moved into place at
the end, so an interrupted release leaves no half-written handout.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from grader.authoring.template import BEGIN, END, make_template
from grader.rubric import PARTS
from reference import withheld

REPOSITORY = Path(__file__).resolve().parents[2]
ANSWER_FILES = withheld.ANSWER_FILES
"""Instructor files that are answers to a part, relative to the repository."""
HANDOUT_FOLDERS = ("grader", "grader/parts", "grader/parts/experiments", "grader/verdicts",
                   "grader/networks", "grader/isolation", "grader/isolation/inside", "grader/outputs",
                   "reference", "reference/data",
                   "report", "report/studies", "report/templates")
"""What a student needs, by folder (each one's own files, not its subfolders): the public grader
(its tests, verdicts, the worker's isolation, the score table), the torch references, and the
report builder. The withheld rule modules (``ANSWER_FILES``) are left out of ``reference``; the
template, the README, the requirements and the withheld rules' outputs are written here."""
HANDOUT_SUFFIXES = (".py", ".md", ".tex")
"""The kinds of file a handout folder ships: sources, their documentation and the report's LaTeX
template (no caches, logs or data files that happen to lie in the instructor's working copy)."""
WRITTEN_FILES = ("solution.py", "README.md", "requirements.txt",
                 f"reference/{withheld.PUBLIC_OUTPUTS.name}")
"""Files the release writes rather than copies."""


def handout_sources(repository: Path = REPOSITORY) -> list[str]:
    """The files of ``repository`` that the handout copies, relative to it, sorted."""
    chosen = []
    for folder in HANDOUT_FOLDERS:
        for path in sorted((repository / folder).iterdir()):
            relative = f"{folder}/{path.name}"
            if path.is_file() and path.suffix in HANDOUT_SUFFIXES and relative not in ANSWER_FILES:
                chosen.append(relative)
    return sorted(chosen)

STUDENT_README = f"""\
# Assignment: a multilayer perceptron in numpy, then convolutional networks in PyTorch

Implement the parts of `solution.py` that raise `NotImplementedError`, then grade yourself:

    pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu
    pip install -r requirements.txt
    pytest grader

The first line installs PyTorch's CPU-only build (about 200 MB; the default build from PyPI
brings several GB of CUDA libraries, which the assignment does not need). On a machine with an
NVIDIA GPU you may install the default build instead (`pip install torch torchvision`).

Build your report with `python -m report` (it runs the studies on your `solution.py` and writes
`report/out/report.html` and `report.pdf`; `python -m report --help` lists its options, and
`report/README.md` describes the studies; the diagnostics study adds a t-SNE plot when
scikit-learn is installed).

The grader prints a score table with the points of each part ({", ".join(PARTS)}) and, for
every lost point, what differs from the reference and the likely cause.
`pytest grader --parts backward,update` grades only those parts (the CNN parts train networks
for about 20 s); `pytest grader --submission other.py` grades another file;
`python -m grader grade solution.py --results-json results.json` writes the results in
Gradescope's format.

Your code runs in a separate process with time and memory limits; each part is graded with
reference versions of the other parts, so a bug costs points in its own part only. The rules of
the Kaggle part (no library normalization, dropout or Adam-family optimizer) are checked in
your source and in the network you build. The course may grade with more (hidden) tests of the
same parts.
"""

REQUIREMENTS = ("numpy>=1.24\ntorch>=2.2\npytest>=8.0\nmlxtend>=0.22\ntorchvision>=0.17\n"
                "tqdm>=4.60\nmatplotlib>=3.5\njinja2>=3.0\n")
"""What the handout's requirements.txt asks for: grading, and the report (jinja2 writes its
LaTeX project)."""


class ReleaseError(RuntimeError):
    """The handout could not be written, or would leak the answers."""


def check_handout(folder: Path, worked_solution: Path) -> None:
    """Raise ReleaseError if ``folder`` holds solution regions, hidden tests or the worked file."""
    folder = Path(folder)
    worked_text = Path(worked_solution).read_text()
    for relative in ANSWER_FILES:
        if (folder / relative).exists():
            raise ReleaseError(f"a reference that is an answer is in the handout: {folder / relative}")
    for path in folder.rglob("*"):
        if path.is_dir() and path.name == "hidden":
            raise ReleaseError(f"hidden tests in the handout: {path}")
    leak = answer_in(folder, worked_text, (".py", ".md", ".txt", ".ipynb"))
    if leak:
        raise ReleaseError(f"{leak} is in the handout")


def answer_in(folder: Path, worked_text: str, suffixes: tuple) -> str:
    """What in ``folder`` gives the answers away, as "the worked solution: PATH" or "a solution
    region: PATH" ("" for nothing): a file with one of ``suffixes`` whose text is the worked
    solution's (under any name) or holds a solution marker line."""
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and path.suffix in suffixes:
            text = path.read_text(errors="replace")
            if text == worked_text:
                return f"the worked solution: {path}"
            if any(BEGIN.match(line) or END.match(line) for line in text.splitlines()):
                return f"a solution region: {path}"
    return ""


def public_rule_outputs() -> dict:
    """``{case key: output}`` of the withheld rules (and the known wrong variants) on the cases
    the public tests build, by replaying each test's own case builder from its ``rng``:
    every ``test_optimizer`` (RMSPropNesterov's rule, and each optimizer's numpy variants), the
    finite-difference tests that compare estimates, and the tests of backward, softmax and
    batchnorm whose diagnoses use ``reference/known_mistakes.py``."""
    from grader.parts import backward as backward_part
    from grader.parts import batchnorm as batchnorm_part
    from grader.parts import finite_difference as finite_difference_part
    from grader.parts import optimizers as optimizers_part
    from grader.parts import softmax as softmax_part
    from grader.session import rng_for
    from grader.verdicts.nn_parts import backward_case, backward_hypotheses, softmax_failure_cause
    from grader.verdicts.optimizer_patterns import variant_trajectories
    from reference import optim

    missing = [module for module in withheld.RULE_MODULES if withheld.rule(module) is None]
    if missing:
        raise ReleaseError(f"the withheld rules {missing} are not in this repository: cannot "
                           f"record their outputs")
    with withheld.recording() as table:
        for name in optim.OPTIMIZERS:
            for hyper, params, stream, _ in optimizers_part.runs(rng_for(f"test_optimizer[{name}]"),
                                                                 name):
                optim.trajectory(name, hyper, params, stream)
                variant_trajectories(name, hyper, params, stream)
        for test_name, options in finite_difference_part.PUBLIC_CASES.items():
            finite_difference_part.reference_estimates(
                finite_difference_part.make_case(rng_for(test_name), **options))
        for test_name, graded in backward_part.PUBLIC_CASES.items():
            rng = rng_for(test_name)
            for name, sizes in graded:
                weights, x, labels = backward_case(rng, sizes)
                backward_hypotheses(weights, x, labels, name, sizes.batch_size)
        for test_name, build in softmax_part.PUBLIC_INPUTS.items():
            softmax_failure_cause(build(rng_for(test_name)), None)
        for test_name, build in batchnorm_part.PUBLIC_CASES.items():
            state, steps, momentum = build(rng_for(test_name))
            batchnorm_part.variants(state, steps, momentum=momentum)
    return dict(table)


def release(target: Path, worked_solution: Path = REPOSITORY / "solution.py",
            force: bool = False) -> Path:
    """Write the handout to ``target`` (which must not exist unless ``force``)."""
    target = Path(target).resolve()
    if target.exists() and not force:
        raise ReleaseError(f"{target} already exists; choose a new folder or pass --force")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    # mkdtemp makes a private folder (0700); a handout is shared, so it gets the permissions
    # of any new folder (0777 less the umask), as its files do.
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)
    try:
        (staging / "solution.py").write_text(make_template(Path(worked_solution).read_text()))
        for relative in handout_sources():
            (staging / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPOSITORY / relative, staging / relative)
        outputs = {"what": "the withheld rules' outputs on the public tests' cases, by "
                           "reference.withheld.case_key (written by python -m grader release)",
                   "cases": public_rule_outputs()}
        (staging / "reference" / withheld.PUBLIC_OUTPUTS.name).write_text(json.dumps(outputs) + "\n")
        (staging / "README.md").write_text(STUDENT_README)
        (staging / "requirements.txt").write_text(REQUIREMENTS)
        check_handout(staging, worked_solution)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
