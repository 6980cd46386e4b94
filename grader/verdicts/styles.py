"""Which course template a submission was written for, read from its source, and how to call it.

Code written for the original course templates (IFT6135 H20/H21, IFT6390 A19/A20) is graded on
what it implements, so the grader calls it the way that template's own code expects:

- **integer labels**: the IFT6390 templates (and IFT6135 H20) keep integer labels in
  ``self.train``/``self.valid``/``self.test`` and convert them in the given lines
  ``y_onehot = self.one_hot(y_train)`` (``train_loop``) and ``one_y = self.one_hot(y)``
  (``compute_loss_and_accuracy``). Such a file gets integer labels wherever a split or
  ``compute_loss_and_accuracy``'s ``y`` is sent; ``backward`` and ``loss`` still get one-hot
  labels, as that template's own loop gives them. The style is read from those calls, not
  guessed by trying both forms: a file that calls ``self.one_hot`` on the labels there cannot
  work with one-hot labels, and a file that does not cannot work with integers.
- **names**: IFT6390 A20 spells leaky relu ``leakyrelu`` (method and ``activation_str``); some
  files spell the zero initializer ``"zeros"``, and some templates accept only ``'Glorot'``,
  ``'Normal'``, ``'Zeros'`` or ``'ReLU'``. A file that uses such a spelling (in any case) and
  never the interface's gets its spelling.
- **the handout's own lines**: the original templates gave the student in-place clipping in
  ``loss`` and ``raise Exception("invalid")`` in ``activation``. Those must not cost points in a
  file written for those templates (``original_template``); this project's template says
  otherwise (clip a copy, raise ValueError), so its files keep those checks.

Everything here reads the source in the trusted process and never runs it. The expected values
never depend on the style: a request is rewritten, the reference's answer is not.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field

import numpy as np

OWN_TEMPLATE_CLASSES = ("Optimizer", "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSProp",
                        "RMSPropNesterov", "AdaDelta", "Adam", "BatchNorm", "Dropout",
                        "BatchNorm2d", "MnistCNN", "CatsDogsCNN")
"""Classes of this project's template beside NN (a student who kept its stubs still has them);
the original course templates have none of them."""

ACTIVATION_SPELLINGS = {"leaky_relu": ("leakyrelu",)}
"""Other spellings of an activation's name (method and ``activation_str``), by interface name."""

INIT_METHOD_SPELLINGS = {"zero": ("zeros",), "normal": (), "glorot": ()}
"""The ``init_method`` names the grader uses, with the other spellings it accepts."""

SPLITS = ("train", "valid", "test")


def accepted_init_names() -> str:
    """The accepted ``init_method`` names, for messages: "'zero' (or 'zeros'), 'normal', ..."."""
    return ", ".join(repr(name) + (f" (or {', '.join(map(repr, other))})" if other else "")
                     for name, other in INIT_METHOD_SPELLINGS.items())


@dataclass(frozen=True)
class Style:
    original_template: bool = False
    integer_labels: bool = False
    method_names: dict = field(default_factory=dict)       # interface name -> the file's method
    activation_names: dict = field(default_factory=dict)   # interface name -> the file's string
    init_names: dict = field(default_factory=dict)         # interface name -> the file's string

    def describe(self) -> str:
        parts = []
        if self.original_template:
            parts.append("written for an original course template")
        if self.integer_labels:
            parts.append("integer labels (self.one_hot)")
        for kind, names in (("method", self.method_names), ("activation", self.activation_names),
                            ("init_method", self.init_names)):
            parts += [f"{kind} {theirs!r} for {ours!r}" for ours, theirs in names.items()]
        return "; ".join(parts) or "this project's template"

    def adapt(self, message: dict) -> dict:
        """The request ``message`` as this file's template expects it (a new dict)."""
        message = dict(message)
        method = message.get("method")
        if method in self.method_names:
            message["method"] = self.method_names[method]
        if message.get("substitute"):
            substitute = list(message["substitute"])
            substitute += [self.method_names[n] for n in substitute if n in self.method_names]
            message["substitute"] = substitute
        config = dict(message.get("config") or {})
        if config.get("activation") in self.activation_names:
            config["activation"] = self.activation_names[config["activation"]]
        if config.get("init_method") in self.init_names:
            config["init_method"] = self.init_names[config["init_method"]]
        if self.integer_labels:
            state = dict(message.get("state") or {})
            for split in SPLITS:
                value = state.get(split)
                if isinstance(value, (tuple, list)) and len(value) == 2 and _one_hot(value[1]):
                    state[split] = (value[0], np.argmax(value[1], axis=1))
                    # The template's one_hot sizes its output by self.n_classes.
                    config.setdefault("n_classes", int(value[1].shape[1]))
            if state:
                message["state"] = state
            args = list(message.get("args") or [])
            if method == "compute_loss_and_accuracy" and len(args) >= 2 and _one_hot(args[1]):
                config.setdefault("n_classes", int(args[1].shape[1]))
                args[1] = np.argmax(args[1], axis=1)
                message["args"] = args
        if config:
            message["config"] = config
        return message


def _one_hot(labels) -> bool:
    return isinstance(labels, np.ndarray) and labels.ndim == 2


def _nn_class(tree: ast.Module) -> ast.ClassDef | None:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "NN":
            return node
    return None


def _methods(cls: ast.ClassDef) -> dict:
    return {node.name: node for node in cls.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}


def _calls_self_method(function: ast.AST | None, name: str) -> bool:
    return function is not None and any(
        isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and node.func.attr == name and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "self" for node in ast.walk(function))


def _strings(node: ast.AST) -> set:
    return {child.value for child in ast.walk(node)
            if isinstance(child, ast.Constant) and isinstance(child.value, str)}


def _own_spelling(ours: str, others, strings: set) -> str | None:
    """The file's own spelling of the name ``ours`` when the file never uses ``ours`` itself:
    one of its string constants that is ``ours`` or one of ``others`` in any case (a template
    that accepts only ``'Glorot'``, ``'Zeros'`` or ``'ReLU'``). None when it uses ``ours``, or
    none or several such strings."""
    if ours in strings:
        return None
    accepted = {ours, *others}
    found = sorted(text for text in strings if text.lower() in accepted)
    return found[0] if len(found) == 1 else None


def detect(source: str) -> Style:
    """The style of the submission whose text is ``source`` (this project's when it cannot be
    parsed: the worker then reports the SyntaxError)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return Style()
    cls = _nn_class(tree)
    if cls is None:
        return Style()
    defined = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    methods = _methods(cls)
    strings = _strings(tree)
    method_names, activation_names = {}, {}
    for ours, others in ACTIVATION_SPELLINGS.items():
        for theirs in others:
            if ours not in methods and theirs in methods:
                method_names[ours] = theirs
    for ours in ("relu", "sigmoid", "tanh", "leaky_relu"):
        theirs = _own_spelling(ours, ACTIVATION_SPELLINGS.get(ours, ()), strings)
        if theirs:
            activation_names[ours] = theirs
    init_names = {}
    for ours, others in INIT_METHOD_SPELLINGS.items():
        theirs = _own_spelling(ours, others, strings)
        if theirs:
            init_names[ours] = theirs
    integer_labels = (_calls_self_method(methods.get("train_loop"), "one_hot")
                      or _calls_self_method(methods.get("compute_loss_and_accuracy"), "one_hot"))
    return Style(original_template=not (defined & set(OWN_TEMPLATE_CLASSES)),
                 integer_labels=integer_labels, method_names=method_names,
                 activation_names=activation_names, init_names=init_names)


def handout_clipping(before: np.ndarray, after, epsilon: float) -> bool:
    """Whether ``after`` is exactly what the original templates' given lines in ``loss``
    (``prediction[np.where(prediction < self.epsilon)] = self.epsilon``, and the same for
    ``1 - epsilon``) leave in the caller's ``before``: only those lines changed it."""
    return (isinstance(after, np.ndarray) and after.shape == before.shape
            and np.array_equal(after, np.clip(before, epsilon, 1 - epsilon)))
