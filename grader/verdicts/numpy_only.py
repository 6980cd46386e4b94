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

import ast
import builtins
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from grader.verdicts import rules

RULE_NAME = "numpy only"
RULE_TEXT = ("Parts 1-3 are numpy code: no framework that differentiates automatically may be "
             "reachable from NN's methods, the optimizers, BatchNorm or Dropout")

FRAMEWORKS = ("torch", "functorch", "lightning", "pytorch_lightning", "jax", "jaxlib", "flax",
              "haiku", "optax", "equinox", "tensorflow", "tf_keras", "keras", "autograd", "mxnet",
              "paddle", "mindspore", "oneflow", "chainer", "theano", "pytensor", "aesara", "cntk",
              "dynet", "tinygrad", "micrograd", "thinc", "trax", "sympy", "casadi", "numdifftools")
"""Top-level packages that differentiate, or whose job is to drive one that does (lightning,
flax, optax): any name under them counts. sympy differentiates symbolically and numdifftools
numerically, both "something else that differentiates" for a backward pass. numpy and scipy
are not here, nor torchvision, torchaudio and torchtext: data sets and transforms (an original
course template may load its data with them), which compute nothing the numpy parts could use
without torch itself, which counts."""

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

DYNAMIC_BUILTINS = ("eval", "exec", "compile", "__import__", "globals")
_IMPORT_IN_TEXT = re.compile(
    r"(?:^|[;\n])\s*(?:import|from)\s+(" + "|".join(FRAMEWORKS) + r")\b")
_BUILTIN_NAMES = frozenset(dir(builtins))


SEEDING = frozenset(("torch.manual_seed", "torch.random.manual_seed", "torch.cuda.manual_seed",
                     "torch.cuda.manual_seed_all", "torch.seed", "torch.random.seed",
                     "tensorflow.random.set_seed", "keras.utils.set_random_seed"))
"""Framework functions that only seed its random generators: a numpy ``NN.__init__`` that seeds
torch too (for the file's CNN parts, or out of habit) computes nothing with it."""


def is_framework(dotted: str | None) -> bool:
    return bool(dotted) and dotted.split(".")[0] in FRAMEWORKS and dotted not in SEEDING


@dataclass(frozen=True)
class Reach:
    """One place where a numpy part's code reaches a framework."""

    part: str
    method: str       # the graded method whose code reaches it, e.g. "NN.backward"
    line: int
    what: str         # e.g. "torch.tensor", 'importlib.import_module("torch")', "eval(...)"
    where: str        # the definition holding the line, e.g. "NN._grads" or "_torch_helper"
    through: str = ""  # e.g. "self.T" when reached through an attribute's value
    text: str = ""    # the line, stripped

    def describe(self) -> str:
        held = "" if self.where == self.method else f", in {self.where}"
        through = f" through {self.through}" if self.through else ""
        shown = f": `{self.text}`" if self.text else ""
        return f"{self.method} reaches {self.what}{through} (solution.py line {self.line}{held}{shown})"


@dataclass
class _Class:
    name: str
    node: ast.ClassDef
    bases: list          # the file's own base classes, by name (in order)
    methods: dict        # name -> FunctionDef, its own
    attributes: dict     # name -> [(value node, scope, where)]


def _methods_of(node: ast.ClassDef) -> dict:
    return {n.name: n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


class _Module:
    """The parsed file: bindings, the file's classes and what the reader needs to walk it."""

    def __init__(self, source: str):
        self.tree = rules._parse(source)
        self.lines = source.splitlines()
        self.imported, self.defined, self.star = rules._module_bindings(self.tree)
        self.module_scope = rules._Scope({}, frozenset(), self.imported, self.defined, self.star)
        self.classes: dict[str, _Class] = {}
        self._scopes: dict[int, rules._Scope] = {}
        self.memo: dict[tuple, tuple[list, list]] = {}   # see _Reader
        self.numpy_classes: set[str] = set()             # the classes some numpy part grades
        self._skipped: dict[int, set] = {}
        for name, node in self.defined.items():
            if isinstance(node, ast.ClassDef):
                bases = [b.id for b in node.bases if isinstance(b, ast.Name)
                         and b.id in self.defined and isinstance(self.defined[b.id], ast.ClassDef)]
                self.classes[name] = _Class(name, node, bases, _methods_of(node), {})
        self._collect_attributes()
        # Every framework a module-level name is imported as, not only its last binding:
        # ``try: import torch as backend / except ImportError: import numpy as backend`` binds
        # torch when torch is there (and it is, for Part 4).
        self.framework_imports: dict[str, str] = {}
        known: dict[str, str] = {}
        for node, _ in rules._module_statements(self.tree.body):
            bound = rules._imports([node])[0]
            bound.update(rules._aliases(node, known))
            known.update(bound)
            for name, origin in bound.items():
                if is_framework(origin):
                    self.framework_imports.setdefault(name, origin)

    def scope(self, function: ast.AST):
        """``rules._scope`` of a function, computed once."""
        if id(function) not in self._scopes:
            self._scopes[id(function)] = rules._scope(function, self.imported, self.defined, self.star)
        return self._scopes[id(function)]

    def skipped(self, node: ast.AST) -> set[int]:
        """``_skipped`` of a node, computed once."""
        if id(node) not in self._skipped:
            self._skipped[id(node)] = _skipped(node)
        return self._skipped[id(node)]

    def mro(self, name: str) -> list[str]:
        """The file's own classes ``name`` derives from, itself first (depth first, no repeats)."""
        order, queue = [], [name]
        while queue:
            current = queue.pop(0)
            if current in order or current not in self.classes:
                continue
            order.append(current)
            queue.extend(self.classes[current].bases)
        return order

    def method(self, cls: str, name: str) -> tuple[str, ast.AST] | None:
        """``(defining class, FunctionDef)`` of ``cls.name`` through the file's classes."""
        for owner in self.mro(cls):
            if name in self.classes[owner].methods:
                return owner, self.classes[owner].methods[name]
        return None

    def all_methods(self, cls: str) -> dict:
        found = {}
        for owner in reversed(self.mro(cls)):
            found.update(self.classes[owner].methods)
        return found

    def attribute_values(self, cls: str, name: str) -> list:
        """The values stored in ``cls.name`` and, under "*", by ``setattr`` with a name that is
        not a constant (any attribute may hold those)."""
        return [entry for owner in self.mro(cls) for key in {name, "*"}
                for entry in self.classes[owner].attributes.get(key, [])]

    def _add_attribute(self, cls: str, name: str, value: ast.AST, scope, where: str):
        if cls in self.classes:
            self.classes[cls].attributes.setdefault(name, []).append((value, scope, where))

    def _collect_attributes(self):
        """The values stored in each class's attributes: ``self.x = v`` (or ``setattr(self, "x",
        v)``) in its methods, ``x = v`` in its body, ``C.x = v``/``setattr(C, "x", v)`` anywhere."""
        for cls in self.classes.values():
            for statement in cls.node.body:
                if isinstance(statement, (ast.Assign, ast.AnnAssign)) and statement.value is not None:
                    targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
                    for target in targets:
                        for name in ast.walk(target):
                            if isinstance(name, ast.Name):
                                self._add_attribute(cls.name, name.id, statement.value,
                                                    self.module_scope, cls.name)
            for method in cls.methods.values():
                me = _self_name(method)
                scope = self.scope(method)
                for node in ast.walk(method):
                    for owner, name, value in self._stores(node, {me} if me else set()):
                        self._add_attribute(cls.name if owner == me else owner, name, value, scope,
                                            f"{cls.name}.{method.name}")
        for node in ast.walk(self.tree):  # C.x = v, setattr(C, "x", v), in any code of the file
            for owner, name, value in self._stores(node, set()):
                function = next((p for p in _parents(node) if isinstance(
                    p, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))), None)
                scope = self.scope(function) if function is not None else self.module_scope
                self._add_attribute(owner, name, value, scope, rules._enclosing(node, "module level"))

    def _stores(self, node: ast.AST, selves: set) -> list:
        """``(owner, attribute, value)`` for a store into ``owner.attribute`` made by ``node``,
        where owner is one of ``selves`` or a class of the file."""
        owners = selves | set(self.classes)
        found = []
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for item in ast.walk(target):
                    if (isinstance(item, ast.Attribute) and isinstance(item.value, ast.Name)
                            and item.value.id in owners and isinstance(item.ctx, ast.Store)):
                        found.append((item.value.id, item.attr, node.value))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr"
              and len(node.args) == 3 and isinstance(node.args[0], ast.Name) and node.args[0].id in owners):
            key = node.args[1]
            name = key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else "*"
            found.append((node.args[0].id, name, node.args[2]))
        return found


def _parents(node: ast.AST):
    current = getattr(node, "parent", None)
    while current is not None:
        yield current
        current = getattr(current, "parent", None)


def _self_name(function: ast.AST) -> str | None:
    """The name a method calls its instance (or class) by: its first parameter, unless it is a
    staticmethod."""
    if any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in function.decorator_list):
        return None
    arguments = [*function.args.posonlyargs, *function.args.args]
    return arguments[0].arg if arguments else None


def _constant_string(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _lookup_key(container: ast.AST) -> str | None:
    """For a mapping expression (``globals()``, ``sys.modules``), the constant key it is looked
    up with: ``m["k"]``, ``m.get("k")``, ``m.__getitem__("k")``, ``m.pop("k")`` and
    ``m.setdefault("k")`` give ``"k"``; any other use (a key that is not a constant, the mapping
    handed on or iterated) gives None."""
    parent = getattr(container, "parent", None)
    if isinstance(parent, ast.Subscript) and parent.value is container:
        return _constant_string(parent.slice)
    if isinstance(parent, ast.Attribute) and parent.value is container:
        call = getattr(parent, "parent", None)
        if (parent.attr in ("get", "__getitem__", "pop", "setdefault") and isinstance(call, ast.Call)
                and call.func is parent and call.args):
            return _constant_string(call.args[0])
    return None


def _skipped(node: ast.AST) -> set[int]:
    """Ids of nodes that use nothing: the class arguments of isinstance/issubclass, type
    annotations, docstrings and other bare string statements."""
    skipped = rules._type_checks(node)
    for child in ast.walk(node):
        annotations = []
        if isinstance(child, ast.arg) and child.annotation is not None:
            annotations.append(child.annotation)
        elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) and child.returns is not None:
            annotations.append(child.returns)
        elif isinstance(child, ast.AnnAssign):
            annotations.append(child.annotation)
        elif isinstance(child, ast.Expr) and _constant_string(child.value) is not None:
            annotations.append(child.value)
        for annotation in annotations:
            skipped.update(id(n) for n in ast.walk(annotation))
    return skipped


class _Reader:
    """Walks what one part's roots reach and records every framework it finds."""

    def __init__(self, module: _Module, part: str, other_roots: dict):
        self.module = module
        self.part = part
        self.other_roots = other_roots   # class -> its method names another part grades
        self.found: dict[tuple, Reach] = {}
        self.seen: set = set()
        self.queue: list = []
        self.root = ""
        # What visiting an item found and asked to follow is kept in the module
        # (``_Module.memo``) for every root and part after the first: they replay it (their own
        # label on the findings, their own rule on which methods to follow) instead of walking
        # the code again. Only the requests that the walk itself makes are recorded.
        self.recording: tuple[list, list] | None = None
        self.inside_request = 0

    # -- the queue ---------------------------------------------------------------------------

    def push(self, key: tuple, item: tuple):
        if self.recording is not None and not self.inside_request:
            self.recording[1].append(("push", key, item))
        if key not in self.seen:
            self.seen.add(key)
            self.queue.append(item)

    def follow_method(self, cls: str, name: str, through_self: bool = True):
        """Follow ``cls.name`` (an instance of ``cls`` looks it up) and the values stored in that
        attribute. Through ``self``, a method another part grades is not followed: the
        reference replaces it while this part is graded, and its own part answers for it."""
        if self.recording is not None and not self.inside_request:
            self.recording[1].append(("follow", cls, name, through_self))
        self.inside_request += 1
        try:
            hit = self.module.method(cls, name)
            if hit is not None and not (through_self and name in self.other_roots.get(cls, ())):
                owner, node = hit
                self.push(("method", cls, id(node)), ("method", cls, owner, node))
            for value, scope, where in self.module.attribute_values(cls, name):
                shown = f"self.{name}" if through_self else f"{cls}.{name}"
                self.push(("value", id(value)), ("value", value, scope, where, shown))
        finally:
            self.inside_request -= 1

    def follow_everything(self, cls: str):
        """``getattr(self, name)`` with a name that is not a constant: every method no other part
        grades and every attribute value of the class."""
        for name in self.module.all_methods(cls):
            self.follow_method(cls, name)
        for owner in self.module.mro(cls):
            for name in list(self.module.classes[owner].attributes):
                self.follow_method(cls, name)

    def numpy_class(self, name: str) -> bool:
        return name in self.module.numpy_classes

    def follow_name(self, name: str):
        """A module-level name the code uses: a numpy class named bare (constructed) leads to its
        ``__init__`` and header; any other definition is read whole."""
        node = self.module.defined.get(name)
        if node is None:
            return
        if self.numpy_class(name):
            self.follow_method(name, "__init__", through_self=False)
            self.push(("header", name), ("header", name))
        else:
            self.push(("definition", name), ("definition", name, node))

    def run(self, roots: list) -> list[Reach]:
        """``roots``: ``[(label, class, method name or None for the class's header)]``."""
        for label, cls, name in roots:
            self.root = label
            self.seen.clear()
            if name is None:
                self.push(("header", cls), ("header", cls))
            else:
                hit = self.module.method(cls, name)
                if hit is not None:
                    self.push(("method", cls, id(hit[1])), ("method", cls, hit[0], hit[1]))
            while self.queue:
                item = self.queue.pop(0)
                key = (item[0], *[id(x) if isinstance(x, ast.AST) else x for x in item[1:]
                                  if isinstance(x, (ast.AST, str))])
                if key not in self.module.memo:
                    self.recording = ([], [])
                    self.visit(item)
                    self.module.memo[key], self.recording = self.recording, None
                    continue
                findings, requests = self.module.memo[key]
                for node, what, where, through in findings:
                    self.add(node, what, where, through)
                for request in requests:
                    if request[0] == "push":
                        self.push(request[1], request[2])
                    else:
                        self.follow_method(*request[1:])
        return sorted(self.found.values(), key=lambda r: (r.line, r.method, r.what))

    # -- the walk ----------------------------------------------------------------------------

    def _scope_of(self, function):
        return self.module.scope(function)

    def visit(self, item):
        kind = item[0]
        if kind == "method":
            _, cls, owner, node = item
            scope = self._scope_of(node)
            self.walk(node, scope, cls, owner, _self_name(node))
            self.defaults(node, scope)
        elif kind == "definition":
            _, name, node = item
            if isinstance(node, ast.ClassDef):
                for method in _methods_of(node).values():
                    scope = self._scope_of(method)
                    self.walk(method, scope)
                    self.defaults(method, scope)
                self.header(name, node)
                for statement in node.body:
                    if not isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        self.walk(statement, self.module.module_scope)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                scope = self._scope_of(node)
                self.walk(node, scope)
                self.defaults(node, scope)
            else:  # a module-level variable: its assignment
                self.walk(node, self.module.module_scope)
        elif kind == "value":
            _, value, scope, where, through = item
            self.walk(value, scope, where=where, through=through)
        elif kind == "header":
            for owner in self.module.mro(item[1]):
                self.header(owner, self.module.classes[owner].node)

    def header(self, name: str, node: ast.ClassDef):
        """A class's bases, keywords (metaclass) and decorators. A base class of the file is not
        read whole here: its header comes with the class's (``mro``), its methods when used."""
        bases = [b for b in node.bases if not (isinstance(b, ast.Name) and b.id in self.module.classes)]
        for expression in [*bases, *[k.value for k in node.keywords], *node.decorator_list]:
            self.walk(expression, self.module.module_scope, where=f"class {name}")

    def defaults(self, function: ast.AST, scope):
        """Default values are computed where a function is defined: a parameter called ``torch``
        whose default is torch is torch. The method's own defaults resolve in the module, a
        nested function's in the method, less the nested function's own parameters."""
        for node in ast.walk(function):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            arguments = node.args
            values = [*arguments.defaults, *[d for d in arguments.kw_defaults if d is not None]]
            if node is function:
                resolve = self.module.module_scope
            else:
                own = {a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]}
                resolve = replace(scope, local_names=scope.local_names - own)
            for value in values:
                for name in ast.walk(value):
                    if isinstance(name, ast.Name) and is_framework(resolve.origin(name.id)):
                        self.add(name, resolve.origin(name.id))

    def add(self, node: ast.AST, what: str, where: str | None = None, through: str = ""):
        if self.recording is not None:
            self.recording[0].append((node, what, where, through))
        line = getattr(node, "lineno", 0)
        lines = self.module.lines
        text = lines[line - 1].strip()[:120] if 0 < line <= len(lines) else ""
        reach = Reach(self.part, self.root, line, what,
                      where or rules._enclosing(node, "module level"), through, text)
        self.found.setdefault((reach.method, line, what), reach)

    def walk(self, node: ast.AST, scope, cls: str | None = None, owner: str | None = None,
             me: str | None = None, where: str | None = None, through: str = ""):
        """Record the frameworks ``node`` reaches and queue the code it leads to. For a method of
        a numpy class: ``cls`` is the instance's class, ``owner`` the class that defines the
        method and ``me`` the method's name for the instance (its first parameter)."""
        skipped = self.module.skipped(node)
        context = _Context(scope, cls, owner, me,
                           lambda child, what: self.add(child, what, where, through))
        for child in ast.walk(node):
            if id(child) in skipped:
                continue
            parent = getattr(child, "parent", None)
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for origin in rules._imports([child])[0].values():
                    if is_framework(origin):
                        context.add(child, f"import {origin}")
                if isinstance(child, ast.ImportFrom) and is_framework(child.module):
                    context.add(child, f"from {child.module} import ...")
            elif isinstance(child, ast.Attribute) and not isinstance(parent, ast.Attribute):
                self.attribute(child, context)
            elif isinstance(child, ast.Name) and isinstance(child.ctx, ast.Load):
                self.name(child, context)
            elif isinstance(child, ast.Call):
                self.call(child, context)
            elif isinstance(child, ast.Constant) and isinstance(child.value, str):
                match = _IMPORT_IN_TEXT.search(child.value)
                if match:
                    context.add(child, f"a string that imports {match.group(1)} "
                                       f"({child.value.strip()[:40]!r})")

    def attribute(self, child: ast.Attribute, context):
        # the innermost attribute of a chain says which object is looked into
        inner = child
        while isinstance(inner.value, ast.Attribute) and not context.self_like(inner.value):
            inner = inner.value
        base = inner.value
        if context.cls is not None and context.self_like(base):
            if inner.attr == "__dict__":
                self.follow_everything(context.cls)
            else:
                self.follow_method(context.cls, inner.attr)
            return
        if (context.owner is not None and isinstance(base, ast.Call)
                and isinstance(base.func, ast.Name) and base.func.id == "super"):
            for ancestor in self.module.mro(context.owner)[1:]:
                self.follow_method(ancestor, inner.attr, through_self=False)
            return
        if isinstance(base, ast.Name) and context.scope.origin(base.id) is None \
                and base.id not in context.scope.local_names and base.id in self.module.defined:
            if self.numpy_class(base.id):   # NN.forward(self, x): that method, as it is
                self.follow_method(base.id, inner.attr, through_self=False)
            else:
                self.follow_name(base.id)
            return
        self.resolved(child, self.origin(child, context.scope), context)

    def origin(self, node: ast.AST, scope) -> str | None:
        """The imported name ``node`` (a name or a chain of attributes) stands for: as
        ``rules._resolved`` says, or a framework when its first name is an import that a
        module-level import of a framework also binds (a fallback import)."""
        resolved = rules._resolved(node, scope)
        chain = rules._dotted(node)
        if resolved is None or is_framework(resolved) or chain is None:
            return resolved
        root, attributes = chain
        if (root in self.module.framework_imports and root not in scope.local_imports
                and root not in scope.local_names):
            return ".".join([self.module.framework_imports[root], *attributes])
        return resolved

    def resolved(self, node: ast.AST, name: str | None, context):
        """Judge an expression that stands for the imported name ``name``."""
        if not name:
            return
        if is_framework(name):
            context.add(node, name)
        elif name == "sys.modules" or name.startswith("sys.modules."):
            container = node if name == "sys.modules" else node.value
            key = _lookup_key(container)
            if key is None:
                context.add(node, "sys.modules[...] with a key the grader cannot read")
            elif is_framework(key):
                context.add(node, f'sys.modules["{key}"]')
        elif name.split(".")[0] in ("builtins", "__builtins__"):
            context.add(node, f"{name} (the interpreter's builtins, looked up by name)")
        elif name.split(".")[0] == "importlib":
            self.dynamic_import(node, name, context)

    def dynamic_import(self, node: ast.AST, name: str, context):
        """``importlib.import_module("m")`` and ``__import__("m")``: allowed when ``m`` is a
        constant that names no framework."""
        call = getattr(node, "parent", None)
        if isinstance(call, ast.Call) and call.func is node and call.args:
            module = _constant_string(call.args[0])
            if module is None:
                context.add(node, f"{name}(...) of a module the grader cannot read")
            elif is_framework(module):
                context.add(node, f'{name}("{module}")')
        else:
            context.add(node, f"{name}, used other than called with a constant module name")

    def name(self, child: ast.Name, context):
        if isinstance(getattr(child, "parent", None), ast.Attribute):
            return  # read with its chain (attribute)
        scope = context.scope
        origin = self.origin(child, scope)
        if origin is not None:
            self.resolved(child, origin, context)
            return
        if child.id in scope.local_names:
            return
        if child.id in self.module.defined:
            self.follow_name(child.id)
        elif child.id == "__import__":
            self.dynamic_import(child, "__import__", context)
        elif child.id == "globals":
            self.globals_lookup(child, context)
        elif child.id in DYNAMIC_BUILTINS:
            context.add(child, f"{child.id}(...), code the grader cannot read")
        elif child.id == "__builtins__":
            context.add(child, "__builtins__ (the interpreter's builtins, looked up by name)")
        elif child.id not in _BUILTIN_NAMES:
            stars = [m for m in scope.star_modules if is_framework(m)]
            if stars:  # a name defined nowhere in the file, beside `from jax.numpy import *`
                context.add(child, f"{stars[0]}.{child.id} (from `from {stars[0]} import *`)")

    def globals_lookup(self, child: ast.Name, context):
        call = getattr(child, "parent", None)
        if not (isinstance(call, ast.Call) and call.func is child):
            context.add(child, "globals, used other than as globals()[...]")
            return
        key = _lookup_key(call)
        if key is None:
            context.add(child, "globals()[...] with a key the grader cannot read")
            return
        origin = self.module.module_scope.origin(key)
        if is_framework(origin):
            context.add(child, f'globals()["{key}"] ({origin})')
        elif key in self.module.defined:
            self.follow_name(key)

    def call(self, child: ast.Call, context):
        func = child.func
        if not (isinstance(func, ast.Name) and func.id == "getattr" and len(child.args) >= 2
                and context.scope.origin("getattr") is None
                and "getattr" not in context.scope.local_names):
            return
        target, key = child.args[0], _constant_string(child.args[1])
        if context.cls is not None and context.self_like(target):
            if key is None:
                self.follow_everything(context.cls)
            else:
                self.follow_method(context.cls, key)
            return
        if isinstance(target, ast.Name) and self.numpy_class(target.id) \
                and context.scope.origin(target.id) is None:
            if key is None:
                self.follow_everything(target.id)
            else:
                self.follow_method(target.id, key, through_self=False)
            return
        base = (rules._resolved(target, context.scope)
                if isinstance(target, (ast.Name, ast.Attribute)) else None)
        if key is not None and base:
            if is_framework(f"{base}.{key}"):
                context.add(child, f"{base}.{key}")
            elif base in ("builtins", "importlib", "sys") and key in (
                    "__import__", "import_module", "modules", "eval", "exec", "compile"):
                context.add(child, f'getattr({base}, "{key}")')


@dataclass
class _Context:
    """Where the walk is: the scope of names, the numpy class and instance name, and how to
    record a finding."""

    scope: rules._Scope
    cls: str | None
    owner: str | None
    me: str | None
    add: object

    def self_like(self, node: ast.AST) -> bool:
        """``self``, ``type(self)`` or ``self.__class__``."""
        if self.me is None:
            return False
        if isinstance(node, ast.Name):
            return node.id == self.me
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "type"
                and len(node.args) == 1):
            return isinstance(node.args[0], ast.Name) and node.args[0].id == self.me
        return (isinstance(node, ast.Attribute) and node.attr == "__class__"
                and isinstance(node.value, ast.Name) and node.value.id == self.me)


def part_roots(module: _Module) -> dict[str, tuple[list, set]]:
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
    module = _Module(source)
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
        result = _Reader(module, part, other).run(entries)
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
