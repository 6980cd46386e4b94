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
                    if not (isinstance(name_node, ast.Name) and isinstance(name_node.ctx, ast.Store)):
                        continue  # (`NN.T = v` and `table[k] = v` bind no name)
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


def _parse(source: str) -> ast.Module:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        raise SourceError(f"solution.py cannot be parsed: {type(error).__name__}: {error}") from None
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            child.parent = node
    return tree


def _reachable(tree: ast.Module, roots: Iterable[str], skip: Iterable[str]):
    """``(root name, node, scope)`` for every node of the definitions that ``roots``
    (module-level names) reach: their own bodies and the module-level definitions they name,
    transitively; those in ``skip`` are neither searched nor followed. Nodes inside the class
    arguments of ``isinstance``/``issubclass`` are left out."""
    imported, defined, star = _module_bindings(tree)
    skipped = set(skip)
    queue = [name for name in roots if name in defined and name not in skipped]
    seen: set[str] = set()
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
            if isinstance(child, ast.Name) and scope.origin(child.id) is None and (
                    child.id in defined and child.id not in skipped and child.id not in seen
                    and child.id not in scope.local_names):
                queue.append(child.id)
            yield root, child, scope


def _resolved(node: ast.AST, scope: _Scope) -> str | None:
    """The dotted torch (or other imported) name an expression stands for, or None."""
    chain = _dotted(node)
    base = scope.origin(chain[0]) if chain else None
    return ".".join([base, *chain[1]]) if base is not None else None


def find(source: str, roots: Iterable[str], rule: Rule, skip: Iterable[str] = ()) -> list[Finding]:
    """Every reference to a name ``rule`` forbids in the code that ``roots`` (module-level
    names) can reach. Definitions in ``skip`` are neither searched nor followed (a part
    graded on its own). Raises SourceError when the source cannot be parsed."""
    tree = _parse(source)
    findings: list[Finding] = []
    for root, child, scope in _reachable(tree, roots, skip):  # noqa: B007 - add() above reads it
        name = None
        if isinstance(child, ast.Attribute) and not isinstance(child.parent, ast.Attribute):
            name = _resolved(child, scope)
        elif isinstance(child, ast.Name):
            name = scope.origin(child.id)
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


# -- code that cannot be trained: autograd turned off in a network's forward ---------------------

GRAD_OFF = ("no_grad", "inference_mode", "set_grad_enabled")
"""torch's ways to turn autograd off (``torch.no_grad``, ``torch.autograd.grad_mode.no_grad``,
``torch.inference_mode``, ``torch.set_grad_enabled(False)``), by their last name component."""


@dataclass(frozen=True)
class GradBlocker:
    """A construct of the student's network code that cuts what follows from autograd."""

    line: int
    construct: str       # e.g. "with torch.no_grad()", ".detach()", ".data"
    where: str           # e.g. "CatsDogsCNN.forward"
    blocks_layers: bool  # it cuts a layer's output (or forward's result) from autograd
    source: str = ""

    def describe(self) -> str:
        shown = f": `{self.source}`" if self.source else ""
        return f"{self.construct} in {self.where} (solution.py line {self.line}{shown})"


def _grad_off_call(node: ast.AST, scope: _Scope) -> str | None:
    """``"torch.no_grad()"`` when ``node`` is a call that turns autograd off, else None
    (``set_grad_enabled`` only with an argument other than a literal True)."""
    if not isinstance(node, ast.Call):
        return None
    name = _resolved(node.func, scope) if isinstance(node.func, (ast.Attribute, ast.Name)) else None
    if not name or not name.startswith("torch.") or name.split(".")[-1] not in GRAD_OFF:
        return None
    if name.endswith("set_grad_enabled"):
        first = node.args[0] if node.args else next(
            (k.value for k in node.keywords if k.arg == "mode"), None)
        if isinstance(first, ast.Constant) and first.value is True:
            return None
        return f"{name}(False)"
    return f"{name}()"


def _cuts_a_layer(nodes: Iterable[ast.AST], methods: set[str], in_forward: bool) -> bool:
    """Whether the statements call ``self.<name>(...)`` where ``name`` is not a method of the
    student's (so a layer: what it computes, and everything before it, is cut from autograd),
    or, in a ``forward``, return (forward's result itself is cut)."""
    for statement in nodes:
        for node in ast.walk(statement):
            if isinstance(node, ast.Return) and in_forward:
                return True
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "self"
                    and node.func.attr not in methods):
                return True
    return False


def _enclosing(node: ast.AST, root: str) -> str:
    """``Class.method`` (or the function's name) that holds ``node``."""
    names = []
    current = getattr(node, "parent", None)
    while current is not None:
        if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(current.name)
        current = getattr(current, "parent", None)
    return ".".join(reversed(names)) or root


def _functions(node: ast.AST) -> list[str]:
    """The names of the functions that hold ``node``, innermost first."""
    names = []
    current = getattr(node, "parent", None)
    while current is not None:
        if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.append(current.name)
        current = getattr(current, "parent", None)
    return names


def _forward_code(tree: ast.Module, roots, skip) -> set[str]:
    """``forward`` and the names of the functions and methods a reachable ``forward`` calls
    (``self.name(...)``, ``name(...)``), transitively among the reachable definitions: the code
    that runs when the network computes its output (not a ``predict`` or ``fit`` beside it)."""
    functions: dict[str, list] = {}
    for _, node, _ in _reachable(tree, roots, skip):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            functions.setdefault(node.name, []).append(node)
    names, queue = {"forward"}, ["forward"]
    while queue:
        for function in functions.get(queue.pop(), []):
            for call in ast.walk(function):
                if not isinstance(call, ast.Call):
                    continue
                callee = call.func
                name = (callee.attr if isinstance(callee, ast.Attribute)
                        and isinstance(callee.value, ast.Name) and callee.value.id == "self"
                        else callee.id if isinstance(callee, ast.Name) else None)
                if name in functions and name not in names:
                    names.add(name)
                    queue.append(name)
    return names


def grad_blockers(source: str, roots: Iterable[str], skip: Iterable[str] = ()) -> list[GradBlocker]:
    """The constructs that cut a network's computation from autograd in the code ``roots`` reach
    (their classes' ``forward`` and the functions and methods it calls; ``skip``, the student's
    BatchNorm2d, is graded on its own): ``with torch.no_grad()``, ``torch.inference_mode()``,
    ``torch.set_grad_enabled(False)``, those as decorators, ``.detach()`` and ``.data``.

    ``blocks_layers`` marks the ones that, from the source alone, make forward's result
    untrainable through the layers they cover: a grad-off ``with`` block that calls a layer of
    ``self`` (an attribute that is not one of the student's methods) or, in a ``forward``,
    returns; a grad-off decorator on a ``forward``; a bare ``torch.set_grad_enabled(False)``
    call (autograd stays off for the rest of forward). The others (a mask drawn under
    ``no_grad``, ``.detach()``, ``.data``) are named when training shows that parameters did
    not learn: the capture rebuilds them as they are."""
    tree = _parse(source)
    lines = source.splitlines()
    found: dict[tuple, GradBlocker] = {}
    forward = _forward_code(tree, roots, skip)
    methods = {node.name for _, node, _ in _reachable(tree, roots, skip)
               if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}

    def add(node, construct, blocks):
        line = getattr(node, "lineno", 0)
        text = lines[line - 1].strip()[:120] if 0 < line <= len(lines) else ""
        key = (line, construct)
        if key not in found or blocks:
            found[key] = GradBlocker(line, construct, _enclosing(node, root), blocks, text)

    for root, child, scope in _reachable(tree, roots, skip):  # noqa: B007 - add() above reads it
        held_by = _functions(child)
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            held_by = [child.name]   # its decorators
        if not held_by or held_by[0] not in forward:
            continue
        if isinstance(child, (ast.With, ast.AsyncWith)):
            for item in child.items:
                construct = _grad_off_call(item.context_expr, scope)
                if construct:
                    add(child, f"with {construct}",
                        _cuts_a_layer(child.body, methods, held_by[0] == "forward"))
        elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for decorator in child.decorator_list:
                construct = _grad_off_call(decorator, scope) or (
                    _resolved(decorator, scope) if isinstance(decorator, (ast.Name, ast.Attribute))
                    else None)
                if construct and construct.split("(")[0].split(".")[-1] in GRAD_OFF:
                    add(decorator, f"@{construct}", child.name == "forward")
        elif isinstance(child, ast.Expr) and _grad_off_call(child.value, scope):
            add(child, _grad_off_call(child.value, scope), True)
        elif isinstance(child, ast.Attribute) and child.attr in ("detach", "detach_", "data") \
                and isinstance(child.ctx, ast.Load):
            # named, never decisive alone: the capture rebuilds them as they are, and training
            # shows whether the parameters behind them learned (a mask may be detached)
            add(child, ".data" if child.attr == "data" else f".{child.attr}()", False)
    return sorted(found.values(), key=lambda b: (b.line, b.construct))


def source_grad_blockers(path, cls: str) -> list[GradBlocker]:
    """``grad_blockers`` of the network class ``cls`` in the submission at ``path`` (its
    BatchNorm2d left out: running statistics are updated under no_grad by design); [] when the
    source cannot be read or parsed (the network's capture then says what is wrong)."""
    try:
        return grad_blockers(read_source(path), [cls], skip=["BatchNorm2d"])
    except (OSError, SourceError):
        return []


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
