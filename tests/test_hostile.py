"""Hostile submissions are contained: each gets exactly what its honest part earns, the batch
completes, nothing outside the sandbox changes and no secret reaches any output."""
import hashlib
import json
import os
import re
from pathlib import Path

import pytest
from conftest import (REPOSITORY, TORCH_PARTS, WORKED_SOLUTION, grade_file, numpy_parts,
                      patched_solution, rubric_scores, score_differences, scores_by_test)
from hostile import ATTACKS, BACKWARD_BUG, BACKWARD_BUG_ZEROES, DECOY, SECRETS, Attack

from grader.isolation import sandbox
from grader.rubric import DEFAULT_PARTS, RUBRIC

MODE = sandbox.choose_mode().name
ISOLATED = MODE == "bubblewrap" or (MODE == "unprivileged-user" and os.geteuid() == 0)
HOSTILE_OPTIONS = ("--call-timeout", "4", "--load-timeout", "20")
WATCHED = ("grader", "reference", "template", "solution.py", "pyproject.toml", "README.md")


def build(attack: Attack, folder: Path) -> Path:
    """The worked solution (with the attack's bug) plus the attack's code."""
    path = patched_solution(folder, attack.bug) if attack.bug else folder / "solution.py"
    text = path.read_text() if attack.bug else WORKED_SOLUTION.read_text()
    if attack.prelude:
        anchor = "import numpy as np\n"
        text = text.replace(anchor, anchor + attack.prelude, 1)
    for method, code in attack.methods.items():
        match = re.search(rf"^    def {method}\(self.*?\):\n", text, flags=re.MULTILINE | re.DOTALL)
        assert match, method
        body = "".join("        " + line + "\n" for line in code.rstrip("\n").split("\n"))
        text = text[:match.end()] + body + text[match.end():]
    path.write_text(text)
    compile(text, str(path), "exec")  # the attack itself must be valid Python
    return path


def graded_parts(attack: Attack) -> tuple:
    """The rubric parts an attack is graded on (``Attack.graded``)."""
    return {"numpy": numpy_parts(), "torch": TORCH_PARTS, "all": tuple(DEFAULT_PARTS)}[attack.graded]


def graded_rows(attack: Attack) -> set:
    return {row.test for row in RUBRIC if row.part in graded_parts(attack)}


def parts_option(attack: Attack) -> tuple:
    return () if attack.graded == "all" else ("--parts", ",".join(graded_parts(attack)))


def test_attacks_name_rows_they_are_graded_on():
    """An attack's expected zeros lie in the parts it is graded on: otherwise its test would
    check nothing about them."""
    for attack in ATTACKS:
        named = set(attack.zero) | set(attack.partial)
        assert named <= graded_rows(attack), (attack.name, named - graded_rows(attack))


def snapshot() -> dict:
    digests = {}
    for name in WATCHED:
        root = REPOSITORY / name
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file()
                                                      and "__pycache__" not in p.parts)
        for path in files:
            digests[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


@pytest.fixture(scope="session")
def twin_scores(tmp_path_factory):
    """Per-test scores of the twin attacks' bug without any attack. The twin must first earn
    what its bug deserves: two gradings that cannot start a worker would agree on 0 too."""
    folder = tmp_path_factory.mktemp("twin")
    twin = build(Attack("twin", "", bug=BACKWARD_BUG), folder)
    _, output, data = grade_file(twin, folder / "results.json", *HOSTILE_OPTIONS)
    assert data is not None, output
    scores, expected = scores_by_test(data), rubric_scores(BACKWARD_BUG_ZEROES)
    assert scores == expected, (
        "the twin (the worked solution with BACKWARD_BUG, no attack) did not earn what its bug "
        f"deserves:\n{score_differences(scores, expected)}\n{output[-3000:]}")
    return scores


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_attack_is_contained(attack, tmp_path, request):
    if attack.needs_isolation and not ISOLATED and os.environ.get("CI"):
        pytest.fail(f"CI must run the whole hostile suite, but the sandbox here is {MODE}: "
                    "install bubblewrap (.ci/run does)")
    if attack.needs_isolation and not ISOLATED:
        pytest.skip(f"{attack.what}: only contained with bubblewrap or a private user id "
                    f"(this machine: {MODE})")
    decoy = Path(DECOY)
    decoy.parent.mkdir(exist_ok=True)
    decoy.write_text("precious")
    os.chmod(decoy, 0o644)
    before = snapshot()
    submission = build(attack, tmp_path)
    environment = {**os.environ, **SECRETS}
    code, output, data = grade_file(submission, tmp_path / "results.json", *HOSTILE_OPTIONS,
                                    *parts_option(attack), env=environment)
    try:
        assert data is not None, f"the batch did not complete:\n{output[-3000:]}"
        assert code in (0, 1), output[-3000:]
        scores = scores_by_test(data)
        rows = graded_rows(attack)
        assert set(scores) == rows, "results.json lacks rubric rows, or has others"
        if attack.twin:
            assert attack.bug == BACKWARD_BUG, "a twin attack carries the twin's bug"
            twin_scores = {test: score for test, score in request.getfixturevalue("twin_scores").items()
                           if test in rows}
            assert scores == twin_scores, (
                f"the attack changed scores:\n{score_differences(scores, twin_scores)}")
        elif attack.all_zero:
            expected = {test: score for test, score in rubric_scores(every_test_zero=True).items()
                        if test in rows}
            assert scores == expected, f"{score_differences(scores, expected)}\n{output[-3000:]}"
        else:
            for test, (score, maximum) in scores.items():
                if test in attack.zero:
                    assert score == 0, (test, output[-3000:])
                elif test in attack.partial:
                    assert 0 <= score < maximum, (test, output[-3000:])
                else:
                    assert score == maximum, (test, score, maximum, output[-4000:])
        everything = output + json.dumps(data)
        for secret in SECRETS.values():
            assert secret not in everything, f"secret {secret} leaked"
        if attack.says:
            assert attack.says in output, output[-3000:]
        assert len(output) < 1_000_000, "the submission's output flooded the grader's"
        assert decoy.read_text() == "precious" and (decoy.stat().st_mode & 0o777) == 0o644
        assert snapshot() == before, "files outside the sandbox changed"
        for planted in ("results.json", "conftest.py", "grader/pwned.py", "grader/pwned_conftest.py"):
            assert not (REPOSITORY / planted).exists(), planted
        assert data["extra_data"]["nngrade"]["sandbox"]["mode"] == MODE
    finally:
        for planted in ("results.json", "conftest.py", "grader/pwned.py", "grader/pwned_conftest.py"):
            (REPOSITORY / planted).unlink(missing_ok=True)
