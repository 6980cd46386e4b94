"""Does any module of a student handout compute a numpy part's answer? A behavioural probe.

The handout must not ship code that computes the answer to a numpy part (backward, the
optimizers, BatchNorm, ...), not even as a "wrong variant" whose defaults, or whose input in
another mode, give the right result. Reading the source for strings cannot tell; running it can:

1. ``build_cases`` (in the instructor's repository, with torch) draws fresh inputs shaped like
   the public tests' (from the tests' own case builders, with a seed of their own, so that no
   recorded output of a withheld rule applies) and computes every numpy part's answers on them
   with the references. Each part gets *pools* (parameter name -> value, under the names code
   usually gives them) and *answers* (the arrays and numbers a correct part returns).
2. ``python tests/answer_probe.py HANDOUT CASES`` (a subprocess) replaces torch and torchvision
   by stand-ins that compute nothing (every attribute is a ``MagicMock``), imports every module
   of the handout but ``solution.py``, and calls every function defined at module level (or kept
   in a module-level dict, list or tuple) whose parameters it can fill from a pool, with its other
   arguments left at their defaults. Any array or number in what it returns that equals one of
   that part's answers is reported. torch is the references' only means to compute, so an
   answer that comes back was computed by the handout's own numpy code.

It reports functions it could call and modules it could not import, so that a probe which
reaches nothing cannot pass unnoticed.
"""
from __future__ import annotations

import contextlib
import copy
import importlib
import importlib.abc
import importlib.machinery
import inspect
import io
import json
import pickle
import signal
import sys
import types
import warnings
from pathlib import Path

import numpy as np

PROBE_SEED = 2424
"""The fresh inputs' seed: not a test's, so the handout's recorded outputs do not apply."""
CALL_TIMEOUT_S = 5.0
RTOL, ATOL = 1e-5, 1e-8
"""An output this close to an answer would pass the grader's comparison (``tolerances.RTOL``)."""

ALIASES = {
    "weights": ("weights", "params", "parameters"),
    "x": ("x", "X", "inputs", "data"),
    "labels": ("labels", "y", "Y", "targets", "y_true"),
    "name": ("name", "activation", "activation_str", "act"),
    "cache": ("cache",),
    "layers": ("layers", "n_layers", "depth"),
    "logits": ("x", "logits", "z", "v", "a", "scores", "values", "inputs"),
    "values": ("x", "a", "z", "h", "values", "inputs"),
    "prediction": ("prediction", "predictions", "output", "probabilities", "probs", "y_pred"),
    "epsilon": ("epsilon", "eps"),
    "grads": ("grads", "gradients"),
    "lr": ("lr", "learning_rate"),
    "optimizer": ("name", "optimizer", "optimizer_name"),
    "hyper": ("hyper", "hyperparameters", "hyper_parameters", "config", "options"),
    "params": ("params", "parameters", "weights"),
    "stream": ("stream", "grad_steps", "gradients", "steps"),
}


def _pool(**named) -> dict:
    """A pool: each value under every alias of its name (``ALIASES``) or under its own name."""
    pool = {}
    for name, value in named.items():
        for alias in ALIASES.get(name, (name,)):
            pool.setdefault(alias, value)
    return pool


def _values(tree) -> list:
    """The arrays and numbers in ``tree`` (dicts, lists and tuples of them), as float64 arrays."""
    found, stack = [], [tree]
    while stack and len(found) < 100_000:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, np.ndarray) and item.dtype.kind in "iuf" and item.size:
            found.append(item.astype(np.float64))
        elif isinstance(item, (float, np.floating)) and not isinstance(item, bool):
            found.append(np.asarray(float(item)))
    return found


def _close(got: np.ndarray, answer: np.ndarray) -> bool:
    if got.shape != answer.shape:
        return False
    with np.errstate(all="ignore"):
        return bool(np.all(np.isfinite(got))
                    and np.all(np.abs(got - answer) <= RTOL * np.abs(answer) + ATOL))


# -- the parent's side: cases and their answers (the instructor's repository, with torch) ----------

def build_cases(seed: int = PROBE_SEED) -> dict:
    """``{part: {"pools": [...], "answers": [arrays]}}`` on fresh inputs shaped like the public
    tests'. Answers that equal one of the part's inputs (a running statistic that evaluation
    leaves alone) are dropped: returning an input is not computing it."""
    from grader.parts import activations as activations_part
    from grader.parts import backward as backward_part
    from grader.parts import batchnorm as batchnorm_part
    from grader.parts import finite_difference as finite_difference_part
    from grader.parts import optimizers as optimizers_part
    from grader.parts import softmax as softmax_part
    from grader.verdicts import cases
    from grader.verdicts.nn_parts import EPSILON_LOSS, backward_case
    from reference import mlp, optim
    from reference.normalization import batchnorm_steps

    rng = np.random.default_rng(seed)
    parts = {part: {"pools": [], "answers": []} for part in (
        "activations", "softmax", "forward", "loss", "network_loss", "backward", "update",
        "finite_difference", "optimizers", "batchnorm")}

    def add(part, pool, *answers):
        parts[part]["pools"].append(pool)
        for answer in answers:
            parts[part]["answers"].extend(_values(answer))

    x = activations_part.inputs(rng)
    for name in mlp.ACTIVATIONS:
        add("activations", _pool(values=x, name=name), mlp.activation(name, x),
            mlp.activation(name, x, grad=True))
    for build in (*softmax_part.PUBLIC_INPUTS.values(), lambda r: r.normal(0.0, 3.0, size=7)):
        logits = build(rng)
        add("softmax", _pool(logits=logits), mlp.softmax(logits))
    for graded in backward_part.PUBLIC_CASES.values():
        for name, sizes in graded:
            weights, x, labels = backward_case(rng, sizes)
            cache = mlp.forward(weights, x, name)
            add("forward", _pool(weights=weights, x=x, name=name),
                {k: v for k, v in cache.items() if k != "Z0"})
            add("backward", _pool(weights=weights, x=x, labels=labels, cache=cache, name=name),
                mlp.backward(weights, x, labels, name))
            # The loss of the network on a batch: forward, softmax and loss at once.
            add("network_loss", _pool(weights=weights, x=x, labels=labels, name=name,
                                      layers=mlp.n_layers(weights)),
                mlp.loss_and_accuracy(weights, x, labels, name, EPSILON_LOSS)[0])
            grads = {k: v for k, v in mlp.backward(weights, x, labels, name).items()
                     if k.startswith(("dW", "db"))}
            add("update", _pool(weights=weights, grads=grads, lr=0.05),
                mlp.sgd_update(weights, grads, 0.05))
    prediction = cases.probabilities(rng, 10, 6)
    labels = cases.one_hot(rng.integers(0, 6, size=10), 6)
    add("loss", _pool(prediction=prediction, labels=labels, epsilon=1e-6),
        mlp.mean_cross_entropy(prediction, labels, 1e-6))
    for options in finite_difference_part.PUBLIC_CASES.values():
        case = finite_difference_part.make_case(rng, **options)
        inputs = (case["weights"], case["x"], case["labels"], case["name"], case["epsilon"],
                  case["layer"], case["p"])
        add("finite_difference",
            _pool(**{k: v for k, v in case.items() if k != "hidden"}, loss_epsilon=EPSILON_LOSS),
            mlp.central_differences(*inputs, EPSILON_LOSS))
    for name in optim.OPTIMIZERS:
        for hyper, params, stream, _ in optimizers_part.runs(rng, name):
            add("optimizers", _pool(optimizer=name, hyper=hyper, params=params, stream=stream),
                optim.trajectory(name, hyper, params, stream))
    for build in batchnorm_part.PUBLIC_CASES.values():
        state, steps, momentum = build(rng)
        # Each batch in the other mode too: a variant of evaluation that normalizes with the
        # batch's statistics computes the training forward of the same x.
        flipped = [{**step, "train": not step["train"]} for step in steps]
        for run in (steps, flipped):
            records = batchnorm_steps(state, run, batchnorm_part.EPS, momentum)
            add("batchnorm", _pool(state=state, steps=run, eps=batchnorm_part.EPS,
                                   momentum=momentum), records)
            for step in run:
                add("batchnorm", _pool(**step, **state, eps=batchnorm_part.EPS, momentum=momentum))
    for part in parts.values():
        inputs = [value for pool in part["pools"] for value in _values(pool)]
        part["answers"] = [answer for answer in part["answers"]
                           if not any(_close(answer, value) for value in inputs)]
    return parts


# -- the subprocess's side: the handout with torch that computes nothing --------------------------

class _StandIn(types.ModuleType):
    """A module of torch or torchvision that computes nothing: every attribute is a mock, and a
    capitalized one (``Tensor``, ``Module``) a mock class, so that code subclassing it imports."""

    def __getattr__(self, attribute):
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        from unittest import mock

        value = (type(attribute, (mock.MagicMock,), {}) if attribute[:1].isupper()
                 else mock.MagicMock(name=f"{self.__name__}.{attribute}"))
        setattr(self, attribute, value)
        return value


class _StandInFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    ROOTS = ("torch", "torchvision")

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in self.ROOTS:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        return _StandIn(spec.name)

    def exec_module(self, module):
        module.__path__ = []


class _Timeout(Exception):
    pass


def _candidates(module) -> list:
    """``[(label, function)]`` of the functions ``module`` defines at module level, or keeps in
    a module-level dict, list or tuple (a table of activations, of test cases)."""
    found = []
    for attribute, value in sorted(vars(module).items()):
        if inspect.isfunction(value) and value.__module__ == module.__name__:
            found.append((f"{module.__name__}.{attribute}", value))
        elif isinstance(value, (dict, list, tuple)) and not attribute.startswith("__"):
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in list(items)[:200]:
                if inspect.isfunction(item) and item.__module__ == module.__name__:
                    found.append((f"{module.__name__}.{attribute}[{key!r}]", item))
                elif isinstance(item, np.ufunc) and item.nin == 1:   # {"tanh": np.tanh}
                    found.append((f"{module.__name__}.{attribute}[{key!r}]",
                                  lambda x, ufunc=item: ufunc(x)))
    return found


def _bind(function, pool: dict):
    """Keyword arguments for ``function`` from ``pool``, or None when a parameter without a
    default has no value there, or when nothing but names and numbers would be passed."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return None
    arguments = {}
    for parameter in parameters:
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if parameter.name in pool and parameter.kind != parameter.POSITIONAL_ONLY:
            arguments[parameter.name] = pool[parameter.name]
        elif parameter.default is parameter.empty:
            return None
    if not any(isinstance(value, (np.ndarray, dict, list)) for value in arguments.values()):
        return None
    return arguments


def probe(handout: Path, parts: dict) -> dict:
    """Import every module of ``handout`` (with torch standing in) and call what can be called
    on each part's pools; ``{"modules", "skipped", "import_errors", "calls", "answers"}``."""
    sys.meta_path.insert(0, _StandInFinder())
    sys.path.insert(0, str(handout))
    warnings.simplefilter("ignore")
    np.seterr(all="ignore")
    modules, import_errors = [], {}
    # The worker's programs import each other under the names of their copies in the sandbox
    # (grader.isolation.INSIDE_COPIES): give them those names here too.
    # The worker's program and the warm sandbox's zygote are not modules: importing one runs it
    # (it reads its file descriptors from sys.argv), so they are named as skipped.
    from grader.isolation import INSIDE_COPIES, PROGRAMS

    def dotted(source: str) -> str:
        return "grader.isolation." + source.removesuffix(".py").replace("/", ".")

    skipped = [dotted(source) for source, copy_name in INSIDE_COPIES.items()
               if copy_name in PROGRAMS]
    for source, copy_name in INSIDE_COPIES.items():
        if copy_name not in PROGRAMS:
            sys.modules[copy_name.removesuffix(".py")] = importlib.import_module(dotted(source))
    for path in sorted(handout.rglob("*.py")):
        relative = path.relative_to(handout).with_suffix("")
        if relative.parts == ("solution",):
            continue   # the student's own file
        name = ".".join(relative.parts[:-1] if relative.name == "__init__" else relative.parts)
        if name in skipped:
            continue
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                modules.append(importlib.import_module(name))
        except BaseException as error:   # noqa: BLE001 - a module that cannot import is reported
            import_errors[name] = f"{type(error).__name__}: {error}"

    def on_alarm(signum, frame):
        raise _Timeout

    signal.signal(signal.SIGALRM, on_alarm)
    calls, answers = 0, []
    for module in modules:
        for label, function in _candidates(module):
            for part, case in parts.items():
                by_shape = {}
                for answer in case["answers"]:
                    by_shape.setdefault(answer.shape, []).append(answer)
                hit = False
                for index, pool in enumerate(case["pools"]):
                    arguments = _bind(function, pool)
                    if arguments is None:
                        continue
                    calls += 1
                    try:
                        signal.setitimer(signal.ITIMER_REAL, CALL_TIMEOUT_S)
                        with contextlib.redirect_stdout(io.StringIO()), \
                                contextlib.redirect_stderr(io.StringIO()):
                            result = function(**copy.deepcopy(arguments))
                    except BaseException:   # noqa: BLE001 - a call that fails computes nothing
                        continue
                    finally:
                        signal.setitimer(signal.ITIMER_REAL, 0)
                    for value in _values(result):
                        if any(_close(value, answer) for answer in by_shape.get(value.shape, ())):
                            answers.append({"part": part, "function": label, "pool": index,
                                            "arguments": sorted(arguments)})
                            hit = True
                            break
                    if hit:
                        break
    return {"modules": [m.__name__ for m in modules], "skipped": skipped,
            "import_errors": import_errors, "calls": calls, "answers": answers}


def main(argv: list[str]) -> int:
    handout, cases_file = Path(argv[0]).resolve(), Path(argv[1])
    # This script's folder (the repository's tests/) must not shadow the handout's modules.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]
    parts = pickle.loads(cases_file.read_bytes())
    report = probe(handout, parts)
    sys.stdout.write(json.dumps(report) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
