"""The symbol table of a source file, read with ``ast`` (never run), for the numpy-only rule
(``grader/verdicts/numpy_only.py``): the frameworks that count (``FRAMEWORKS``), the file's
imports and aliases, module-level functions, classes and their methods, and the attributes set
on classes (``SourceModule``). ``grader/verdicts/source_reach.py`` walks it.
"""
from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass

from grader.verdicts import rules

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

DYNAMIC_BUILTINS = ("eval", "exec", "compile", "__import__", "globals")
IMPORT_IN_TEXT = re.compile(
    r"(?:^|[;\n])\s*(?:import|from)\s+(" + "|".join(FRAMEWORKS) + r")\b")
BUILTIN_NAMES = frozenset(dir(builtins))


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
class ClassInfo:
    name: str
    node: ast.ClassDef
    bases: list          # the file's own base classes, by name (in order)
    methods: dict        # name -> FunctionDef, its own
    attributes: dict     # name -> [(value node, scope, where)]


def methods_of(node: ast.ClassDef) -> dict:
    return {n.name: n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


class SourceModule:
    """The parsed file: bindings, the file's classes and what the reader needs to walk it."""

    def __init__(self, source: str):
        self.tree = rules._parse(source)
        self.lines = source.splitlines()
        self.imported, self.defined, self.star = rules._module_bindings(self.tree)
        self.module_scope = rules._Scope({}, frozenset(), self.imported, self.defined, self.star)
        self.classes: dict[str, ClassInfo] = {}
        self._scopes: dict[int, rules._Scope] = {}
        self.memo: dict[tuple, tuple[list, list]] = {}   # see Reader
        self.numpy_classes: set[str] = set()             # the classes some numpy part grades
        self.skipped_lines: dict[int, set] = {}
        for name, node in self.defined.items():
            if isinstance(node, ast.ClassDef):
                bases = [b.id for b in node.bases if isinstance(b, ast.Name)
                         and b.id in self.defined and isinstance(self.defined[b.id], ast.ClassDef)]
                self.classes[name] = ClassInfo(name, node, bases, methods_of(node), {})
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
        """``skipped_lines`` of a node, computed once."""
        if id(node) not in self.skipped_lines:
            self.skipped_lines[id(node)] = skipped_lines(node)
        return self.skipped_lines[id(node)]

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
                me = self_name(method)
                scope = self.scope(method)
                for node in ast.walk(method):
                    for owner, name, value in self._stores(node, {me} if me else set()):
                        self._add_attribute(cls.name if owner == me else owner, name, value, scope,
                                            f"{cls.name}.{method.name}")
        for node in ast.walk(self.tree):  # C.x = v, setattr(C, "x", v), in any code of the file
            for owner, name, value in self._stores(node, set()):
                function = next((p for p in parents(node) if isinstance(
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


def parents(node: ast.AST):
    current = getattr(node, "parent", None)
    while current is not None:
        yield current
        current = getattr(current, "parent", None)


def self_name(function: ast.AST) -> str | None:
    """The name a method calls its instance (or class) by: its first parameter, unless it is a
    staticmethod."""
    if any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in function.decorator_list):
        return None
    arguments = [*function.args.posonlyargs, *function.args.args]
    return arguments[0].arg if arguments else None


def constant_string(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def lookup_key(container: ast.AST) -> str | None:
    """For a mapping expression (``globals()``, ``sys.modules``), the constant key it is looked
    up with: ``m["k"]``, ``m.get("k")``, ``m.__getitem__("k")``, ``m.pop("k")`` and
    ``m.setdefault("k")`` give ``"k"``; any other use (a key that is not a constant, the mapping
    handed on or iterated) gives None."""
    parent = getattr(container, "parent", None)
    if isinstance(parent, ast.Subscript) and parent.value is container:
        return constant_string(parent.slice)
    if isinstance(parent, ast.Attribute) and parent.value is container:
        call = getattr(parent, "parent", None)
        if (parent.attr in ("get", "__getitem__", "pop", "setdefault") and isinstance(call, ast.Call)
                and call.func is parent and call.args):
            return constant_string(call.args[0])
    return None


def skipped_lines(node: ast.AST) -> set[int]:
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
        elif isinstance(child, ast.Expr) and constant_string(child.value) is not None:
            annotations.append(child.value)
        for annotation in annotations:
            skipped.update(id(n) for n in ast.walk(annotation))
    return skipped
