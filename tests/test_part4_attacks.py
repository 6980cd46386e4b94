"""The attacks of issue #12 on Part 4 (tests/part4_attacks.py): each, graded on the parts it
reaches, earns no more than its honest part, row by row and in total."""
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPOSITORY, WORKED_SOLUTION, grade_file, scores_by_test
from part4_attacks import ATTACKS, FILLERS, PART_4_HEADER, Part4Attack

from grader.rubric import RUBRIC

HOSTILE_OPTIONS = ("--call-timeout", "4", "--load-timeout", "20")
"""As in tests/test_hostile.py: an attack that stalls a call must not stall the suite."""


def build(attack: Part4Attack, folder: Path) -> Path:
    """solution.py: Parts 1-3 of the worked solution, then the attack's Part 4."""
    fill = {key: make() for key, make in FILLERS.items() if "{" + key + "}" in attack.header_code}
    worked = WORKED_SOLUTION.read_text()
    text = worked[:worked.index(PART_4_HEADER)] + attack.part_4(**fill)
    compile(text, "solution.py", "exec")   # the attack itself must be valid Python
    path = folder / "solution.py"
    path.write_text(text)
    return path


def test_attacks_cap_rows_they_are_graded_on():
    """Every capped row lies in a part the attack is graded on, below that row's points: a cap
    elsewhere would check nothing."""
    points = {row.test: (row.part, row.points) for row in RUBRIC}
    for attack in ATTACKS:
        for test, cap in attack.honest.items():
            part, full = points[test]
            assert part in attack.parts and 0 <= cap < full, (attack.name, test)


IMPORT_EACH = """
import importlib.util, sys
for path in sys.argv[1:]:
    spec = importlib.util.spec_from_file_location("solution", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["solution"] = module
    spec.loader.exec_module(module)
    assert callable(module.write_kaggle_submission), path
    print("imported", path)
"""


def test_attack_files_import(tmp_path):
    """Each attack imports outside the grader (in a child process: some rename torch's classes):
    an attack that no longer loads would earn 0 and pass its grading test for nothing."""
    paths = []
    for attack in ATTACKS:
        (tmp_path / attack.name).mkdir()
        paths.append(str(build(attack, tmp_path / attack.name)))
    process = subprocess.run([sys.executable, "-c", IMPORT_EACH, *paths], cwd=REPOSITORY,
                             capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stdout + process.stderr
    assert process.stdout.count("imported") == len(ATTACKS), process.stdout


@pytest.mark.parametrize("attack", ATTACKS, ids=[attack.name for attack in ATTACKS])
def test_attack_earns_no_more_than_its_honest_score(tmp_path, attack):
    submission = build(attack, tmp_path)
    _, output, data = grade_file(submission, tmp_path / "results.json", *HOSTILE_OPTIONS,
                                 "--parts", ",".join(attack.parts))
    assert data is not None, output
    scores = scores_by_test(data)
    graded = {row.test for row in RUBRIC if row.part in attack.parts}
    assert set(scores) == graded, output
    honest = {test: attack.honest.get(test, possible) for test, (_, possible) in scores.items()}
    over = {test: f"{earned:g} > {honest[test]:g}" for test, (earned, _) in scores.items()
            if earned > honest[test] + 1e-9}
    assert not over, (f"{attack.name} ({attack.what}) earns more than its honest part: "
                      f"{over}\n{output}")
    assert data["score"] <= sum(honest.values()) + 1e-9, output
