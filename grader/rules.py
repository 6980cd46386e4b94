"""The Kaggle part's rules, read from the submission's source in the trusted process.

The assignment forbids library normalization and dropout inside ``CatsDogsCNN`` and library
Adam-family optimizers in ``make_cats_dogs_optimizer`` (the student's own implementations are
allowed). This module parses ``solution.py`` with ``ast`` (it never runs it) and lists every
reference to a forbidden torch name in the code a root definition can reach: the root's own
body, and the module-level functions and classes it names, transitively.

Names are resolved through the file's imports (``import torch.nn as nn``, ``from torch.nn
import BatchNorm2d as BN``, ``from torch.optim import *``), so the student's own class called
``BatchNorm2d`` is not mistaken for torch's. Dynamic lookups (``getattr(nn, name)``) are caught
when the name is a string constant; the rest is what the module tree reported by the worker is
for (see ``library_classes``).
"""
from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass

NORMALIZATION_CLASSES = frozenset({
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LazyBatchNorm1d", "LazyBatchNorm2d",
    "LazyBatchNorm3d", "SyncBatchNorm", "LayerNorm", "GroupNorm", "InstanceNorm1d",
    "InstanceNorm2d", "InstanceNorm3d", "LazyInstanceNorm1d", "LazyInstanceNorm2d",
    "LazyInstanceNorm3d", "RMSNorm", "LocalResponseNorm", "_BatchNorm", "_NormBase",
    "_InstanceNorm", "_LazyNormBase",
    "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout",
    "_DropoutNd",
})
"""torch.nn modules (and their private bases) that CatsDogsCNN may not use."""

NORMALIZATION_FUNCTIONS = frozenset({
    "batch_norm", "layer_norm", "group_norm", "instance_norm", "rms_norm", "local_response_norm",
    "native_batch_norm", "native_layer_norm", "native_group_norm", "cudnn_batch_norm",
    "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout",
    "feature_dropout", "native_dropout",
})
"""Their functional forms (``torch.nn.functional.*``, ``torch.*``)."""

ADAM_CLASSES = frozenset({"Adam", "AdamW", "Adamax", "NAdam", "RAdam", "SparseAdam"})
ADAM_FUNCTIONS = frozenset({"adam", "adamw", "adamax", "nadam", "radam", "sparse_adam"})
"""The Adam family in torch.optim: classes, and the modules / functional forms of the same name."""


@dataclass(frozen=True)
class Rule:
    name: str
    prefix: str                  # only names under this torch package count
    classes: frozenset
    functions: frozenset


NORMALIZATION_RULE = Rule("library normalization or dropout", "torch", NORMALIZATION_CLASSES,
                          NORMALIZATION_FUNCTIONS)
ADAM_RULE = Rule("library Adam-family optimizer", "torch.optim", ADAM_CLASSES, ADAM_FUNCTIONS)


@dataclass(frozen=True)
class Finding:
    line: int
    name: str            # the torch name, e.g. "torch.nn.BatchNorm2d"
    where: str           # the definition it was found in, e.g. "CatsDogsCNN"

    def describe(self) -> str:
        return f"{self.name} (solution.py line {self.line}, in {self.where})"


class SourceError(ValueError):
    """The submission's source cannot be parsed."""


def _imports(nodes: Iterable[ast.AST]) -> dict[str, str]:
    """``{bound name: dotted origin}`` for the import statements among ``nodes``, in order."""
    bound: dict[str, str] = {}
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    bound[alias.asname] = alias.name
                else:  # "import torch.nn" binds "torch"
                    root = alias.name.split(".")[0]
                    bound[root] = root
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if alias.name == "*":
                    bound.setdefault("*", "")
                    bound["*"] += node.module + ";"
                else:
                    bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return bound


def _module_bindings(tree: ast.Module) -> tuple[dict[str, str], dict[str, ast.AST]]:
    """The module's top-level bindings, the last one of a name winning: imports (name ->
    origin) and the file's own definitions (name -> node)."""
    imported: dict[str, str] = {}
    defined: dict[str, ast.AST] = {}
    for node in tree.body:
        names = _imports([node])
        for name, origin in names.items():
            if name == "*":
                imported["*"] = imported.get("*", "") + origin
            else:
                imported[name] = origin
                defined.pop(name, None)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined[node.name] = node
            imported.pop(node.name, None)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            alias = _alias(node, imported)
            if alias:  # nn = torch.nn: another name for an imported one
                imported[alias[0]] = alias[1]
                defined.pop(alias[0], None)
                continue
            for target in targets:
                for name_node in ast.walk(target):
                    if isinstance(name_node, ast.Name):
                        defined[name_node.id] = node
                        imported.pop(name_node.id, None)
    return imported, defined


def _alias(node: ast.AST, imported: dict[str, str]) -> tuple[str, str] | None:
    """``("nn", "torch.nn")`` for an assignment ``nn = torch.nn`` whose value resolves through
    ``imported``; None for any other statement."""
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target, value = node.targets[0], node.value
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        target, value = node.target, node.value
    else:
        return None
    chain = _dotted(value) if isinstance(target, ast.Name) else None
    if chain and chain[0] in imported:
        return target.id, ".".join([imported[chain[0]], *chain[1]])
    return None


def _dotted(node: ast.AST) -> tuple[str, list[str]] | None:
    """``("nn", ["BatchNorm2d"])`` for ``nn.BatchNorm2d``; None unless the chain ends in a name."""
    attributes = []
    while isinstance(node, ast.Attribute):
        attributes.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return node.id, attributes[::-1]
    return None


def _forbidden(dotted: str, rule: Rule) -> bool:
    parts = dotted.split(".")
    if parts[0] != "torch" or not dotted.startswith(rule.prefix):
        return False
    return any(part in rule.classes or part in rule.functions for part in parts[1:])


@dataclass(frozen=True)
class _Scope:
    """Where a name used inside one definition comes from."""

    local_imports: dict
    imported: dict
    defined: dict
    star_modules: list
    rule: Rule

    def origin(self, name: str) -> str | None:
        """The dotted torch (or other imported) name ``name`` stands for; None for the file's
        own definitions, parameters and local variables."""
        if name in self.local_imports:
            return self.local_imports[name]
        if name in self.imported:
            return self.imported[name]
        if name not in self.defined:
            for module in self.star_modules:  # from torch.nn import *
                candidate = f"{module}.{name}"
                if _forbidden(candidate, self.rule):
                    return candidate
        return None


def find(source: str, roots: Iterable[str], rule: Rule, skip: Iterable[str] = ()) -> list[Finding]:
    """Every reference to a name ``rule`` forbids in the code that ``roots`` (module-level
    names) can reach. Definitions in ``skip`` are neither searched nor followed (a part
    graded on its own). Raises SourceError when the source cannot be parsed."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        raise SourceError(f"solution.py cannot be parsed: {type(error).__name__}: {error}") from None
    _mark_parents(tree)
    imported, defined = _module_bindings(tree)
    star = [m for m in imported.get("*", "").split(";") if m]
    skipped = set(skip)
    queue = [name for name in roots if name in defined and name not in skipped]
    seen: set[str] = set()
    findings: list[Finding] = []
    while queue:
        root = queue.pop()
        if root in seen:
            continue
        seen.add(root)
        node = defined[root]
        local_imports = _imports(n for n in ast.walk(node) if n is not node)
        local_star = [m for m in local_imports.pop("*", "").split(";") if m]
        for statement in ast.walk(node):  # aliases inside the definition: nn = torch.nn
            alias = _alias(statement, {**imported, **local_imports})
            if alias and statement is not node:
                local_imports[alias[0]] = alias[1]

        scope = _Scope(local_imports, imported, defined, star + local_star, rule)
        for child in ast.walk(node):
            dotted_name = None
            if isinstance(child, ast.Attribute) and not isinstance(getattr(child, "parent", None),
                                                                    ast.Attribute):
                chain = _dotted(child)
                if chain:
                    base = scope.origin(chain[0])
                    if base is not None:
                        dotted_name = ".".join([base, *chain[1]])
            elif isinstance(child, ast.Name):
                base = scope.origin(child.id)
                if base is not None:
                    dotted_name = base
                elif child.id in defined and child.id not in skipped and child.id not in seen:
                    queue.append(child.id)
            elif isinstance(child, ast.Constant) and isinstance(child.value, str):
                if child.value in rule.classes:  # getattr(nn, "BatchNorm2d")
                    dotted_name = f'"{child.value}" (named in a string)'
            elif isinstance(child, (ast.ImportFrom, ast.Import)):
                for name, source_name in _imports([child]).items():
                    if name != "*" and _forbidden(source_name, rule):
                        dotted_name = source_name
            if dotted_name and ("named in a string" in dotted_name or _forbidden(dotted_name, rule)):
                findings.append(Finding(getattr(child, "lineno", 0), dotted_name, root))
    unique = {(f.line, f.name): f for f in findings}
    return sorted(unique.values(), key=lambda f: (f.line, f.name))


def _mark_parents(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            child.parent = node


def library_classes(classes: Iterable[dict], rule: Rule, own: Iterable[str] = ()) -> list[str]:
    """The entries of a module tree or optimizer record (as the worker reports them: ``path``,
    ``module``, ``qualname``, ``mro``) whose class is, or derives from, a torch class the rule
    forbids. Classes named in ``own`` (``"solution.BatchNorm2d"``) are graded elsewhere."""
    owned = set(own)
    found = []
    for entry in classes:
        if not isinstance(entry, dict):
            continue
        name = f"{entry.get('module')}.{entry.get('qualname')}"
        if name in owned:
            continue
        mro = entry.get("mro") if isinstance(entry.get("mro"), list) else []
        for base in mro:
            if isinstance(base, str) and _forbidden(base, rule):
                where = entry.get("path")
                found.append(f"{where or '(the object itself)'}: {name}"
                             + ("" if base == name else f" (derives from {base})"))
                break
    return found
