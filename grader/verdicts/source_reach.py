"""What the code of a numpy part reaches, read with ``ast`` (never run): the walk behind the
numpy-only rule (``grader/verdicts/numpy_only.py``, whose docstring says what is followed and
what counts as reaching a framework). ``Reader`` starts at a part's roots in a ``SourceModule``
(``grader/verdicts/source_table.py``) and lists every ``Reach`` of a framework.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, replace

from grader.verdicts import rules
from grader.verdicts.source_table import (BUILTIN_NAMES, DYNAMIC_BUILTINS, IMPORT_IN_TEXT, Reach,
                                          SourceModule, constant_string, is_framework, lookup_key,
                                          methods_of, self_name)

class Reader:
    """Walks what one part's roots reach and records every framework it finds."""

    def __init__(self, module: SourceModule, part: str, other_roots: dict):
        self.module = module
        self.part = part
        self.other_roots = other_roots   # class -> its method names another part grades
        self.found: dict[tuple, Reach] = {}
        self.seen: set = set()
        self.queue: list = []
        self.root = ""
        # What visiting an item found and asked to follow is kept in the module
        # (``SourceModule.memo``) for every root and part after the first: they replay it (their own
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
            self.walk(node, scope, cls, owner, self_name(node))
            self.defaults(node, scope)
        elif kind == "definition":
            _, name, node = item
            if isinstance(node, ast.ClassDef):
                for method in methods_of(node).values():
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
        context = ReadContext(scope, cls, owner, me,
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
                match = IMPORT_IN_TEXT.search(child.value)
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
            key = lookup_key(container)
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
            module = constant_string(call.args[0])
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
        elif child.id not in BUILTIN_NAMES:
            stars = [m for m in scope.star_modules if is_framework(m)]
            if stars:  # a name defined nowhere in the file, beside `from jax.numpy import *`
                context.add(child, f"{stars[0]}.{child.id} (from `from {stars[0]} import *`)")

    def globals_lookup(self, child: ast.Name, context):
        call = getattr(child, "parent", None)
        if not (isinstance(call, ast.Call) and call.func is child):
            context.add(child, "globals, used other than as globals()[...]")
            return
        key = lookup_key(call)
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
        target, key = child.args[0], constant_string(child.args[1])
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
class ReadContext:
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
