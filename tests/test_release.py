"""The student handout: template, public grader, README; no answers, no hidden tests."""
import os
import stat
import subprocess
import sys

import pytest
from conftest import REPOSITORY, TEMPLATE, WORKED_SOLUTION, patched_solution

from grader.authoring.release import ReleaseError, check_handout, release
from grader.rubric import DEFAULT_RUBRIC


@pytest.fixture(scope="module")
def handout(tmp_path_factory):
    target = tmp_path_factory.mktemp("release") / "handout"
    process = subprocess.run([sys.executable, "-m", "grader", "release", str(target)],
                             cwd=REPOSITORY, capture_output=True, text=True, timeout=120)
    assert process.returncode == 0, process.stderr
    return target


def test_handout_folder_is_shared_and_says_how_to_install_torch_for_the_cpu(handout):
    """The handout is a folder for others to read (it was 0700, mkdtemp's private mode), and its
    README installs torch's CPU-only build first (PyPI's default pulls several GB of CUDA)."""
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(handout.stat().st_mode) == 0o777 & ~umask
    readme = (handout / "README.md").read_text()
    cpu = readme.index("--index-url https://download.pytorch.org/whl/cpu")
    assert cpu < readme.index("pip install -r requirements.txt")


def test_handout_holds_the_template_and_no_answers(handout):
    assert (handout / "solution.py").read_text() == TEMPLATE.read_text()
    assert (handout / "README.md").is_file() and (handout / "requirements.txt").is_file()
    assert (handout / "grader" / "conftest.py").is_file()
    assert not (handout / "grader" / "hidden").exists()
    worked = WORKED_SOLUTION.read_text()
    for path in handout.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert text != worked
            marker_lines = [line for line in text.splitlines()
                            if line.strip().startswith(("# BEGIN SOLUTION", "# END SOLUTION"))]
            assert not marker_lines and "test_hidden_" not in text, path
    check_handout(handout, WORKED_SOLUTION)  # the release's own guard agrees


def test_handout_grader_runs_on_its_own(handout):
    visible_points = sum(row.points for row in DEFAULT_RUBRIC if not row.hidden)
    template = subprocess.run([sys.executable, "-m", "pytest", "grader", "-q",
                               "-p", "no:cacheprovider"],
                              cwd=handout, capture_output=True, text=True, timeout=300)
    assert template.returncode == 1
    assert f"0.00 / {visible_points:g}" in template.stdout, template.stdout
    worked = subprocess.run([sys.executable, "-m", "pytest", "grader", "-q", "-p",
                             "no:cacheprovider", "--submission", str(WORKED_SOLUTION)],
                            cwd=handout, capture_output=True, text=True, timeout=300)
    assert worked.returncode == 0, worked.stdout
    assert f"{visible_points:.2f} / {visible_points:g}" in worked.stdout


def test_handout_holds_no_reference_that_is_an_answer(handout):
    """Seen: the handout copied reference/optim.py's RMSPropNesterov, the very update the student
    must write, and reference/mlp.py's hand-written initializer, update, train loop and central
    differences. The handout keeps the hand-written rules' outputs on the public cases, not the
    rules; the rest of reference/ is torch."""
    for module in ("rmsprop_nesterov", "finite_differences"):
        assert not (handout / "reference" / f"{module}.py").exists()
    assert (handout / "reference" / "public_outputs.json").is_file()
    mlp_source = (handout / "reference" / "mlp.py").read_text()
    for torch_form in ("torch.optim.SGD", "torch.nn.init.xavier_uniform_", "DataLoader"):
        assert torch_form in mlp_source
    for path in handout.rglob("*.py"):
        if path != handout / "solution.py":
            text = path.read_text()
            assert "class RMSPropNesterov" not in text, path
            # the perturbation scheme of central differences, and any numpy random draw
            assert "2.0 * epsilon" not in text and "RandomState" not in text, path
    # The handout's references cannot run the rules on inputs of their own: they know the
    # public cases only.
    probe = ("import numpy as np\nfrom reference import mlp, optim\n"
             "try:\n    optim.trajectory('RMSPropNesterov', {'lr': 0.1}, {'w': np.ones(2)},"
             " [{'dw': np.ones(2)}])\nexcept LookupError as error:\n    print('no rule:', error)\n"
             "w = {'W1': np.ones((2, 2)), 'b1': np.zeros((1, 2))}\n"
             "try:\n    mlp.central_differences(w, np.ones((1, 2)), np.eye(2)[:1], 'relu', 1e-3, 1,"
             " 2, 1e-6)\nexcept LookupError as error:\n    print('no rule:', error)\n")
    process = subprocess.run([sys.executable, "-c", probe], cwd=handout, capture_output=True,
                             text=True, timeout=120)
    assert process.returncode == 0, process.stdout + process.stderr
    assert process.stdout.count("no rule: ") == 2, process.stdout + process.stderr


@pytest.mark.parametrize("part, bug, lost, cause", [
    ("optimizers", ("params[name] = param + (1 + self.momentum) * new_velocity - self.momentum * velocity",
                    "params[name] = param + new_velocity"),
     "test_optimizer[RMSPropNesterov] (0 / 3)", "moved by v' only"),
    ("finite_difference", ("(loss_plus - loss_minus) / (2 * epsilon)", "(loss_plus - loss_minus) / epsilon"),
     "test_finite_difference_values (0 / ", "divided by epsilon instead of 2 * epsilon"),
])
def test_handout_grades_a_withheld_rule_and_names_the_likely_cause(handout, tmp_path, part, bug,
                                                                   lost, cause):
    """The public tests of the withheld rules work in the handout from the recorded outputs, the
    known wrong variants included."""
    buggy = patched_solution(tmp_path, [bug])
    process = subprocess.run([sys.executable, "-m", "pytest", "grader", "-q", "-p", "no:cacheprovider",
                              "--submission", str(buggy), "--parts", part],
                             cwd=handout, capture_output=True, text=True, timeout=300)
    assert process.returncode == 1, process.stdout + process.stderr
    assert lost in process.stdout and cause in process.stdout, process.stdout
    assert "GRADER ERROR" not in process.stdout


def test_release_refuses_an_existing_folder_and_guards_leaks(tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(ReleaseError, match="already exists"):
        release(tmp_path / "taken")
    leaky = tmp_path / "leaky"
    leaky.mkdir()
    (leaky / "solution.py").write_text(WORKED_SOLUTION.read_text())
    with pytest.raises(ReleaseError):
        check_handout(leaky, WORKED_SOLUTION)
    answer = tmp_path / "answer"
    (answer / "reference").mkdir(parents=True)
    (answer / "reference" / "rmsprop_nesterov.py").write_text("# the rule\n")
    with pytest.raises(ReleaseError, match="answer"):
        check_handout(answer, WORKED_SOLUTION)


def test_check_handout_names_the_leak(tmp_path):
    worked = WORKED_SOLUTION.read_text()
    renamed = tmp_path / "renamed"
    (renamed / "notes").mkdir(parents=True)
    (renamed / "notes" / "hint.txt").write_text(worked)
    with pytest.raises(ReleaseError, match="the worked solution: .*hint.txt"):
        check_handout(renamed, WORKED_SOLUTION)
    region = tmp_path / "region"
    region.mkdir()
    (region / "helper.py").write_text("x = 1\n# BEGIN SOLUTION softmax\ny = 2\n# END SOLUTION\n")
    with pytest.raises(ReleaseError, match="a solution region: .*helper.py"):
        check_handout(region, WORKED_SOLUTION)
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "helper.py").write_text("x = 1\n")
    check_handout(clean, WORKED_SOLUTION)
