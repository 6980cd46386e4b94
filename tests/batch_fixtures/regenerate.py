"""Regenerate the real grading fixtures of ``tests/test_batch_reports.py``.

Run from the repository root: ``python tests/batch_fixtures/regenerate.py`` (about a minute).
Each fixture is the result model (``grader/model.py``, ``<name>.grading.json``) that ``python -m
grader grade <file> --parts softmax,loss,backward,update --results-json <name>.json`` wrote for
the worked solution with some bugs of ``tests/bugs.py``
applied (the same patches ``tests/test_bugs.py`` applies). Four numpy parts keep the gradings
short while covering a named cause from ``_generic_patterns`` (the batch-size factor), a
shape hint ("(transposed?)"), the softmax axis and a sign flip, and two hidden tests; the
unmodified template adds the commonest "mistake" of a class, parts not implemented, and a file
with a syntax error one that could not be loaded at all (graded on ``update`` only).
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parent.parent
sys.path.insert(0, str(HERE.parent))

from bugs import BUGS  # noqa: E402  (tests/ is not a package)

PARTS = "softmax,loss,backward,update"
FIXTURES = {
    # fixture name: the bugs applied to the worked solution
    "worked": (),
    "loss_sum_dw_transposed": ("loss_sum", "backward_dw_transposed"),
    "loss_sum_softmax_axis0_ascent": ("loss_sum", "softmax_axis0", "update_ascent"),
    "softmax_unstable_backward_sum": ("softmax_unstable", "backward_sum"),
}
TEMPLATE_FIXTURE = "template"
"""The unmodified student template (every method raises NotImplementedError), graded the same way."""
SYNTAX_ERROR_FIXTURE, SYNTAX_ERROR_PARTS = "syntax_error", "update"
SYNTAX_ERROR_SOURCE = "import numpy as np\n\nclass NN:\n    def update(self, grads)\n        pass\n"
"""A file that cannot be imported (graded on one part: every test then says the same)."""


def patched(bug_names: tuple, folder: Path) -> Path:
    by_name = {bug.name: bug for bug in BUGS}
    text = (REPOSITORY / "solution.py").read_text()
    for name in bug_names:
        for old, new in by_name[name].replacements:
            assert text.count(old) == 1, (name, old)
            text = text.replace(old, new)
    path = folder / "solution.py"
    path.write_text(text)
    return path


def main() -> None:
    for fixture, bug_names in FIXTURES.items():
        with tempfile.TemporaryDirectory() as folder:
            submission = patched(bug_names, Path(folder))
            grade(submission, PARTS, HERE / f"{fixture}.json")
    grade(REPOSITORY / "template" / "solution.py", PARTS, HERE / f"{TEMPLATE_FIXTURE}.json")
    with tempfile.TemporaryDirectory() as folder:
        submission = Path(folder) / "solution.py"
        submission.write_text(SYNTAX_ERROR_SOURCE)
        grade(submission, SYNTAX_ERROR_PARTS, HERE / f"{SYNTAX_ERROR_FIXTURE}.json")


def grade(submission: Path, parts: str, target: Path) -> None:
    subprocess.run([sys.executable, "-m", "grader", "grade", str(submission), "--parts", parts,
                    "--results-json", str(target)], cwd=REPOSITORY, check=False)
    # the reports read the model; results.json is one of its renderings, not a fixture
    target.unlink(missing_ok=True)
    print(submission, "->", target.with_name(f"{target.stem}.grading.json"))


if __name__ == "__main__":
    main()
