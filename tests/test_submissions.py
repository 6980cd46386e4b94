"""Code written for the original course templates (IFT6135 H20/H21, IFT6390 A19/A20) scores what
its code deserves: each file of ``tests/submissions/`` is graded on the numpy parts and its
per-part scores are asserted. The cheaper tests below check the pieces behind those scores one
at a time: the fallback when importing a file runs script code, the template styles read from
the source, and the libraries these files import inside the sandbox.
"""
from __future__ import annotations

import textwrap

import numpy as np
import pytest
from conftest import REPOSITORY, WORKED_SOLUTION, grade_file, numpy_parts, part_scores

from grader.isolation import sandbox
from grader.isolation.worker import Limits, Session
from grader.verdicts import styles
from grader.verdicts.substitutes import CallbackLog

SUBMISSIONS = REPOSITORY / "tests" / "submissions"

NUMPY_PARTS = numpy_parts()
"""What these files are graded on: no original template has the CNN parts, and their training
runs would triple the cost."""


def mode_or_skip(name: str) -> sandbox.Mode:
    """Sandbox mode ``name``, or skip the test with the reason it cannot run here."""
    try:
        return sandbox.choose_mode(name)
    except RuntimeError as error:
        pytest.skip(f"sandbox mode {name!r} cannot run here: {error}")

NOT_IN_THE_ORIGINAL_TEMPLATES = {"optimizers": (0, 25), "batchnorm": (0, 12), "dropout": (0, 8)}
"""Part 2 and Part 3 of this project's assignment: no original template has them."""

EXPECTED = {
    # Script code at import (a data file the grader lacks, a search): graded on its definitions.
    # Only what the file lacks costs: leaky_relu (2 points, and 2 of the 9 dispatch checks) and
    # finite_difference. The constructor's hard-coded init_method is overridden (zero and normal
    # are implemented), relu'(0) = 0.5 is a valid subgradient, the handout's in-place clipping
    # and Exception("invalid") are not charged.
    "ift6135_h21_script.py": {
        "init": (12, 12), "activations": (9.5556, 12), "softmax": (9, 9), "forward": (14, 14),
        "loss": (8, 8), "backward": (23, 23), "update": (6, 6), "train_loop": (16, 16),
        "finite_difference": (0, 12)},
    # Integer labels through self.one_hot; its own compute_loss_and_accuracy crashes, which only
    # the end-to-end run of its own loop sees (1 of train_loop's points).
    "ift6390_a19_style.py": {
        "init": (12, 12), "activations": (9.5556, 12), "softmax": (9, 9), "forward": (14, 14),
        "loss": (8, 8), "backward": (23, 23), "update": (6, 6), "train_loop": (15, 16),
        "finite_difference": (0, 12)},
    # leakyrelu / 'leakyrelu', init_method 'zeros', relu'(0) = leakyrelu'(0) = 1, one_hot,
    # matplotlib and tqdm: full marks on everything the template asks for.
    "ift6390_a20_style.py": {
        "init": (12, 12), "activations": (12, 12), "softmax": (9, 9), "forward": (14, 14),
        "loss": (8, 8), "backward": (23, 23), "update": (6, 6), "train_loop": (16, 16),
        "finite_difference": (0, 12)},
    # The IFT6135 H20 layout (datapath pickle, one-hot labels, no init_method: Glorot only, so
    # the zero and normal initializers are not implemented and lose their value checks).
    "ift6135_style.py": {
        "init": (8.0953, 12), "activations": (9.5556, 12), "softmax": (9, 9), "forward": (14, 14),
        "loss": (8, 8), "backward": (23, 23), "update": (6, 6), "train_loop": (16, 16),
        "finite_difference": (0, 12)},
}


def by_test(data) -> dict:
    return {t["extra_data"]["test"]: t for t in data["tests"]}


def script_code_is_skipped_and_the_student_told_where(output, data):
    warning = data["extra_data"]["nngrade"]["load_warning"]
    for words in ("line 189", "mnist = load_mnist()", "FileNotFoundError", "mnist.pkl.gz",
                  'if __name__ == "__main__":', "lines 189, 191-197, 199, 200"):
        assert words in warning, (words, warning)
    assert warning in data["output"] and "WARNING: importing solution.py failed" in output
    notes = by_test(data)["test_init_zero"]["output"]
    assert "takes no init_method argument and sets self.init_method = 'glorot'" in notes, notes


def a_loop_whose_own_parts_crash_loses_the_end_to_end_point(output, data):
    end_to_end = by_test(data)["test_train_loop_end_to_end"]
    assert end_to_end["score"] == 0
    assert "compute_loss_and_accuracy" in end_to_end["output"] and "line" in end_to_end["output"]
    assert all(t["score"] == t["max_score"] for t in data["tests"]
               if t["tags"] == ["train_loop"] and t is not end_to_end)


MORE_CHECKS = {"ift6135_h21_script.py": script_code_is_skipped_and_the_student_told_where,
               "ift6390_a19_style.py": a_loop_whose_own_parts_crash_loses_the_end_to_end_point}
"""What a file's diagnosis must say, beyond its scores (each file is graded once, in one test)."""


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_original_template_files_score_what_their_code_deserves(tmp_path, name):
    code, output, data = grade_file(SUBMISSIONS / name, tmp_path / "results.json", "--parts",
                                    ",".join(NUMPY_PARTS))
    assert data is not None, output
    expected = {**EXPECTED[name], **NOT_IN_THE_ORIGINAL_TEMPLATES}
    scores = {part: (round(earned, 4), possible) for part, (earned, possible) in part_scores(data).items()}
    differences = {part: (scores.get(part), expected[part]) for part in expected
                   if scores.get(part) != expected[part]}
    assert not differences, f"{name}: (got, expected) {differences}\n{output}"
    assert "GRADER ERROR" not in output and "could not be loaded" not in output, output
    if name in MORE_CHECKS:
        MORE_CHECKS[name](output, data)


# -- the import fallback, in the worker alone -------------------------------------------------------

def session_for(tmp_path, source, mode=None) -> Session:
    path = tmp_path / "solution.py"
    path.write_text(textwrap.dedent(source))
    return Session(path, CallbackLog(), Limits(call_timeout_s=10.0, load_timeout_s=30.0),
                   mode=mode_or_skip(mode) if mode else None)


def test_the_fallback_runs_definitions_only_and_never_the_script_again(tmp_path):
    session = session_for(tmp_path, """\
        import numpy as np
        RUNS = []
        SIZES = (3, 4)
        try:
            from tqdm import tqdm
        except ImportError:
            tqdm = lambda x: x

        class NN:
            def runs(self):
                return len(RUNS), SIZES

        RUNS.append("script")
        weights = np.load("weights.npy")
        """)
    try:
        outcome = session.call("runs")
        assert outcome.ok, outcome.failure_text()
        assert outcome.value == (0, (3, 4)), "the fallback ran a statement that is not a definition"
        assert "solution.py line 14 (`weights = np.load(\"weights.npy\")`) raised FileNotFoundError" \
            in session.load_warning, session.load_warning
        assert "lines 13, 14" in session.load_warning
    finally:
        session.close()


@pytest.mark.parametrize("source, words", [
    # Nothing is left to grade: the import's own error, as before.
    ("import numpy as np\ndata = np.load('train.npy')\n", ("FileNotFoundError", "line 2")),
    # A file that exits at import is not graded on its definitions (an exit is on purpose; the
    # hostile suite's import_sys_exit relies on it).
    ("import sys\nclass NN:\n    def relu(self, x, grad=False):\n        return x\nsys.exit(0)\n",
     ("SystemExit",)),
])
def test_when_the_definitions_cannot_stand_the_import_error_is_the_answer(tmp_path, source, words):
    session = session_for(tmp_path, source)
    try:
        outcome = session.call("relu", args=[np.zeros(2)])
        assert not outcome.ok and session.load_failure is outcome
        assert all(word in outcome.failure_text() for word in words), outcome.failure_text()
        assert session.load_warning == ""
    finally:
        session.close()


def test_a_definition_that_fails_alone_is_left_out_and_the_rest_is_graded(tmp_path):
    """An import the grader cannot satisfy, among the definitions: it is left out like the
    script code (issue 24: any exception at import falls back to what can stand), and the
    class after it is graded; the warning names both lines left out."""
    session = session_for(tmp_path, "import numpy as np\ndata = np.load('train.npy')\n"
                                    "import not_a_module_anywhere\nclass NN:\n"
                                    "    def relu(self, x, grad=False):\n"
                                    "        return np.maximum(x, 0)\n")
    try:
        outcome = session.call("relu", args=[np.array([-1.0, 2.0])])
        assert outcome.ok and np.array_equal(outcome.value, [0.0, 2.0]), outcome.failure_text()
        assert "FileNotFoundError" in session.load_warning and "lines 2, 3" in session.load_warning, \
            session.load_warning
    finally:
        session.close()


def test_a_file_not_found_at_import_shows_its_line(tmp_path):
    """A FileNotFoundError raised by the submission is shown with its traceback (only the
    grader's own "no submission at" is said bare)."""
    path = tmp_path / "solution.py"
    path.write_text("import numpy as np\n\ntrain = np.load('train.npy')\n")
    code, output, data = grade_file(path, tmp_path / "results.json", "--parts", "softmax")
    assert code == 1 and data["score"] == 0
    assert "could not be loaded" in output and 'line 3' in output and "train.npy" in output, output


@pytest.mark.parametrize("mode", sandbox.MODES)
def test_the_course_templates_imports_work_in_the_sandbox(tmp_path, mode):
    session = session_for(tmp_path, """\
        import io
        import matplotlib.pyplot as plt
        import numpy as np
        import torchvision
        from tqdm import tqdm

        class NN:
            def plot(self):
                figure = plt.figure()
                plt.plot([sum(tqdm(range(3), disable=True)), 1.0])
                buffer = io.BytesIO()
                figure.savefig(buffer, format="png")
                return len(buffer.getvalue()) > 0, hasattr(torchvision, "transforms")
        """, mode=mode)
    try:
        outcome = session.call("plot", timeout_s=60.0)
        assert outcome.ok, outcome.failure_text()
        assert outcome.value == (True, True)
    finally:
        session.close()


# -- template styles, read from the source ---------------------------------------------------------

def test_styles_are_read_from_each_templates_code():
    def style(name):
        return styles.detect((SUBMISSIONS / name).read_text())

    own = styles.detect(WORKED_SOLUTION.read_text())
    assert own == styles.Style(), own.describe()
    assert style("ift6135_h21_script.py") == styles.Style(original_template=True)
    assert style("ift6390_a19_style.py") == styles.Style(original_template=True, integer_labels=True)
    assert style("ift6390_a20_style.py") == styles.Style(
        original_template=True, integer_labels=True, method_names={"leaky_relu": "leakyrelu"},
        activation_names={"leaky_relu": "leakyrelu"}, init_names={"zero": "zeros"})


def test_a_request_is_rewritten_for_the_style_and_the_graders_copy_is_not():
    style = styles.Style(original_template=True, integer_labels=True,
                         method_names={"leaky_relu": "leakyrelu"},
                         activation_names={"leaky_relu": "leakyrelu"}, init_names={"zero": "zeros"})
    x, y = np.zeros((3, 2)), np.eye(4)[[2, 0, 3]]
    message = {"op": "call", "method": "leaky_relu", "substitute": ["relu", "leaky_relu"],
               "config": {"activation": "leaky_relu", "init_method": "zero"},
               "state": {"train": (x, y), "valid": (x, y)}, "args": []}
    adapted = style.adapt(message)
    assert adapted["method"] == "leakyrelu" and "leakyrelu" in adapted["substitute"]
    assert adapted["config"] == {"activation": "leakyrelu", "init_method": "zeros", "n_classes": 4}
    assert adapted["state"]["train"][1].tolist() == [2, 0, 3]
    assert message["state"]["train"][1] is y and y.shape == (3, 4), "the grader's copy changed"
    evaluated = style.adapt({"method": "compute_loss_and_accuracy", "args": [x, y], "config": {}})
    assert evaluated["args"][1].tolist() == [2, 0, 3]
    assert styles.Style().adapt(message) == message
