"""A synthetic class for the similarity report (issue 27): who copied is known, so a detector can
be scored on it (``tests/test_similarity.py``, ``benchmarks/similarity.py``).

``build(folder)`` writes one file per student into ``folder/class/`` and a known public
solution into ``folder/reference/``, and returns the ground truth. The students:

- ``worked``: the worked solution, written on the template (an honest solution);
- ``renamed``: ``worked`` with every local variable and argument renamed;
- ``reordered``: ``worked`` with the methods of each class in the reverse order;
- ``recommented``: ``worked`` with its comments and docstrings removed and others written;
- ``twin_a`` and ``twin_b``: one file handed in twice, byte for byte: the template with each
  answer written independently of the worked solution (``ANOTHER_STUDENT``), so it shares only
  the template with the others;
- ``honest_c``: the template with the answers of another course's solution (the method bodies
  of ``tests/submissions/ift6390_a19_style.py``);
- ``script``: a whole solution of another course's template (``ift6135_h21_script.py``);
- ``public_copy``: the public solution (``reference/github_public.py``, the
  ``ift6390_a20_style`` file) with its variables renamed.

Copies: every pair among ``worked``, ``renamed``, ``reordered`` and ``recommented``; the twins
(identical); ``public_copy`` with the reference. Every other pair of the class is honest.
"""
from __future__ import annotations

import ast
import builtins
import io
import itertools
import keyword
import re
import textwrap
import tokenize
from dataclasses import dataclass
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
SUBMISSIONS = Path(__file__).resolve().parent / "submissions"
TEMPLATE = REPOSITORY / "template" / "solution.py"
WORKED = REPOSITORY / "solution.py"

WORKED_FAMILY = ("worked", "renamed", "reordered", "recommented")


@dataclass
class Truth:
    students: list[str]
    copies: set[frozenset]          # pairs of students that share copied code
    reference_copies: set[str]      # students who copied the reference solution
    identical: set[frozenset]       # pairs of byte-identical files

    def honest_pairs(self) -> set[frozenset]:
        pairs = {frozenset(pair) for pair in itertools.combinations(self.students, 2)}
        return pairs - self.copies - self.identical


def _local_names(tree: ast.AST) -> set[str]:
    """Names bound inside functions: arguments (but ``self``) and assigned locals."""
    names = set()
    for function in ast.walk(tree):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        arguments = function.args
        for argument in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs,
                         arguments.vararg, arguments.kwarg]:
            if argument is not None and argument.arg not in ("self", "cls"):
                names.add(argument.arg)
        for node in ast.walk(function):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
    return names - set(dir(builtins)) - set(keyword.kwlist)


def renamed(text: str, prefix: str = "my") -> str:
    """``text`` with each local name replaced everywhere it is a NAME token (keyword arguments
    included, which is what a student renaming by hand does to their own calls)."""
    mapping = {name: f"{prefix}_{name.strip('_')}_{index}"
               for index, name in enumerate(sorted(_local_names(ast.parse(text))))}
    tokens, previous = [], ""
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        # a method's or a class's name, and an attribute, are the API: they keep their names
        if (token.type == tokenize.NAME and token.string in mapping
                and previous not in ("def", "class", ".")):
            token = token._replace(string=mapping[token.string])
        tokens.append(token)
        if token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT):
            previous = token.string
    return tokenize.untokenize(tokens)


def reordered(text: str) -> str:
    """``text`` with each class's methods in the reverse order (comments inside them move with
    them; the class's other statements stay first)."""
    lines = text.splitlines(keepends=True)
    tree = ast.parse(text)
    replacements = []
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        methods = [item for item in node.body if isinstance(item, ast.FunctionDef)]
        if len(methods) < 2:
            continue
        spans = [((m.decorator_list[0].lineno if m.decorator_list else m.lineno) - 1, m.end_lineno)
                 for m in methods]
        start, end = spans[0][0], spans[-1][1]
        chunks = ["".join(lines[a:b]).rstrip("\n") + "\n\n" for a, b in spans]
        between = [line for index, line in enumerate(lines[start:end], start)
                   if not any(a <= index < b for a, b in spans)]
        kept = "".join(line for line in between if line.strip())
        replacements.append((start, end, kept + "".join(reversed(chunks))))
    for start, end, new in sorted(replacements, reverse=True):
        lines[start:end] = [new]
    return "".join(lines)


_DOCSTRING = re.compile(r'("""|\'\'\')(?:.|\n)*?\1')


def recommented(text: str) -> str:
    """``text`` without its comments and docstrings, and with a comment of its own above every
    ``def``."""
    tokens = [token for token in tokenize.generate_tokens(io.StringIO(text).readline)
              if token.type != tokenize.COMMENT]
    text = tokenize.untokenize(tokens)
    text = _DOCSTRING.sub('"""see the report"""', text)
    return re.sub(r"^(\s*)def (\w+)", r"\1# my implementation of \2\n\1def \2", text, flags=re.M)


def _method_bodies(path: Path) -> dict[str, str]:
    """``{method name: body source, dedented}`` of every class method in ``path``, without the
    docstrings (the first definition of a name wins)."""
    text = path.read_text()
    tree = ast.parse(text)
    bodies = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name not in bodies:
                    statements = [s for s in item.body if not (
                        isinstance(s, ast.Expr) and isinstance(getattr(s, "value", None), ast.Constant)
                        and isinstance(s.value.value, str))]
                    if statements:
                        lines = text.splitlines()[statements[0].lineno - 1:statements[-1].end_lineno]
                        bodies[item.name] = textwrap.dedent("\n".join(lines))
    return bodies


ANOTHER_STUDENT = {
    # An honest student's own answers to the template, written for this class independently of
    # the worked solution (lists instead of dicts, loops instead of dispatch tables).
    ("NN", "initialize_weights"): """
sizes = [dims[0], *self.hidden_dims, dims[1]]
rng = np.random.default_rng(self.seed)
self.weights = {}
for k in range(len(sizes) - 1):
    fan_in, fan_out = sizes[k], sizes[k + 1]
    if self.init_method == "glorot":
        d = (6.0 / (fan_in + fan_out)) ** 0.5
        w = rng.uniform(-d, d, size=(fan_in, fan_out))
    elif self.init_method == "normal":
        w = rng.normal(0.0, 1.0, size=(fan_in, fan_out))
    else:
        w = np.zeros((fan_in, fan_out))
    self.weights["W" + str(k + 1)] = w
    self.weights["b" + str(k + 1)] = np.zeros((1, fan_out))
""",
    ("NN", "relu"): "return (x > 0).astype(float) if grad else x * (x > 0)",
    ("NN", "sigmoid"): """
s = np.exp(-np.logaddexp(0.0, -x))
return s * (1.0 - s) if grad else s
""",
    ("NN", "tanh"): """
t = np.tanh(x)
return 1.0 - t ** 2 if grad else t
""",
    ("NN", "leaky_relu"): """
slope = np.where(x > 0, 1.0, 0.01)
return slope if grad else slope * x
""",
    ("NN", "activation"): """
name = self.activation_str
if name not in ("relu", "sigmoid", "tanh", "leaky_relu"):
    raise ValueError("unknown activation " + str(name))
return getattr(self, name)(x, grad)
""",
    ("NN", "softmax"): """
shifted = x - x.max(axis=-1, keepdims=True)
e = np.exp(shifted)
return e / e.sum(axis=-1, keepdims=True)
""",
    ("NN", "forward"): """
out = {"Z0": x}
h = x
layers = self.n_hidden + 1
for k in range(1, layers + 1):
    a = h @ self.weights["W%d" % k] + self.weights["b%d" % k]
    out["A%d" % k] = a
    h = self.activation(a) if k < layers else self.softmax(a)
    out["Z%d" % k] = h
return out
""",
    ("NN", "backward"): """
layers = self.n_hidden + 1
n = labels.shape[0]
g = {}
delta = (cache["Z%d" % layers] - labels) / n
for k in range(layers, 0, -1):
    g["dA%d" % k] = delta
    g["dW%d" % k] = cache["Z%d" % (k - 1)].T.dot(delta)
    g["db%d" % k] = delta.sum(axis=0, keepdims=True)
    if k > 1:
        upstream = delta.dot(self.weights["W%d" % k].T)
        g["dZ%d" % (k - 1)] = upstream
        delta = upstream * self.activation(cache["A%d" % (k - 1)], grad=True)
return g
""",
    ("NN", "update"): """
for k in range(1, self.n_hidden + 2):
    for kind in ("W", "b"):
        self.weights[kind + str(k)] = self.weights[kind + str(k)] - self.lr * grads["d" + kind + str(k)]
""",
    ("NN", "loss"): """
p = np.clip(prediction, self.epsilon, 1 - self.epsilon)
return float(-(labels * np.log(p)).sum() / len(p))
""",
    ("NN", "evaluate"): """
X, y = self.test
return self.compute_loss_and_accuracy(X, y)[:2]
""",
    ("NN", "finite_difference"): """
W = self.weights["W%d" % layer]
estimates = []
for j in range(p):
    r, c = divmod(j, W.shape[1])
    original = W[r, c]
    W[r, c] = original + epsilon
    up = self.loss(self.forward(x)["Z%d" % (self.n_hidden + 1)], labels)
    W[r, c] = original - epsilon
    down = self.loss(self.forward(x)["Z%d" % (self.n_hidden + 1)], labels)
    W[r, c] = original
    estimates.append((up - down) / (2 * epsilon))
return np.array(estimates)
""",
    ("SGD", "step"): """
for name, g in self.gradients(params, grads).items():
    params[name] -= self.lr * g
""",
    ("Momentum", "step"): """
for name, g in self.gradients(params, grads).items():
    v = self.momentum * self.velocity.get(name, 0.0) + g
    self.velocity[name] = v
    params[name] -= self.lr * v
""",
    ("AdaGrad", "step"): """
for name, g in self.gradients(params, grads).items():
    acc = self.sums.get(name, 0.0) + g * g
    self.sums[name] = acc
    params[name] -= self.lr * g / (np.sqrt(acc) + self.eps)
""",
    ("Adam", "step"): """
self.t += 1
b1, b2 = self.betas
for name, g in self.gradients(params, grads).items():
    m = b1 * self.m.get(name, 0.0) + (1 - b1) * g
    v = b2 * self.v.get(name, 0.0) + (1 - b2) * g * g
    self.m[name], self.v[name] = m, v
    m_hat, v_hat = m / (1 - b1 ** self.t), v / (1 - b2 ** self.t)
    params[name] -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
""",
    ("Dropout", "forward"): """
if not train or self.p == 0:
    return x, np.ones_like(x)
keep = (self.rng.random(x.shape) >= self.p) / (1.0 - self.p)
return x * keep, keep
""",
    ("Dropout", "backward"): "return dout * mask",
}


def answered_by_another_student() -> str:
    """The template answered with ``ANOTHER_STUDENT``'s bodies (each ``raise
    NotImplementedError`` of a method it answers replaced; the others stay)."""
    lines = TEMPLATE.read_text().splitlines()
    cls = method = None
    used, out = set(), []
    for line in lines:
        found = re.match(r"class (\w+)", line)
        if found:
            cls = found.group(1)
        found = re.match(r"\s*def (\w+)\(", line)
        if found:
            method = found.group(1)
        match = _RAISE.match(line)
        key = (cls, method)
        if match and key in ANOTHER_STUDENT and key not in used:
            used.add(key)
            out.extend(textwrap.indent(ANOTHER_STUDENT[key].strip("\n") + "\n",
                                       match.group(1)).splitlines())
        elif match and key in used:
            out.append(f"{match.group(1)}pass")
        else:
            out.append(line)
    return "\n".join(out) + "\n"


_RAISE = re.compile(r"^(\s*)raise NotImplementedError.*$")


def answered_from(other: Path) -> str:
    """The template with each answer (a ``raise NotImplementedError`` line) replaced by the body
    of ``other``'s method of the same name: an answer written independently of ``worked``."""
    bodies = _method_bodies(other)
    lines = TEMPLATE.read_text().splitlines()
    method, used = None, set()
    out = []
    for line in lines:
        found = re.match(r"\s*def (\w+)\(", line)
        if found:
            method = found.group(1)
        match = _RAISE.match(line)
        if match and method in bodies and method not in used:
            used.add(method)
            out.extend(textwrap.indent(bodies[method], match.group(1)).splitlines())
        elif match and method in used:
            out.append(f"{match.group(1)}pass")
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def build(folder: Path) -> Truth:
    """Write the class (``folder/class/<student>.py``) and the reference
    (``folder/reference/github_public.py``); return the ground truth."""
    worked = WORKED.read_text()
    public = (SUBMISSIONS / "ift6390_a20_style.py").read_text()
    honest_b = answered_by_another_student()
    files = {
        "worked": worked,
        "renamed": renamed(worked),
        "reordered": reordered(worked),
        "recommented": recommented(worked),
        "twin_a": honest_b,
        "twin_b": honest_b,
        "honest_c": answered_from(SUBMISSIONS / "ift6390_a19_style.py"),
        "script": (SUBMISSIONS / "ift6135_h21_script.py").read_text(),
        "public_copy": renamed(public, prefix="v"),
    }
    (folder / "class").mkdir(parents=True)
    (folder / "reference").mkdir()
    for student, text in files.items():
        (folder / "class" / f"{student}.py").write_text(text)
    (folder / "reference" / "github_public.py").write_text(public)
    copies = {frozenset(pair) for pair in itertools.combinations(WORKED_FAMILY, 2)}
    return Truth(students=sorted(files), copies=copies, reference_copies={"public_copy"},
                 identical={frozenset(("twin_a", "twin_b"))})
