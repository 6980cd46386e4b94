"""The student handout: template, public grader, README; no answers, no hidden tests."""
import subprocess
import sys

import pytest
from conftest import REPOSITORY, TEMPLATE, WORKED_SOLUTION

from grader.authoring.release import ReleaseError, check_handout, release
from grader.rubric import RUBRIC


@pytest.fixture(scope="module")
def handout(tmp_path_factory):
    target = tmp_path_factory.mktemp("release") / "handout"
    process = subprocess.run([sys.executable, "-m", "grader", "release", str(target)],
                             cwd=REPOSITORY, capture_output=True, text=True, timeout=120)
    assert process.returncode == 0, process.stderr
    return target


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
    visible_points = sum(row.points for row in RUBRIC if not row.hidden)
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


def test_release_refuses_an_existing_folder_and_guards_leaks(tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(ReleaseError, match="already exists"):
        release(tmp_path / "taken")
    leaky = tmp_path / "leaky"
    leaky.mkdir()
    (leaky / "solution.py").write_text(WORKED_SOLUTION.read_text())
    with pytest.raises(ReleaseError):
        check_handout(leaky, WORKED_SOLUTION)
