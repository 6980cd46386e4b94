"""Part batchnorm2d: the student's BatchNorm2d module against torch.nn.BatchNorm2d in float64:
parameters and buffers, training forward and autograd gradients, running statistics over
several steps, and evaluation mode.

The worker only captures the layer as operator graphs (``cnn`` task ``capture_layer``); the
grader replays them here on its own inputs, parameters and buffers (``grader/networks/layer.py``)
and takes the gradients with its own autograd. A layer whose graphs call torch's normalization
operators is torch's batch norm under another name: it earns nothing in this part."""
import numpy as np
import torch

from grader import causes
from grader.networks import capture, layer
from grader.networks.rebuild import GraphRefused
from grader.verdicts import rules
from grader.verdicts.checks import compare_array, expectation
from reference.normalization import batchnorm2d_steps

EPS = 1e-5


def images(rng, steps: int, train: bool, shape=(4, 3, 5, 5)) -> list[dict]:
    scale = rng.uniform(0.5, 3.0, (1, shape[1], 1, 1))
    return [{"x": rng.normal(2.0, 1.0, shape) * scale, "dout": rng.normal(0, 1, shape),
             "train": train} for _ in range(steps)]


def captured_layer(worker, grade, channels: int, momentum: float, shape: tuple) -> dict:
    """The capture of ``BatchNorm2d(channels, eps=EPS, momentum=momentum)`` for inputs of
    ``shape`` in both modes, once per grading; ends the test when there is none, when it
    cannot be replayed, or when it is torch's own batch norm."""
    value = grade.require(capture.layer_reply(worker, channels, momentum, shape, EPS),
                          f"BatchNorm2d({channels}, momentum={momentum})")
    error = value.get("error") if isinstance(value, dict) else None
    if isinstance(error, dict):
        where = f" (solution.py line {error['line']}: `{error.get('source', '').strip()}`)" \
            if error.get("line") else ""
        grade.fail(f"BatchNorm2d's forward in {error.get('mode')} mode could not be run for "
                   f"capture: {error.get('type')}: {str(error.get('message'))[:300]}{where}")
    library = layer.library_operators(value)
    if library:
        grade.fail("BatchNorm2d computes with torch's own normalization (it calls "
                   f"{', '.join(library)}), so none of its numerics are yours: compute the "
                   "batch statistics and the normalization with tensor operations")
    try:
        layer.check(value)
        # Every operator a layer may call costs time linear in the sizes of its arguments and
        # result, the graph has at most GRAPH_MAX_NODES of them, and measure bounds every
        # result's size: so each replay here costs at most a fixed multiple of the input's size,
        # a bound the grader proves before it runs anything.
        problem = layer.measure(value, tuple(shape))
    except GraphRefused as error:
        grade.fail(f"BatchNorm2d cannot be replayed by the grader: {error}")
    if problem:
        grade.fail(f"BatchNorm2d on a batch of shape {tuple(shape)}: the grader will not replay it, "
                   f"because {problem}")
    return value


def replay_steps(grade, capture: dict, values: dict, steps: list) -> list:
    """Run ``steps`` (``{"x", "dout", "train"}``) through the captured layer, in the grader, with
    parameters from ``values`` (the layer's own initial values for the others) and the layer's
    initial buffers: per step ``{"out", "dx", "grads", "buffers"}`` (the buffers after it)."""
    parameters = {name: torch.tensor(np.asarray(values.get(name, spec["value"])), dtype=torch.float64)
                  for name, spec in capture["parameters"].items()}
    buffers = {name: torch.tensor(np.asarray(spec["value"]), dtype=torch.float64)
               for name, spec in capture["buffers"].items()}
    records = []
    for index, step in enumerate(steps, start=1):
        mode = "train" if step["train"] else "eval"
        for parameter in parameters.values():
            parameter.requires_grad_(True)
            parameter.grad = None
        x = torch.tensor(step["x"], requires_grad=True)
        try:
            out, after = layer.replay(capture, mode, parameters, buffers, x)
            out.backward(torch.tensor(step["dout"]))
        except GraphRefused as error:
            grade.fail(f"BatchNorm2d cannot be replayed by the grader: {error}")
        except Exception as error:  # noqa: BLE001 - the layer's own operations failed
            grade.fail(f"BatchNorm2d failed on step {index} ({mode} mode): "
                       f"{type(error).__name__}: {str(error)[:300]}")
        # the buffers as the layer left them, in place or reassigned, for the next step
        buffers = {name: (after[name] if isinstance(after.get(name), torch.Tensor)
                          else buffers[name]).detach().clone() for name in buffers}
        records.append({
            "out": out.detach().numpy().copy(),
            "dx": None if x.grad is None else x.grad.numpy().copy(),
            "grads": {n: p.grad.numpy().copy() for n, p in parameters.items() if p.grad is not None},
            "buffers": {n: b.numpy().copy() for n, b in buffers.items()}})
    return records


def run(worker, grade, weight, bias, steps, momentum=0.1, set_parameters=True):
    """``(records, shapes, expected)``: the student's layer replayed by the grader on ``steps``,
    its parameter and buffer shapes ``{"parameters": {name: shape}, "buffers": ...}``, and
    torch's BatchNorm2d on the same steps."""
    capture = captured_layer(worker, grade, len(weight), momentum, steps[0]["x"].shape)
    values = {"weight": weight, "bias": bias} if set_parameters else {}
    got = replay_steps(grade, capture, values, steps)
    shapes = {group: {name: spec["shape"] for name, spec in capture[group].items()}
              for group in ("parameters", "buffers")}
    return got, shapes, batchnorm2d_steps(weight, bias, steps, EPS, momentum)


def check_steps(grade, got, expected, what: str, pick, weight=1.0, hypotheses=None):
    """One check of ``pick(record)`` over every step: the first differing step is reported,
    else the verdict of the last step's comparison is recorded."""
    if not expected:
        raise ValueError(f"{what}: no step to compare")  # a grader bug: a check must compare
    for index, (g, e) in enumerate(zip(got, expected, strict=True), start=1):
        try:
            value = pick(g)
        except (KeyError, TypeError, IndexError):
            value = None
        verdict = compare_array(f"{what}, step {index}", value, pick(e),
                                hypotheses=(hypotheses or {}).get(index))
        if not verdict.passed:
            break
    grade.check(verdict, weight)


NOT_UPDATED = causes.BATCHNORM2D_FROZEN_RUNNING
BATCH_STATISTICS_IN_EVAL = causes.BATCHNORM2D_BATCH_STATS_IN_EVAL
INVERTED_MOMENTUM = causes.BATCHNORM2D_INVERTED_MOMENTUM


def initial_buffers(steps) -> dict:
    """``{step: {cause: initial buffers}}`` for the training steps: a module that never updates
    its running statistics still holds running_mean = 0 and running_var = 1."""
    channels = steps[0]["x"].shape[1]
    return {"running_mean": {index: {NOT_UPDATED: np.zeros(channels)}
                             for index, step in enumerate(steps, start=1) if step["train"]},
            "running_var": {index: {NOT_UPDATED: np.ones(channels)}
                            for index, step in enumerate(steps, start=1) if step["train"]}}


def batch_normalized(x, weight, bias, unbiased: bool = False) -> np.ndarray:
    """``x`` (N, C, H, W) normalized per channel with its own batch's mean and variance (biased,
    as torch normalizes; ``unbiased``: with N - 1), then scaled by ``weight`` and shifted by
    ``bias`` (C,), float64 (N, C, H, W). Computed by torch's batch norm, given the batch's
    statistics as its running ones: the handout ships no numpy batch-norm forward."""
    t = torch.as_tensor(x, dtype=torch.float64)
    mean, var = t.mean(dim=(0, 2, 3)), t.var(dim=(0, 2, 3), unbiased=unbiased)
    return torch.nn.functional.batch_norm(
        t, mean, var, torch.as_tensor(weight, dtype=torch.float64),
        torch.as_tensor(bias, dtype=torch.float64), training=False, eps=EPS).numpy()


def batch_statistics_outputs(weight, bias, steps) -> dict:
    """``{step: {cause: output}}``: each step normalized with its own batch's mean and biased
    variance, as a module that ignores its running statistics in evaluation computes."""
    return {index: {BATCH_STATISTICS_IN_EVAL: batch_normalized(step["x"], weight, bias)}
            for index, step in enumerate(steps, start=1)}


def _unregistered(registered, names, cause):
    """``cause`` (a template of ``names`` and ``verb``) when some of ``names`` are not among the
    module's registered parameters or buffers ``registered``, else ""."""
    missing = [name for name in names if not isinstance(registered, dict) or name not in registered]
    if not missing:
        return ""
    return cause.format(names=" and ".join(missing), verb="is" if len(missing) == 1 else "are")


def test_batchnorm2d_parameters(worker, grade, rng):
    channels = 3
    steps = images(rng, 1, train=False)
    got, shapes, expected = run(worker, grade, np.ones(channels), np.zeros(channels), steps,
                                set_parameters=False)
    parameters, buffers = shapes["parameters"], shapes["buffers"]
    grade.check(expectation(
        parameters == {"weight": [channels], "bias": [channels]},
        f"BatchNorm2d's parameters are {parameters}; expected weight and bias of shape "
        f"({channels},)", _unregistered(parameters, ("weight", "bias"),
                                        causes.BATCHNORM2D_UNREGISTERED_PARAMETERS)))
    grade.check(expectation(
        buffers.get("running_mean") == [channels] and buffers.get("running_var") == [channels],
        f"BatchNorm2d's buffers are {buffers}; expected running_mean and running_var of shape "
        f"({channels},)", _unregistered(buffers, ("running_mean", "running_var"),
                                        causes.BATCHNORM2D_UNREGISTERED_BUFFERS)))
    check_steps(grade, got, expected, "evaluation output with the initial weight, bias and "
                "running statistics", lambda r: r["out"],
                hypotheses=batch_statistics_outputs(np.ones(channels), np.zeros(channels), steps))


def test_batchnorm2d_train(worker, grade, rng):
    weight, bias = rng.uniform(0.5, 2.0, 3), rng.normal(0, 1, 3)
    steps = images(rng, 1, train=True)
    got, _, expected = run(worker, grade, weight, bias, steps)
    wrong_variance = batch_normalized(steps[0]["x"], weight, bias, unbiased=True)
    check_steps(grade, got, expected, "training output", lambda r: r["out"],
                hypotheses={1: {causes.BATCHNORM2D_UNBIASED_NORMALIZATION: wrong_variance}})
    check_steps(grade, got, expected, "gradient with respect to x", lambda r: r["dx"])
    check_steps(grade, got, expected, "gradient of weight", lambda r: r["grads"]["weight"], 0.5)
    check_steps(grade, got, expected, "gradient of bias", lambda r: r["grads"]["bias"], 0.5)
    not_updated = initial_buffers(steps)
    check_steps(grade, got, expected, "running_mean after a training step",
                lambda r: r["buffers"]["running_mean"], 0.25, not_updated["running_mean"])
    check_steps(grade, got, expected, "running_var after a training step",
                lambda r: r["buffers"]["running_var"], 0.25, not_updated["running_var"])


def test_batchnorm2d_steps_and_eval(worker, grade, rng):
    weight, bias = rng.uniform(0.5, 2.0, 2), rng.normal(0, 1, 2)
    steps = images(rng, 3, True, (5, 2, 4, 3)) + images(rng, 2, False, (5, 2, 4, 3))
    got, _, expected = run(worker, grade, weight, bias, steps, momentum=0.2)
    named = initial_buffers(steps)
    # momentum weighting the old value (new = m * old + (1 - m) * batch) is torch's rule with
    # momentum 1 - m: a convention of other libraries, named as such
    inverted = batchnorm2d_steps(weight, bias, steps, EPS, 1 - 0.2)
    for name in ("running_mean", "running_var"):
        for index, step in enumerate(steps, start=1):
            if step["train"]:
                named[name][index][INVERTED_MOMENTUM] = inverted[index - 1]["buffers"][name]
    check_steps(grade, got, expected, "running_mean (momentum 0.2)",
                lambda r: r["buffers"]["running_mean"], 0.75, named["running_mean"])
    check_steps(grade, got, expected, "running_var (momentum 0.2, unbiased batch variance)",
                lambda r: r["buffers"]["running_var"], 0.75, named["running_var"])
    evaluation = got[3:], expected[3:]
    check_steps(grade, *evaluation, "evaluation output (running statistics)", lambda r: r["out"],
                hypotheses=batch_statistics_outputs(weight, bias, steps[3:]))
    check_steps(grade, *evaluation, "evaluation gradient with respect to x", lambda r: r["dx"], 0.5)


def test_batchnorm2d_is_own(worker, grade, rng):
    try:
        found = rules.find(rules.read_source(worker.submission), ["BatchNorm2d"],
                           rules.NORMALIZATION_RULE)
    except (OSError, rules.SourceError) as error:
        grade.fail(f"BatchNorm2d's source cannot be checked: {error}")
    # What the layer computes, as the grader replays it: torch's normalization operators in its
    # graphs mean torch's batch norm, whatever the class is called. The source is the earlier
    # signal and names the call the student wrote.
    channels, momentum, shape = capture.OWN_BATCHNORM_PROBE
    value = grade.require(capture.layer_reply(worker, channels, momentum, shape, EPS),
                          f"BatchNorm2d({channels})")
    library = layer.library_operators(value) if isinstance(value, dict) else []
    grade.expect(not found and not library,
                 "BatchNorm2d must be your own implementation, but it computes with torch's own "
                 "normalization: " + "; ".join([f.describe() for f in found]
                                               + [f"its operations include {op}" for op in library]))
    if not library:
        # it must also run as the grader replays it
        replay_steps(grade, captured_layer(worker, grade, channels, momentum, shape), {},
                     images(rng, 1, train=True, shape=shape))
