"""Part batchnorm: BatchNorm against torch.nn.BatchNorm1d (train and eval, running statistics
over several steps) and its backward against autograd."""
import numpy as np

from grader.verdicts.checks import compare_mapping
from reference.normalization import batchnorm_steps

EPS, MOMENTUM = 1e-5, 0.1
ATTRIBUTES = ("gamma", "beta", "running_mean", "running_var")


def initial_state(rng, features: int) -> dict:
    """Non-trivial parameters and running statistics, so that a forgotten term shows."""
    return {"gamma": rng.uniform(0.5, 2.0, (1, features)), "beta": rng.normal(0, 1, (1, features)),
            "running_mean": rng.normal(0, 1, (1, features)),
            "running_var": rng.uniform(0.5, 2.0, (1, features))}


def batches(rng, count: int, n: int, features: int, train=True) -> list[dict]:
    return [{"x": rng.normal(3.0, 2.0, (n, features)) * rng.uniform(0.5, 3, (1, features)),
             "dout": rng.normal(0, 1, (n, features)), "train": train} for _ in range(count)]


def run(worker, grade, state, steps, what, eps=EPS, momentum=MOMENTUM):
    """The student's BatchNorm over ``steps`` (forward then backward each) and the reference."""
    features = state["gamma"].shape[1]
    outcome = worker.call_sequence(
        "forward", [{"args": [s["x"], s["train"]], "then": {"method": "backward", "args": [s["dout"]]}}
                    for s in steps],
        cls="BatchNorm", config={"num_features": features, "eps": eps, "momentum": momentum},
        state=state, record_state=["running_mean", "running_var"])
    got = grade.require(outcome, what)
    if not (isinstance(got, list) and len(got) == len(steps)):
        grade.fail(f"{what}: the steps could not be recorded")
    return got, batchnorm_steps(state, steps, eps, momentum)


def variants(state, steps, eps=EPS, momentum=MOMENTUM) -> dict:
    """Per-step records of common mistakes, to name the likely cause."""
    results = {"normalized with the unbiased variance; torch normalizes with the biased one "
               "(and uses the unbiased one only for running_var)": [],
               "running statistics updated as momentum * running + (1 - momentum) * batch; "
               "torch weighs the new batch by momentum": [],
               "running_var updated with the biased batch variance; torch uses the unbiased one": [],
               "evaluation used the batch statistics instead of the running ones": [],
               "backward treated the batch mean and variance as constants": [],
               "the running statistics were never updated in training (they keep their "
               "initial values)": []}
    names = list(results)
    mean_r, var_r = state["running_mean"].copy(), state["running_var"].copy()
    flipped_mean, flipped_var = mean_r.copy(), var_r.copy()
    biased_var = var_r.copy()
    gamma, beta = state["gamma"], state["beta"]
    for step in steps:
        x, dout, n = step["x"], step["dout"], step["x"].shape[0]
        mean, var = x.mean(0, keepdims=True), x.var(0, keepdims=True)
        unbiased = var * n / (n - 1)
        if step["train"]:
            normalized = (x - mean) / np.sqrt(unbiased + eps)
            results[names[0]].append({"out": gamma * normalized + beta})
            flipped_mean = momentum * flipped_mean + (1 - momentum) * mean
            flipped_var = momentum * flipped_var + (1 - momentum) * unbiased
            results[names[1]].append({"running_mean": flipped_mean.copy(),
                                      "running_var": flipped_var.copy()})
            biased_var = (1 - momentum) * biased_var + momentum * var
            results[names[2]].append({"running_var": biased_var.copy()})
            results[names[3]].append({})
            results[names[4]].append({"dx": dout * gamma / np.sqrt(var + eps)})
            results[names[5]].append({"running_mean": state["running_mean"],
                                      "running_var": state["running_var"]})
        else:
            results[names[0]].append({})
            results[names[1]].append({})
            results[names[2]].append({})
            results[names[3]].append({"out": gamma * (x - mean) / np.sqrt(var + eps) + beta})
            results[names[4]].append({})
            results[names[5]].append({})
    return results


def grade_records(grade, got, expected, keys, label, hypotheses=None, weight=1.0):
    """Compare the chosen quantities of every step; one check per quantity over all steps."""
    for key in keys:
        message = ""
        for index, (g, e) in enumerate(zip(got, expected, strict=True), start=1):
            if key == "out":
                value = g.get("result")
            elif key in ("dx", "dgamma", "dbeta"):
                then = g.get("then")
                position = ("dx", "dgamma", "dbeta").index(key)
                value = then[position] if isinstance(then, (tuple, list)) and len(then) == 3 else then
            else:
                value = (g.get("state") or {}).get(key)
            per_step = {name: steps[index - 1] for name, steps in (hypotheses or {}).items()
                        if key in steps[index - 1]}
            verdict = compare_mapping(f"{label}, step {index}", {key: value}, {key: e[key]},
                                      hypotheses={n: {key: s[key]} for n, s in per_step.items()})[key]
            if not verdict.passed:
                message = verdict.message
                break
        grade.expect(not message, message, weight)


def test_batchnorm_init(worker, grade):
    outcome = worker.call("__init__", cls="BatchNorm", config={"num_features": 5},
                          return_state=list(ATTRIBUTES), substitute=())
    grade.require(outcome, "BatchNorm(5)")
    expected = {"gamma": np.ones((1, 5)), "beta": np.zeros((1, 5)),
                "running_mean": np.zeros((1, 5)), "running_var": np.ones((1, 5))}
    for verdict in compare_mapping("BatchNorm(5) attribute", outcome.state, expected).values():
        grade.check(verdict)


def test_batchnorm_train_forward(worker, grade, rng):
    state, steps = initial_state(rng, 6), batches(rng, 1, 16, 6)
    got, expected = run(worker, grade, state, steps, "BatchNorm.forward(x, train=True)")
    grade_records(grade, got, expected, ["out"], "training forward",
                  variants(state, steps), weight=2.0)
    grade_records(grade, got, expected, ["running_mean", "running_var"],
                  "running statistics after one training step", variants(state, steps))


def test_batchnorm_running_stats(worker, grade, rng):
    state = initial_state(rng, 4)
    steps = batches(rng, 5, 9, 4)
    got, expected = run(worker, grade, state, steps, "five training steps", momentum=0.3)
    grade_records(grade, got, expected, ["running_mean", "running_var"],
                  "running statistics over five training steps (momentum 0.3)",
                  variants(state, steps, momentum=0.3))


def test_batchnorm_eval(worker, grade, rng):
    state = initial_state(rng, 5)
    steps = batches(rng, 2, 8, 5, train=False)
    got, expected = run(worker, grade, state, steps, "BatchNorm.forward(x, train=False)")
    hypotheses = variants(state, steps)
    grade_records(grade, got, expected, ["out"], "evaluation forward", hypotheses, weight=2.0)
    grade_records(grade, got, expected, ["running_mean", "running_var"],
                  "running statistics after evaluation steps (must not change)")


def test_batchnorm_backward(worker, grade, rng):
    state = initial_state(rng, 6)
    steps = batches(rng, 2, 12, 6) + batches(rng, 1, 7, 6, train=False)
    got, expected = run(worker, grade, state, steps, "BatchNorm.backward(dout, cache)")
    hypotheses = variants(state, steps)
    grade_records(grade, got, expected, ["dx"], "dx", hypotheses, weight=2.0)
    grade_records(grade, got, expected, ["dgamma", "dbeta"], "dgamma / dbeta", hypotheses)
