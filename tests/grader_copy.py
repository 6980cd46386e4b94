"""Run a copy of the grader with one graded test changed, to see how the grader treats it.

The project's tests use it to make a graded test misbehave (skip, make no check, raise) without
touching the repository's grader.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import REPOSITORY


def grader_copy(tmp_path: Path, patches: dict[str, tuple[str, str]]) -> Path:
    """A copy of ``grader/`` and ``reference/`` with ``{relative path: (old, new)}`` applied
    (each ``old`` exactly once); returns the folder to run ``python -m pytest grader`` in."""
    folder = tmp_path / "suite"
    ignored = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    shutil.copytree(REPOSITORY / "grader", folder / "grader", ignore=ignored)
    shutil.copytree(REPOSITORY / "reference", folder / "reference", ignore=ignored)
    for relative, (old, new) in patches.items():
        path = folder / relative
        text = path.read_text()
        assert text.count(old) == 1, f"{old!r} is not in {relative} exactly once"
        path.write_text(text.replace(old, new))
    return folder


def run_pytest(folder: Path, submission: Path, results: Path, *extra: str, autoload=False,
               timeout: float = 600):
    """``python -m pytest grader`` in ``folder``; returns (exit code, output, results.json or None)."""
    environment = dict(os.environ)
    if not autoload:
        environment["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    process = subprocess.run(
        [sys.executable, "-m", "pytest", "grader", "-q", "-p", "no:cacheprovider",
         "--submission", str(submission), "--results-json", str(results), *extra],
        cwd=folder, capture_output=True, text=True, timeout=timeout, env=environment)
    data = json.loads(results.read_text()) if results.is_file() else None
    return process.returncode, process.stdout + process.stderr, data


def statuses(data: dict) -> dict:
    """``{test name: our status}`` from a results.json."""
    return {t["extra_data"]["test"]: t["extra_data"]["status"] for t in data["tests"]}
