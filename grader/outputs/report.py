"""Turn per-test results into the score table and Gradescope's results.json.

Nothing here talks to the worker; it formats what the trusted process decided.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from grader.rubric import PARTS, Row

_GRADER = Path(__file__).resolve().parents[1]

SUITE_SEED = 20261123
"""Base seed of every input the tests draw (each test offsets it); recorded for reproducibility."""


@dataclass
class TestResult:
    row: Row
    fraction: float              # of row.points earned, in [0, 1]
    status: str                  # "passed" | "failed" | "error" (a fault of the grader itself)
    message: str = ""
    notes: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def score(self) -> float:
        return round(self.row.points * self.fraction, 4)


def part_totals(results: list[TestResult]) -> dict[str, tuple[float, float]]:
    """``{part: (earned, possible)}`` in the order of ``PARTS``."""
    totals = {part: [0.0, 0.0] for part in PARTS}
    for result in results:
        totals[result.row.part][0] += result.score
        totals[result.row.part][1] += result.row.points
    return {part: (round(e, 4), p) for part, (e, p) in totals.items() if p > 0}


def score_table(results: list[TestResult], submission: str, load_failure: str = "") -> str:
    """The human summary: points per part, the total, then the diagnosis of each lost point."""
    totals = part_totals(results)
    earned = sum(e for e, _ in totals.values())
    possible = sum(p for _, p in totals.values())
    width = max(len(part) for part in totals) if totals else 10
    lines = [f"nngrade score for {submission}", "",
             f"  {'part':<{width}}  {'points':>15}"]
    for part, (e, p) in totals.items():
        mark = "" if e == p else "  <-"
        lines.append(f"  {part:<{width}}  {e:>7.2f} / {p:<5g}{mark}")
    percent = 100.0 * earned / possible if possible else 0.0
    lines.append(f"  {'total':<{width}}  {earned:>7.2f} / {possible:<5g}  ({percent:.1f} %)")
    lost = [r for r in results if r.fraction < 1.0]
    if load_failure:
        lines += ["", load_failure]
    elif lost:
        lines += ["", "What lost points:"]
        for result in lost:
            lines.append(f"- [{result.row.part}] {result.row.test} ({result.score:g} / "
                         f"{result.row.points:g}): {result.row.title}")
            if result.status == "error":
                lines.append("    GRADER ERROR (not your fault; please report it):")
            for text in result.message.splitlines():
                lines.append(f"    {text}")
    notes = sorted({note for r in results for note in r.notes})
    if notes:
        lines += ["", "Notes (no points lost):"] + [f"- {note}" for note in notes]
    return "\n".join(lines)


def suite_hash() -> str:
    """SHA-256 over the grader's and the references' source files, in a fixed order."""
    digest = hashlib.sha256()
    roots = [_GRADER, _GRADER.parent / "reference"]
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root.parent)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def reproducibility() -> dict:
    import numpy
    import torch

    return {"suite_seed": SUITE_SEED, "suite_sha256": suite_hash(),
            "python": platform.python_version(), "numpy": numpy.__version__,
            "torch": torch.__version__, "platform": platform.platform()}


def results_json(results: list[TestResult], *, submission: str, seconds: float,
                 extra: dict, load_failure: str = "") -> dict:
    """Gradescope's results.json: score, tests[] (tags hold the part), and our metadata."""
    totals = part_totals(results)
    tests = []
    for number, result in enumerate(results, start=1):
        output = "not graded: the submission could not be loaded" if load_failure else result.message
        if result.notes:
            output = (output + "\n" if output else "") + "\n".join(f"note: {n}" for n in result.notes)
        tests.append({
            "name": f"{result.row.part}: {result.row.title} ({result.row.test})",
            "number": str(number),
            "score": result.score,
            "max_score": result.row.points,
            "status": "passed" if result.fraction == 1.0 else "failed",
            "output": output,
            "tags": [result.row.part],
            "visibility": "after_published" if result.row.hidden else "visible",
            "extra_data": {"test": result.row.test, "part": result.row.part,
                           "status": result.status},
        })
    return {
        "score": round(sum(e for e, _ in totals.values()), 4),
        "max_score": sum(p for _, p in totals.values()),
        "execution_time": round(seconds, 3),
        "output": score_table(results, submission, load_failure),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {"nngrade": {"status": "graded", "parts": {k: {"score": e, "max_score": p}
                                             for k, (e, p) in totals.items()}, **extra}},
    }


def could_not_grade_results(reason: str, submission: str, extra: dict) -> dict:
    """results.json for a run that graded nothing because the grader could not run here.

    It must not read as a score of 0: ``score`` is left out on purpose. Gradescope's spec makes
    ``score`` optional only when every test carries one, and here no test does, so there is no
    number to record as the student's grade (a ``"score": 0`` would be stored as one); staff
    see the top-level ``output`` and can rerun. Batch tools tell it apart by
    ``extra_data.nngrade.status == "could_not_grade"`` (a graded run says ``"graded"``) and by
    the missing ``score``. Nothing in it says the student did something wrong."""
    return {
        "output": (f"could not grade: {reason}\n\nThis is a fault of the grading environment, "
                   f"not of the submission ({Path(submission).name}); nothing was scored. "
                   "Please tell the course staff."),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [],
        "extra_data": {"nngrade": {"status": "could_not_grade", "reason": reason,
                                   "submission": submission, **extra}},
    }


def write_json_atomic(path: Path, data: dict) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as stream:
            json.dump(data, stream, indent=2, sort_keys=False)
            stream.write("\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
