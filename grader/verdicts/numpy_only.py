"""The numpy-only rule of Parts 1-3, read from the submission's source in the trusted process.

The assignment asks for the MLP's forward and backward propagation, the optimizers, BatchNorm
and Dropout in numpy, "without using any of the deep learning frameworks that provides automatic
differentiation". A ``NN.backward`` that rebuilds the forward pass in torch and calls
``loss.backward()`` returns the right gradients, so the values alone cannot tell; the source
can. This module parses ``solution.py`` with ``ast`` (it never runs it, and it never asks the
worker: a report of the submission's process about itself is no evidence) and lists, for each
numpy part, every place where the code that part grades reaches a framework.

What a part's code reaches, from its root methods (``NUMPY_PART_METHODS``, ``NUMPY_PART_CLASSES``):

- the method's own body (nested functions, lambdas, default arguments and decorators included);
- module-level functions, classes and variables it names, transitively (as ``rules.find``);
- other methods of its class (and of the file's own base classes) that it uses through ``self``,
  ``type(self)``, ``super()``, ``ClassName.method`` or ``getattr(self, "name")``, except methods
  that another part grades: those are replaced by the reference while this part is graded, and
  are charged to their own part;
- the values stored in the attributes it reads (``self.torch = torch`` in ``__init__``, a class
  attribute ``T = torch``, ``NN.T = torch`` or ``setattr(NN, "T", torch)`` at module level);
- for a class graded as a whole, its header: bases (``class NN(torch.nn.Module)``), decorators.

Names are resolved through the file's imports and aliases (``import torch as T``, ``from torch
import tensor``, ``import jax.numpy as jnp``, ``F = torch.nn.functional``), so a student class
called ``torch_like`` or a local ``torch = np`` is not torch. Dynamic lookups are resolved when
their key is a string constant (``importlib.import_module("torch")``, ``__import__("jax")``,
``sys.modules["torch"]``, ``globals()["torch"]``, ``getattr(self, "helper")``); those whose key
is not a constant, ``eval``/``exec``/``compile``, and any use of ``builtins`` count as reaching
a framework: the grader cannot read where they lead, and numpy code has no use for them.
A string that reads as an import of a framework (``"import torch; ..."`` handed to a
subprocess) counts too. Naming a class only to recognise it (``isinstance(x, torch.Tensor)``)
and type annotations use nothing and are left out.

Names are also read as a framework when a module-level import binds one to them, even if a
later fallback import rebinds them (``try: import torch as backend / except ImportError: import
numpy as backend``).

The verdict (``grader/rubric.py: NUMPY_ONLY_PARTS``, applied by ``grader/session.py``): a part
whose code reaches a framework scores 0 in every test, and each test's message names the rule,
the method and the line (``verdict``). Each method is charged to the one part that grades it;
``__init__`` and ``class NN``'s header (its bases, decorators) to ``init``.

Plain numpy and scipy (``scipy.special.softmax``) stay allowed, so does seeding a framework's
generators (``SEEDING``: ``torch.manual_seed`` computes nothing), and Part 4 (``BatchNorm2d``,
``MnistCNN``, ``CatsDogsCNN``, ``make_cats_dogs_optimizer``) is no root: a file may import torch at
its top for Part 4. What is not followed: code that builds code by other means (``pickle``,
``marshal``, ``types.FunctionType``), attributes set on objects other than the numpy classes, and
methods of objects the code is handed (``self.optimizer.step`` is graded in its own part).
"""
from __future__ import annotations

from collections.abc import Iterable

from grader.verdicts.source_reach import Reader
from grader.verdicts.source_table import FRAMEWORKS, Reach, SourceModule, is_framework  # noqa: F401

RULE_NAME = "numpy only"
RULE_TEXT = ("Parts 1-3 are numpy code: no framework that differentiates automatically may be "
             "reachable from NN's methods, the optimizers, BatchNorm or Dropout")

NUMPY_PART_METHODS = {
    "init": ("__init__", "initialize_weights"),
    "activations": ("relu", "sigmoid", "tanh", "leaky_relu", "leakyrelu", "activation"),
    "softmax": ("softmax",),
    "forward": ("forward",),
    "loss": ("loss",),
    "backward": ("backward",),
    "update": ("update",),
    "train_loop": ("train_loop", "evaluate", "compute_loss_and_accuracy", "one_hot"),
    "finite_difference": ("finite_difference",),
}
"""The NN methods each numpy part grades (``leakyrelu``: IFT6390 A20's spelling). ``__init__``
builds the network every part calls, and is charged to ``init``; the given helpers
``compute_loss_and_accuracy`` and ``one_hot`` serve the training loop."""

OPTIMIZER_CLASSES = ("Optimizer", "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSProp",
                     "RMSPropNesterov", "AdaDelta", "Adam")

NUMPY_PART_CLASSES = {"optimizers": OPTIMIZER_CLASSES, "batchnorm": ("BatchNorm",),
                      "dropout": ("Dropout",)}
"""Classes graded as a whole by a numpy part: every method they have (their own and inherited
from the file's classes) is a root. A class of the file deriving from an optimizer class counts
as an optimizer."""

NUMPY_PARTS = (*NUMPY_PART_METHODS, *NUMPY_PART_CLASSES)

def part_roots(module: SourceModule) -> dict[str, tuple[list, set]]:
    """For each numpy part, ``([(label, class, method or None)], {classes it grades whole})``."""
    roots: dict[str, tuple[list, set]] = {}
    nn = "NN" if "NN" in module.classes else None
    for part, names in NUMPY_PART_METHODS.items():
        entries = []
        if nn is not None:
            for name in names:
                if module.method(nn, name) is not None:
                    entries.append((f"NN.{name}", nn, name))
            if part == "init":  # the class header runs for every part; charged once, here
                entries.append(("class NN", nn, None))
        roots[part] = (entries, set())
    optimizer_like = {name for name in module.classes
                      if set(module.mro(name)) & set(OPTIMIZER_CLASSES)}
    for part, names in NUMPY_PART_CLASSES.items():
        classes = optimizer_like if part == "optimizers" else {n for n in names if n in module.classes}
        entries = []
        for cls in sorted(classes):
            entries.append((f"class {cls}", cls, None))
            for method in module.all_methods(cls):
                entries.append((f"{cls}.{method}", cls, method))
        roots[part] = (entries, classes)
    return roots


def reaches(source: str) -> dict[str, list[Reach]]:
    """``{part: [Reach, ...]}`` for every numpy part whose code reaches a framework (a part that
    reaches none is absent). Raises ``rules.SourceError`` when the source cannot be parsed."""
    module = SourceModule(source)
    roots = part_roots(module)
    module.numpy_classes = {cls for entries, _ in roots.values() for _, cls, _ in entries}
    graded_by: dict[str, dict[str, set]] = {}
    for part, (entries, _) in roots.items():
        for _, cls, method in entries:
            if method is not None:
                graded_by.setdefault(cls, {}).setdefault(method, set()).add(part)
    found = {}
    for part, (entries, _) in roots.items():
        other = {cls: {m for m, parts in methods.items() if parts - {part}}
                 for cls, methods in graded_by.items()}
        result = Reader(module, part, other).run(entries)
        if result:
            found[part] = result
    return found


def verdict(found: Iterable[Reach], limit: int = 3) -> str:
    """The message of a part whose code reaches a framework: the rule, then each place (the names
    found on one line together), at most ``limit`` places."""
    places: dict[tuple, list[str]] = {}
    for reach in found:
        key = (reach.method, reach.line, reach.where, reach.through, reach.text)
        places.setdefault(key, [])
        if reach.what not in places[key]:
            places[key].append(reach.what)
    shown = []
    for (method, line, where, through, text), names in list(places.items())[:limit]:
        held = "" if where == method else f", in {where}"
        via = f" through {through}" if through else ""
        code = f": `{text}`" if text else ""
        shown.append(f"{method} reaches {', '.join(names)}{via} (solution.py line {line}{held}{code})")
    more = f"; and {len(places) - limit} more lines" if len(places) > limit else ""
    return (f"rule broken ({RULE_NAME}): {RULE_TEXT}. " + "; ".join(shown) + more
            + ". The whole part scores 0, whatever its values")
