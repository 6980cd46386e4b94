"""Local re-runs: a CNN part's training verdict reused when nothing that decides it has changed
(issue 26).

A student runs ``pytest grader`` dozens of times an evening, mostly after editing a numpy
method; the CNN trainings are most of a grading's time, and their verdict depends on none of
that. So the student's own ``pytest grader`` keeps the verdict of each reusable row (a part
module's ``REUSE``: the test's name -> a function giving what decides its verdict, as plain
data) and gives it again when the key is the same:

- what the row's function gives: the network's captured graph and the optimizer's
  description (asked of the worker, as the test itself does), and what the grader reads in the
  source that decides the verdict (the places that block gradients);
- the grader's own sources and the references (``report.suite_hash``: every tolerance and
  setting of the part is in them);
- the grading's options that change a verdict (budgets, limits, sandbox).

Any change to one of them trains again. The score table says which rows were reused and since
when, and that ``--fresh`` retrains. Only the student's own ``pytest grader`` reuses: a batch,
Gradescope, nbgrader and ``python -m grader grade`` (without ``--reuse``) never do. The verdicts
are kept in the user's cache folder (``cache_dir``), one file per submission path, written
atomically; a file that cannot be read is treated as empty.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from grader.outputs.artifacts import write_json_atomic

CACHE_VARIABLE = "NNGRADE_CACHE_DIR"
"""Where the verdicts are kept, when set (else ``$XDG_CACHE_HOME/nngrade``, ``~/.cache/nngrade``)."""

FORMAT = 1


def cache_dir() -> Path:
    if os.environ.get(CACHE_VARIABLE):
        return Path(os.environ[CACHE_VARIABLE]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nngrade" / "verdicts"


def key_of(*parts) -> str:
    """SHA-256 of ``parts`` (plain data; arrays by their bytes, dtype and shape)."""
    from grader.isolation import wire

    return hashlib.sha256(wire.encode(list(parts))).hexdigest()


class VerdictCache:
    """The reusable verdicts of one submission file."""

    def __init__(self, submission: Path):
        name = hashlib.sha256(str(Path(submission).resolve()).encode()).hexdigest()[:24]
        self.path = cache_dir() / f"{name}.json"

    def _read(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            return {}
        rows = data.get("rows")
        return rows if isinstance(rows, dict) else {}

    def get(self, test: str, key: str) -> dict | None:
        """The verdict kept for ``test`` under ``key`` (with ``"since"``, the time it was
        graded), or None."""
        entry = self._read().get(test)
        if isinstance(entry, dict) and entry.get("key") == key and isinstance(entry.get("result"), dict):
            return {**entry["result"], "since": entry.get("since", 0.0)}
        return None

    def put(self, test: str, key: str, result: dict) -> None:
        rows = self._read()
        rows[test] = {"key": key, "since": time.time(), "result": result}
        try:
            write_json_atomic(self.path, {"format": FORMAT, "rows": rows})
        except OSError:
            pass   # a cache that cannot be written only costs the next run its time


def reused_note(since: float) -> str:
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(since))
    return (f"unchanged since {when} (the network, its optimizer and the grader are the same): "
            "this verdict was reused; `--fresh` retrains")
