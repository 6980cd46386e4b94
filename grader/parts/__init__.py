"""The graded parts: one registry, one way to select them, and where each test's procedure lives.

Each part has a module here, ``grader/parts/<part>.py``, holding its graded procedures (functions
named like their rubric rows, ``test_<what>``), its cases and its diagnoses. The procedures take
what they need by name from ``PROCEDURE_ARGUMENTS``; a procedure graded on several cases takes
them from ``@each``. The grading session (``grader/session.py``) calls them directly; the graded
``grader/test_<part>.py`` files are shims that make pytest items of the same rubric rows
(``grader/parts/pytest_items.py``), for the student's ``pytest grader``.

The hidden tests' procedures live in ``grader/hidden/cases.py``, which the handout leaves out.

Adding a part: see the README, "Adding a part". Nothing here imports a part's module until a
test of it is graded (the Part 4 modules import torch's networks).
"""
from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass

NUMPY, TORCH, STUDIES = "numpy", "torch", "studies"


@dataclass(frozen=True)
class Part:
    name: str
    kind: str                 # NUMPY (Parts 1-3: the numpy-only rule applies), TORCH (Part 4),
                              # or STUDIES (the report's runs, on both)
    opt_in: bool = False      # graded only when asked for (``--experiments`` or by name)
    stub: str = ""            # what of solution.py the part grades, as the template leaves it
    module: str = ""          # its procedures' module (default: grader.parts.<name>)

    @property
    def module_name(self) -> str:
        return self.module or f"grader.parts.{self.name}"


REGISTRY: tuple[Part, ...] = (
    Part("init", NUMPY, stub="NN.__init__, NN.initialize_weights"),
    Part("activations", NUMPY, stub="NN.relu, NN.sigmoid, NN.tanh, NN.leaky_relu, NN.activation"),
    Part("softmax", NUMPY, stub="NN.softmax"),
    Part("forward", NUMPY, stub="NN.forward"),
    Part("loss", NUMPY, stub="NN.loss"),
    Part("backward", NUMPY, stub="NN.backward"),
    Part("update", NUMPY, stub="NN.update"),
    Part("train_loop", NUMPY, stub="NN.train_loop, NN.evaluate"),
    Part("finite_difference", NUMPY, stub="NN.finite_difference"),
    Part("optimizers", NUMPY, stub="SGD, Momentum, Nesterov, AdaGrad, RMSProp, AdaDelta, Adam, "
                                   "RMSPropNesterov"),
    Part("batchnorm", NUMPY, stub="BatchNorm"),
    Part("dropout", NUMPY, stub="Dropout"),
    Part("batchnorm2d", TORCH, stub="BatchNorm2d"),
    Part("mnist_cnn", TORCH, stub="MnistCNN"),
    Part("cats_dogs_cnn", TORCH, stub="CatsDogsCNN, make_cats_dogs_optimizer"),
    Part("kaggle_submission", TORCH, stub="write_kaggle_submission"),
    Part("experiments", STUDIES, opt_in=True, stub="(nothing of its own: the report's studies, "
                                                       "run with all of the above)"),
)
"""The parts, in the order of the assignment and of the score table."""

BY_NAME = {part.name: part for part in REGISTRY}
PARTS = tuple(part.name for part in REGISTRY)
OPT_IN_PARTS = tuple(part.name for part in REGISTRY if part.opt_in)
DEFAULT_PARTS = tuple(part.name for part in REGISTRY if not part.opt_in)
NUMPY_PARTS = tuple(part.name for part in REGISTRY if part.kind == NUMPY)
TORCH_PARTS = tuple(part.name for part in REGISTRY if part.kind == TORCH)


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
        raise UnknownParts(f"unknown part{'s' * (len(unknown) > 1)} {', '.join(unknown)}; the parts "
                           f"are {', '.join(PARTS)}")
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
    """``{row name: (procedure, case arguments)}`` of a procedures module."""
    found = {}
    for name, procedure in vars(module).items():
        if not (name.startswith("test_") and inspect.isfunction(procedure)
                and procedure.__module__ == module.__name__):
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
