"""What the CNN tests call: ask the worker for a capture, rebuild it here, or fail saying why.

The worker's reply is plain data (a ``nngrade-graph/1`` description); it is cached per grading
so that the tests of one part ask once, and each test rebuilds a fresh network from it.
"""
from __future__ import annotations

import numpy as np

from grader import causes
from grader.networks import allowlist, rebuild

HOW_TO_REWRITE = (
    ("control flow", "Python `if`/`for`/`while` on a tensor (its values or its shape) cannot be "
     "captured: write forward so that it runs the same operations for every batch (fix shapes "
     "in __init__; use torch.where for choices between values)"),
    ("not installed as a submodule", "a layer created inside forward cannot be captured: create "
     "it in __init__ and call it in forward"),
    ("iterate", "iterating over a tensor in forward cannot be captured: use tensor operations "
     "(torch.stack, torch.cat, sum over a dimension) instead"),
    ("len(", "len() of a tensor in forward cannot be captured: use x.shape[0] or x.size(0) in "
     "operations such as view"),
)


def _capture_failure(cls: str, error: dict) -> str:
    where = ""
    if error.get("line"):
        where = f" (solution.py line {error['line']}: `{str(error.get('source', '')).strip()}`)"
    message = str(error.get("message", ""))
    advice = next((text for key, text in HOW_TO_REWRITE if key in message), "")
    return (f"{cls} cannot be captured as a graph of operations in {error.get('mode')} mode: "
            f"{error.get('type')}: {message.splitlines()[0][:300] if message else ''}{where}. "
            + (advice + "." if advice else "The grader traces forward with torch.fx: keep it to "
               "torch operations on the input and on layers created in __init__."))


def captured(worker, grade, cls: str, input_shape: tuple, optimizer: bool = False) -> dict:
    """The capture of ``cls()`` (with the optimizer's description when ``optimizer``), from
    the worker once per grading; ends the test with the reason when there is none."""
    cache = worker.__dict__.setdefault("_network_captures", {})
    key = (cls, tuple(input_shape), optimizer)
    if key not in cache:
        cache[key] = worker.cnn("capture", cls=cls, input_shape=list(input_shape), seed=0,
                                optimizer=optimizer)
    value = grade.require(cache[key], f"{cls}()")
    if isinstance(value, dict) and isinstance(value.get("error"), dict):
        grade.fail(_capture_failure(cls, value["error"]))
    return value


def planned(worker, key, make):
    """The arguments of one of the grader's runs, made once per grading (``make()``): a run
    started ahead (``Session.start_network_task``) and the test that takes it use the same
    ones, fresh seeds included. A ``make`` that raises (a failed capture) is not kept: the test
    makes it again, and says why it failed."""
    plans = worker.__dict__.setdefault("_planned_runs", {})
    if key not in plans:
        plans[key] = make()
    return plans[key]


def layer_reply(worker, channels: int, momentum: float, shape: tuple, eps: float = 1e-5):
    """The worker's reply to ``capture_layer`` for ``BatchNorm2d(channels, eps, momentum)`` on
    inputs of ``shape`` in both modes, asked once per grading and configuration (part
    batchnorm2d and the Kaggle rules share it)."""
    cache = worker.__dict__.setdefault("_network_captures", {})
    key = ("BatchNorm2d", channels, momentum, tuple(shape), eps)
    if key not in cache:
        cache[key] = worker.cnn("capture_layer", cls="BatchNorm2d",
                                config={"num_features": channels, "eps": eps, "momentum": momentum},
                                shapes={"train": list(shape), "eval": list(shape)})
    return cache[key]


OWN_BATCHNORM_PROBE = (3, 0.1, (4, 3, 5, 5))
"""The configuration the Kaggle rules capture the student's BatchNorm2d in (the one part
batchnorm2d checks it is the student's own with, so that one capture serves both)."""


def own_batchnorm_is_torchs(worker) -> list[str]:
    """The torch normalization operators the student's BatchNorm2d computes with, as the
    grader reads them from its capture (empty when it computes its own, or cannot be
    captured: a broken BatchNorm2d is part batchnorm2d's business)."""
    from grader.networks import layer

    outcome = layer_reply(worker, *OWN_BATCHNORM_PROBE)
    return layer.library_operators(outcome.value) if outcome.ok and isinstance(outcome.value, dict) \
        else []


def network(grade, capture: dict, cls: str, input_shape: tuple, seed: int = 0):
    """``capture`` rebuilt by the grader (parameters drawn from ``seed``) and measured on a
    batch of ``input_shape``; ends the test with the reason when it cannot be."""
    try:
        built = rebuild.rebuild(capture, seed)
        rebuild.measure(built, input_shape)
    except rebuild.GraphRefused as error:
        grade.fail(f"{cls} cannot be rebuilt by the grader: {error}")
    return built


def trainable_parameters(built) -> int:
    return sum(p.numel() for p in built.parameters() if p.requires_grad)


def frozen_parameters(built):
    """How many parameters cannot learn (``requires_grad=False``), as a registered cause, or ""."""
    total = sum(p.numel() for p in built.parameters())
    trainable = trainable_parameters(built)
    if trainable >= total:
        return ""
    return causes.CNN_FROZEN_PARAMETERS.format(frozen=total - trainable, total=total)


def has_convolution(built) -> bool:
    return any(name in allowlist.CONVOLUTIONS for name, _ in built.operations())


def output_not_logits(built, cls: str) -> str:
    """Why the output, read from the graph, is not logits: a softmax or a ReLU applied last in
    evaluation mode ("" when neither)."""
    last = built.last_operation("eval")
    shown = str(last).replace("method:", "Tensor.")
    if last in allowlist.SOFTMAX:
        return (f"{cls}.forward returns probabilities: it applies softmax in forward ({shown} is "
                "its last operation); return logits, since cross-entropy applies the softmax itself")
    if last in allowlist.RELU:
        return (f"{cls}.forward applies a ReLU to the logits ({shown} is its last operation): "
                "logits must be able to go negative; remove the last ReLU")
    return ""


def outputs(built, x: np.ndarray) -> dict:
    """``{"outputs": {"train": (N, ...), "eval": (N, ...)}}`` of the rebuilt network for ``x``,
    as ``cnn_checks.output_verdicts`` reads them (an error text in place of a failing mode)."""
    from grader.networks import training

    result = {}
    for mode in ("train", "eval"):
        try:
            result[mode] = training.logits(built, x, train_mode=mode == "train")
        except Exception as error:  # noqa: BLE001 - a network that fails is a verdict
            result[mode] = f"{type(error).__name__}: {str(error)[:200]}"
    return {"outputs": result}


def run_on_data(worker, grade, task: str, what: str, cause="", **kwargs):
    """The grader's run ``task`` (``metered.TASKS``) of the student's network on data, in the
    metered child under what is left of the part's budget (``Session.run_network_task``); ends
    the test saying why when the run used up the budget or failed. ``what``: what the run was,
    for the message; ``cause``: a likely cause (``grader/causes.py``) to name in a failure, in
    its words and as the failure's recorded cause."""
    from grader.networks import metered

    try:
        return worker.run_network_task(task, **kwargs)
    except metered.BudgetSpent as error:
        grade.fail(f"{what}: stopped, {error} (the grader's runs of your network count against "
                   "it: make the network cheaper)")
    except metered.ChildFailed as error:
        grade.fail(f"{what}: the network failed: {str(error)[:400]}{causes.said(cause)}",
                   cause=cause or None)


def outputs_on_data(worker, grade, capture: dict, cls: str, x: np.ndarray, seed: int = 0) -> dict:
    """``outputs`` of the network ``capture`` describes (rebuilt from ``seed``) for ``x``, computed
    in the metered child."""
    return run_on_data(worker, grade, "outputs", f"{cls} on a batch of {len(x)}",
                       capture=capture, seed=seed, input_shape=list(x.shape), x=x)


def grade_outputs(worker, grade, description, network, cls: str, x, classes: int, what: str):
    """The shape checks of a CNN part: ``cls`` run by the worker on ``x`` (N, C, H, W) in both
    modes must give logits (N, ``classes``); ``what`` names the batch in a failure ("a batch of
    5 digits"). The graph check (softmax at the output) is the grader's own, on ``network``."""
    from grader.verdicts.cnn_checks import logits_verdict, output_verdicts

    value = outputs_on_data(worker, grade, description, cls, x)
    for mode, out in value["outputs"].items():
        if isinstance(out, str):
            grade.fail(f"{cls} fails on {what} in {mode} mode: {out}")
    for passed, message in output_verdicts(value, cls, len(x), classes):
        grade.expect(passed, message)
    graph_problem = output_not_logits(network, cls)
    passed, message = logits_verdict(value, cls)
    grade.expect(passed and not graph_problem, graph_problem or message, 0.5)
