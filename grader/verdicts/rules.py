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

NORMALIZATION_WORDS = ("batchnorm", "batch_norm", "layernorm", "layer_norm", "groupnorm",
                       "group_norm", "instancenorm", "instance_norm", "rmsnorm", "rms_norm",
                       "localresponsenorm", "local_response_norm", "normbase", "dropout")
"""A torch name with one of these in a component (any case) is library normalization or dropout:
``torch.nn.BatchNorm2d``, ``torch.nn.functional.dropout``, ``torch.batch_norm_stats``,
``torch.nn.modules.dropout._DropoutNd``, ``torch.dropout_`` ..."""

ADAM_WORDS = ("adam",)
"""The Adam family in torch.optim: Adam, AdamW, Adamax, NAdam, RAdam, SparseAdam, their modules
and functional forms (no other torch optimizer has "adam" in its name)."""


@dataclass(frozen=True)
class Rule:
    name: str
    prefix: str                  # only names under this torch package count
    words: tuple


NORMALIZATION_RULE = Rule("library normalization or dropout", "torch", NORMALIZATION_WORDS)
ADAM_RULE = Rule("library Adam-family optimizer", "torch.optim", ADAM_WORDS)


@dataclass(frozen=True)
class Finding:
    line: int
    name: str            # the torch name, e.g. "torch.nn.BatchNorm2d"
    where: str           # the definition it was found in, e.g. "CatsDogsCNN"

    def describe(self) -> str:
        return f"{self.name} (solution.py line {self.line}, in {self.where})"


class SourceError(ValueError):
    """The submission's source cannot be parsed."""


def read_source(path) -> str:
    """The submission's text as Python reads it (a UTF-8 byte-order mark is allowed)."""
    with open(path, "rb") as file:
        return file.read().decode("utf-8-sig", errors="replace")


def _forbidden(dotted: str, rule: Rule) -> bool:
    parts = dotted.split(".")
    if parts[0] != "torch" or not (dotted + ".").startswith(rule.prefix + "."):
        return False
    return any(word in part.lower() for part in parts[1:] for word in rule.words)


def _imports(nodes: Iterable[ast.AST]) -> tuple[dict[str, str], list[str]]:
    """``({bound name: dotted origin}, [star-imported module, ...])`` for the import statements
    among ``nodes``, in order."""
    bound: dict[str, str] = {}
    star: list[str] = []
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
                    star.append(node.module)
                else:
                    bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return bound, star


def _dotted(node: ast.AST) -> tuple[str, list[str]] | None:
    """``("nn", ["BatchNorm2d"])`` for ``nn.BatchNorm2d``; None unless the chain ends in a name."""
    attributes = []
    while isinstance(node, ast.Attribute):
        attributes.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return node.id, attributes[::-1]
    return None


def _aliases(node: ast.AST, known: dict[str, str]) -> list[tuple[str, str]]:
    """``[("nn", "torch.nn")]`` for ``nn = torch.nn`` (also ``nn, F = torch.nn, torch.nn.functional``)
    where the value resolves through ``known``; [] for any other statement."""
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target, value = node.targets[0], node.value
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        target, value = node.target, node.value
    else:
        return []
    pairs = [(target, value)]
    if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple) and len(target.elts) == len(value.elts):
        pairs = list(zip(target.elts, value.elts, strict=True))
    found = []
    for name, expression in pairs:
        chain = _dotted(expression) if isinstance(name, ast.Name) else None
        if chain and chain[0] in known:
            found.append((name.id, ".".join([known[chain[0]], *chain[1]])))
    return found


def _module_statements(body: list, nested: bool = False) -> Iterable[tuple[ast.AST, bool]]:
    """``(statement, nested)`` for the module's statements, including those inside top-level
    if/try/with/for/while blocks (an import under ``try:`` binds a module-level name too), but
    not inside definitions."""
    for node in body:
        yield node, nested
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for field in ("body", "orelse", "finalbody"):
            yield from _module_statements(getattr(node, field, []) or [], True)
        for handler in getattr(node, "handlers", []) or []:
            yield from _module_statements(handler.body, True)


def _module_bindings(tree: ast.Module) -> tuple[dict[str, str], dict[str, ast.AST], list[str]]:
    """The module's top-level bindings, the last one of a name winning: imports and aliases
    (name -> dotted origin), the file's own definitions (name -> node) and star-imported modules."""
    imported: dict[str, str] = {}
    defined: dict[str, ast.AST] = {}
    star: list[str] = []
    for node, nested in _module_statements(tree.body):
        names, modules = _imports([node])
        star += modules
        for name, origin in names.items():
            imported[name] = origin
            defined.pop(name, None)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined[node.name] = node
            imported.pop(node.name, None)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            aliases = dict(_aliases(node, imported))
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for name_node in ast.walk(target):
                    if not isinstance(name_node, ast.Name):
                        continue
                    if name_node.id in aliases:  # nn = torch.nn: another name for an import
                        imported[name_node.id] = aliases[name_node.id]
                        defined.pop(name_node.id, None)
                    elif not (nested and name_node.id in imported):
                        # (a fallback such as "except ImportError: LN = None" keeps the import)
                        defined[name_node.id] = node
                        imported.pop(name_node.id, None)
    return imported, defined, star


def _star_origin(name: str, modules: list[str]) -> str | None:
    """``"torch.nn.LayerNorm"`` when ``name`` comes from ``from torch.nn import *``: only names
    the torch module really has (the trusted process imports torch anyway)."""
    import importlib

    for module in modules:
        if module != "torch" and not module.startswith("torch."):
            continue
        try:
            if hasattr(importlib.import_module(module), name):
                return f"{module}.{name}"
        except Exception:  # noqa: BLE001 - a module name from the student's source
            continue
    return None


@dataclass(frozen=True)
class _Scope:
    """Where a name used inside one definition comes from."""

    local_imports: dict     # imports and aliases inside the definition
    local_names: frozenset  # parameters and other names the definition binds itself
    imported: dict
    defined: dict
    star_modules: list

    def origin(self, name: str) -> str | None:
        """The dotted (imported) name ``name`` stands for; None for the file's own definitions,
        parameters and local variables."""
        if name in self.local_imports:
            return self.local_imports[name]
        if name in self.local_names:
            return None
        if name in self.imported:
            return self.imported[name]
        if name not in self.defined:
            return _star_origin(name, self.star_modules)
        return None


def _scope(node: ast.AST, imported: dict, defined: dict, star: list) -> _Scope:
    inner = [n for n in ast.walk(node) if n is not node]
    local_imports, local_star = _imports(inner)
    for statement in inner:  # aliases inside the definition: nn = torch.nn
        local_imports.update(_aliases(statement, {**imported, **local_imports}))
    local_names = set()
    for n in inner:
        if isinstance(n, ast.arg):
            local_names.add(n.arg)
        elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            local_names.add(n.id)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            local_names.add(n.name)
    return _Scope(local_imports, frozenset(local_names - set(local_imports)), imported, defined,
                  star + local_star)


def _type_checks(node: ast.AST) -> set[int]:
    """Ids of the nodes in the class arguments of ``isinstance``/``issubclass`` calls: naming a
    library class to recognise it (``isinstance(m, nn.BatchNorm2d)`` in an init loop) uses nothing."""
    skipped: set[int] = set()
    for call in ast.walk(node):
        if (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
                and call.func.id in ("isinstance", "issubclass") and len(call.args) == 2):
            skipped.update(id(n) for n in ast.walk(call.args[1]))
    return skipped


def find(source: str, roots: Iterable[str], rule: Rule, skip: Iterable[str] = ()) -> list[Finding]:
    """Every reference to a name ``rule`` forbids in the code that ``roots`` (module-level
    names) can reach. Definitions in ``skip`` are neither searched nor followed (a part
    graded on its own). Raises SourceError when the source cannot be parsed."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        raise SourceError(f"solution.py cannot be parsed: {type(error).__name__}: {error}") from None
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            child.parent = node
    imported, defined, star = _module_bindings(tree)
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
        scope = _scope(node, imported, defined, star)
        ignored = _type_checks(node)
        for child in ast.walk(node):
            if id(child) in ignored:
                continue
            name = None
            if isinstance(child, ast.Attribute) and not isinstance(child.parent, ast.Attribute):
                chain = _dotted(child)
                base = scope.origin(chain[0]) if chain else None
                if base is not None:
                    name = ".".join([base, *chain[1]])
            elif isinstance(child, ast.Name):
                name = scope.origin(child.id)
                if (name is None and child.id in defined and child.id not in skipped
                        and child.id not in seen and child.id not in scope.local_names):
                    queue.append(child.id)
            elif isinstance(child, (ast.ImportFrom, ast.Import)):
                forbidden = [o for o in _imports([child])[0].values() if _forbidden(o, rule)]
                name = forbidden[0] if forbidden else None
            elif (isinstance(child, ast.Call) and isinstance(child.func, ast.Name)
                  and child.func.id == "getattr" and len(child.args) >= 2
                  and isinstance(child.args[1], ast.Constant) and isinstance(child.args[1].value, str)
                  and _forbidden(f"{rule.prefix}.{child.args[1].value}", rule)):
                name = f'getattr(..., "{child.args[1].value}")'
                findings.append(Finding(getattr(child, "lineno", 0), name, root))
                continue
            if name and _forbidden(name, rule):
                findings.append(Finding(getattr(child, "lineno", 0), name, root))
    unique = {(f.line, f.name): f for f in findings}
    return sorted(unique.values(), key=lambda f: (f.line, f.name))


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
