"""Part batchnorm2d: the student's BatchNorm2d module against torch.nn.BatchNorm2d in float64:
parameters and buffers, training forward and autograd gradients, running statistics over
several steps, and evaluation mode."""
import numpy as np

from grader.verdicts import rules
from grader.verdicts.checks import compare_array
from reference.normalization import batchnorm2d_steps

EPS = 1e-5


def images(rng, steps: int, train: bool, shape=(4, 3, 5, 5)) -> list[dict]:
    scale = rng.uniform(0.5, 3.0, (1, shape[1], 1, 1))
    return [{"x": rng.normal(2.0, 1.0, shape) * scale, "dout": rng.normal(0, 1, shape),
             "train": train} for _ in range(steps)]


def run(worker, grade, weight, bias, steps, momentum=0.1, set_parameters=True):
    config = {"num_features": len(weight), "eps": EPS, "momentum": momentum}
    values = {"weight": weight, "bias": bias} if set_parameters else {}
    outcome = worker.torch_steps("BatchNorm2d", config, values, steps)
    got = grade.require(outcome, f"BatchNorm2d({len(weight)}, momentum={momentum})")
    if not (isinstance(got, list) and len(got) == len(steps)):
        grade.fail("BatchNorm2d: the steps could not be recorded")
    return got, outcome, batchnorm2d_steps(weight, bias, steps, EPS, momentum)


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


NOT_UPDATED = "the running statistics were never updated in training (they keep their initial values)"
BATCH_STATISTICS_IN_EVAL = "evaluation used the batch statistics instead of the running ones"


def initial_buffers(steps) -> dict:
    """``{step: {cause: initial buffers}}`` for the training steps: a module that never updates
    its running statistics still holds running_mean = 0 and running_var = 1."""
    channels = steps[0]["x"].shape[1]
    return {"running_mean": {index: {NOT_UPDATED: np.zeros(channels)}
                             for index, step in enumerate(steps, start=1) if step["train"]},
            "running_var": {index: {NOT_UPDATED: np.ones(channels)}
                            for index, step in enumerate(steps, start=1) if step["train"]}}


def batch_statistics_outputs(weight, bias, steps) -> dict:
    """``{step: {cause: output}}``: each step normalized with its own batch's mean and biased
    variance, as a module that ignores its running statistics in evaluation computes."""
    variants = {}
    for index, step in enumerate(steps, start=1):
        x = step["x"]
        mean = x.mean(axis=(0, 2, 3), keepdims=True)
        var = x.var(axis=(0, 2, 3), keepdims=True)
        variants[index] = {BATCH_STATISTICS_IN_EVAL: np.reshape(weight, (1, -1, 1, 1)) * (x - mean)
                           / np.sqrt(var + EPS) + np.reshape(bias, (1, -1, 1, 1))}
    return variants


def _unregistered(registered, names, kind: str, remedy: str) -> str:
    """The cause when some of ``names`` are not among the module's registered ``kind``."""
    missing = [name for name in names if not isinstance(registered, dict) or name not in registered]
    if not missing:
        return ""
    return (f". Likely cause: {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not "
            f"registered as {kind} (a plain tensor attribute?); {remedy}")


def test_batchnorm2d_parameters(worker, grade, rng):
    channels = 3
    steps = images(rng, 1, train=False)
    got, outcome, expected = run(worker, grade, np.ones(channels), np.zeros(channels), steps,
                                 set_parameters=False)
    parameters = outcome.state.get("parameters", {})
    buffers = outcome.state.get("buffers", {})
    grade.expect(parameters == {"weight": [channels], "bias": [channels]},
                 f"BatchNorm2d's parameters are {parameters}; expected weight and bias of shape "
                 f"({channels},)" + _unregistered(parameters, ("weight", "bias"), "parameters",
                                                  "wrap them in torch.nn.Parameter"))
    grade.expect(buffers.get("running_mean") == [channels] and buffers.get("running_var") == [channels],
                 f"BatchNorm2d's buffers are {buffers}; expected running_mean and running_var of "
                 f"shape ({channels},)" + _unregistered(buffers, ("running_mean", "running_var"),
                                                         "buffers", "use register_buffer, so that "
                                                         ".to() and state_dict carry them"))
    check_steps(grade, got, expected, "evaluation output with the initial weight, bias and "
                "running statistics", lambda r: r["out"],
                hypotheses=batch_statistics_outputs(np.ones(channels), np.zeros(channels), steps))


def test_batchnorm2d_train(worker, grade, rng):
    weight, bias = rng.uniform(0.5, 2.0, 3), rng.normal(0, 1, 3)
    steps = images(rng, 1, train=True)
    got, _, expected = run(worker, grade, weight, bias, steps)
    x = steps[0]["x"]
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    unbiased = x.var(axis=(0, 2, 3), keepdims=True, ddof=1)
    wrong_variance = {1: weight.reshape(1, -1, 1, 1) * (x - mean) / np.sqrt(unbiased + EPS)
                      + bias.reshape(1, -1, 1, 1)}
    check_steps(grade, got, expected, "training output", lambda r: r["out"],
                hypotheses={1: {"normalized with the unbiased variance; torch normalizes with the "
                                "biased one": wrong_variance[1]}})
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
    not_updated = initial_buffers(steps)
    check_steps(grade, got, expected, "running_mean (momentum 0.2)",
                lambda r: r["buffers"]["running_mean"], 0.75, not_updated["running_mean"])
    check_steps(grade, got, expected, "running_var (momentum 0.2, unbiased batch variance)",
                lambda r: r["buffers"]["running_var"], 0.75, not_updated["running_var"])
    evaluation = got[3:], expected[3:]
    check_steps(grade, *evaluation, "evaluation output (running statistics)", lambda r: r["out"],
                hypotheses=batch_statistics_outputs(weight, bias, steps[3:]))
    check_steps(grade, *evaluation, "evaluation gradient with respect to x", lambda r: r["dx"], 0.5)


def test_batchnorm2d_is_own(worker, grade):
    try:
        found = rules.find(rules.read_source(worker.submission), ["BatchNorm2d"],
                           rules.NORMALIZATION_RULE)
    except (OSError, rules.SourceError) as error:
        grade.fail(f"BatchNorm2d's source cannot be checked: {error}")
    outcome = worker.cnn("class_of", cls="BatchNorm2d", kwargs={"num_features": 3})
    record = grade.require(outcome, "BatchNorm2d(3)")
    library = rules.library_classes([record], rules.NORMALIZATION_RULE)
    grade.expect(not found and not library,
                 "BatchNorm2d must be your own implementation, but it uses torch's: "
                 + "; ".join([f.describe() for f in found] + library))
