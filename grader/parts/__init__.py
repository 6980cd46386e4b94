"""The graded parts: one way to select them, and where each test's procedure lives.

The parts themselves (name, numpy or torch, opt-in or not, what of solution.py they grade) are
the first table of ``grader/rubric.py``, beside their rows. Each part has a module here,
``grader/parts/<part>.py``, holding its graded procedures (functions named like their rubric
rows, ``test_<what>``), its cases and its diagnoses. The procedures take what they need by name
from ``PROCEDURE_ARGUMENTS``; a procedure graded on several cases takes them from ``@each``. The
grading session (``grader/session.py``) calls them directly; ``grader/test_rubric.py`` makes a
pytest item of each rubric row (``grader/parts/pytest_items.py``), for the student's
``pytest grader``.

The hidden tests' procedures live in ``grader/hidden/cases.py``, which the handout leaves out.

Adding a part: see the README, "Adding a part". Nothing here imports a part's module until a
test of it is graded (the Part 4 modules import torch's networks).
"""
from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable

from grader.rubric import (BY_NAME, DEFAULT_PARTS, NUMPY, NUMPY_PARTS, OPT_IN_PARTS,  # noqa: F401
                           PARTS, REGISTRY, STUDIES, TORCH, TORCH_PARTS, Part)


GRADER_RUNS_STUDENT_WORK = frozenset({"batchnorm2d", "mnist_cnn", "cats_dogs_cnn", "experiments"})
"""Parts in which the grader itself runs what the student described (a rebuilt network, its
training, a replayed BatchNorm2d, the experiments' runs): the grader's CPU time during their tests
counts against the part's budget (``tolerances.PART_CPU_BUDGET_S``), like calls into the worker.
Their captures also make a torch optimizer or trace with ``make_fx`` in the worker."""


class UnknownParts(ValueError):
    """Parts were named that the assignment does not have."""


def select_parts(names: str | Iterable[str] | None = None, experiments: bool = False) -> tuple[str, ...]:
    """The parts a grading grades, in registry order.

    ``names``: a comma-separated string or names (none: every default part); ``experiments``:
    add the opt-in parts too (to the named ones, or to the defaults). Raises ``UnknownParts``
    naming what is not a part, and the parts there are."""
    if isinstance(names, str):
        names = names.split(",")
    wanted = {name.strip() for name in names or () if name and name.strip()}
    unknown = sorted(wanted - set(PARTS))
    if unknown:
        raise UnknownParts(f"unknown parts {', '.join(unknown)}; the parts are {', '.join(PARTS)}")
    if not wanted:
        wanted = set(DEFAULT_PARTS)
    if experiments:
        wanted |= set(OPT_IN_PARTS)
    return tuple(part for part in PARTS if part in wanted)


# ---- procedures ----------------------------------------------------------------------------

PROCEDURE_ARGUMENTS = ("worker", "grade", "rng", "style", "callback_log")
"""What a procedure may ask for by name: the worker session (the student's code), its ``Scorer``,
the generator of its inputs (seeded from the suite seed and the row's name), the template the
submission was written for, and the log of the grader's callbacks."""


def each(argument: str, values: Iterable) -> Callable:
    """Grade a procedure once for each of ``values``, passed as ``argument``: rubric rows
    ``name[value]``, one per value."""
    values = tuple(values)

    def mark(procedure):
        procedure.nngrade_cases = (argument, values)
        return procedure
    return mark


def case_id(value) -> str:
    """The bracketed part of a row's name for one case value (pytest's id of the same value)."""
    return str(value)


HIDDEN_MODULE = "grader.hidden.cases"


def _modules_of(part: str):
    yield importlib.import_module(BY_NAME[part].module_name)
    try:
        yield importlib.import_module(HIDDEN_MODULE)
    except ModuleNotFoundError:   # the handout: no hidden tests
        return


def procedures(module) -> dict[str, tuple[Callable, dict]]:
    """``{row name: (procedure, case arguments)}`` of a procedures module. A part too big for one
    module is a package whose ``__init__`` imports the procedures of its modules; a procedure
    imported from anywhere else (another part's) is not this module's."""
    found = {}
    package = module.__name__ + "." if hasattr(module, "__path__") else None
    for name, procedure in vars(module).items():
        if not (name.startswith("test_") and inspect.isfunction(procedure)
                and (procedure.__module__ == module.__name__
                     or (package and procedure.__module__.startswith(package)))):
            continue
        cases = getattr(procedure, "nngrade_cases", None)
        if cases is None:
            found[name] = (procedure, {})
        else:
            argument, values = cases
            for value in values:
                found[f"{name}[{case_id(value)}]"] = (procedure, {argument: value})
    return found


def procedure_of(part: str, test: str) -> tuple[Callable, dict]:
    """The procedure of rubric row ``test`` of ``part``, and its case arguments; KeyError if the
    part's module (or the hidden one) has none."""
    for module in _modules_of(part):
        found = procedures(module)
        if test in found:
            return found[test]
    raise KeyError(f"no procedure for the rubric row {test} in {BY_NAME[part].module_name}")
