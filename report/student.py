"""The student's ``solution.py``, loaded in this process, and what a study needs from it.

The report is the student's own job on the student's own code, so it runs their classes here
(the grader, not this, is what isolates untrusted code). A study that calls a method the student
has not written yet gets ``NotImplementedError``; ``Missing.from_error`` turns that into the
section's sentence, e.g. "needs NN.backward: not implemented".
"""
from __future__ import annotations

import hashlib
import importlib.util
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType


class SolutionError(RuntimeError):
    """The solution file cannot be loaded (missing, or it fails on import)."""


def load_solution(path: Path) -> ModuleType:
    """Import ``path`` as a module named ``solution`` (its folder first on ``sys.path``, as
    ``python solution.py`` would have it)."""
    path = Path(path).resolve()
    if not path.is_file():
        raise SolutionError(f"no solution file at {path}: pass --solution PATH")
    spec = importlib.util.spec_from_file_location("solution", path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        raise SolutionError(f"{path.name} fails on import: {type(error).__name__}: {error}") from error
    finally:
        sys.path.remove(str(path.parent))
    return module


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass(frozen=True)
class Missing(Exception):
    """A study stopped at a part the student has not written: ``where`` (e.g. ``NN.backward``)."""
    where: str

    def __str__(self) -> str:
        return f"needs {self.where}: not implemented"

    @classmethod
    def from_error(cls, error: NotImplementedError, solution_file: str | None) -> Missing:
        """The innermost frame of ``error`` in the solution file names the missing method."""
        where = None
        for frame, _ in traceback.walk_tb(error.__traceback__):
            in_solution = Path(frame.f_code.co_filename).resolve() == Path(solution_file or "").resolve()
            if solution_file is None or in_solution:
                where = getattr(frame.f_code, "co_qualname", frame.f_code.co_name)
        return cls(where or (str(error).split(":")[0] or "a part"))
