"""Shared helpers of the project's own tests: grade a file the way a user would."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent
WORKED_SOLUTION = REPOSITORY / "solution.py"
TEMPLATE = REPOSITORY / "template" / "solution.py"

TORCH_PARTS = ("batchnorm2d", "mnist_cnn", "cats_dogs_cnn", "kaggle_submission")
"""Part 4, PyTorch; the numpy parts (1-3) share no code with it."""


def numpy_parts() -> tuple:
    """The rubric's numpy parts (Parts 1-3), in rubric order."""
    from grader.rubric import DEFAULT_PARTS
    return tuple(part for part in DEFAULT_PARTS if part not in TORCH_PARTS)


def grade_file(path: Path, results: Path, *extra: str, timeout: float = 600, env=None):
    """Run ``python -m grader grade PATH --results-json RESULTS``; return (exit code, output, results)."""
    process = subprocess.run(
        [sys.executable, "-m", "grader", "grade", str(path), "--results-json", str(results), *extra],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=timeout, env=env)
    data = json.loads(results.read_text()) if results.is_file() else None
    return process.returncode, process.stdout + process.stderr, data


def scores_by_test(data: dict) -> dict:
    """``{test name: (score, max_score)}`` from a results.json."""
    return {t["extra_data"]["test"]: (t["score"], t["max_score"]) for t in data["tests"]}


def part_scores(data: dict) -> dict:
    """``{part: (score, max_score)}`` from a results.json."""
    return {part: (v["score"], v["max_score"]) for part, v in data["extra_data"]["nngrade"]["parts"].items()}


def rubric_scores(zero=(), every_test_zero: bool = False) -> dict:
    """``{test: (score, max_score)}`` of a file whose tests in ``zero`` (or every test) score 0
    and all others full marks, for every rubric row. Built from the rubric alone: a test that
    compares gradings first compares one with this, since two broken gradings agree on 0."""
    from grader.rubric import DEFAULT_PARTS, RUBRIC

    return {row.test: (0 if every_test_zero or row.test in zero else row.points, row.points)
            for row in RUBRIC if row.part in DEFAULT_PARTS}


def score_differences(got: dict, expected: dict, limit: int = 12) -> str:
    """The tests whose ``(score, max_score)`` differ between two ``scores_by_test`` dicts, for a
    failure message: ``test: got (s, m), expected (s, m)``, at most ``limit`` lines."""
    tests = sorted(set(got) | set(expected))
    lines = [f"{test}: got {got.get(test)}, expected {expected.get(test)}" for test in tests
             if got.get(test) != expected.get(test)]
    more = f"\n... and {len(lines) - limit} more" if len(lines) > limit else ""
    return "\n".join(lines[:limit]) + more


def patched_solution(tmp_path: Path, replacements, name: str = "solution.py") -> Path:
    """A copy of the worked solution with each ``(old, new)`` replaced exactly once."""
    text = WORKED_SOLUTION.read_text()
    for old, new in replacements:
        count = text.count(old)
        if count != 1:
            raise AssertionError(f"{old!r} occurs {count} times in solution.py, expected once")
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture(scope="session")
def worked_results(tmp_path_factory):
    results = tmp_path_factory.mktemp("worked") / "results.json"
    code, output, data = grade_file(WORKED_SOLUTION, results)
    return code, output, data


@pytest.fixture
def runner():
    """The grader's metered child (``grader/networks/metered.py``), closed after the test."""
    from grader.networks import metered

    runner = metered.Runner()
    yield runner
    runner.close()
