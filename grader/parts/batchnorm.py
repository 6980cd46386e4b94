"""Part batchnorm: BatchNorm against torch.nn.BatchNorm1d (train and eval, running statistics
over several steps) and its backward against autograd."""
import numpy as np

from grader import causes
from grader.verdicts.checks import Verdict, compare_mapping
from reference import withheld
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


PUBLIC_CASES = {
    "test_batchnorm_train_forward": lambda rng: (initial_state(rng, 6), batches(rng, 1, 16, 6),
                                                 MOMENTUM),
    "test_batchnorm_running_stats": lambda rng: (initial_state(rng, 4), batches(rng, 5, 9, 4), 0.3),
    "test_batchnorm_eval": lambda rng: (initial_state(rng, 5), batches(rng, 2, 8, 5, train=False),
                                        MOMENTUM),
    "test_batchnorm_backward": lambda rng: (initial_state(rng, 6),
                                            batches(rng, 2, 12, 6) + batches(rng, 1, 7, 6, train=False),
                                            MOMENTUM),
}
"""``{test: rng -> (state, steps, momentum)}``: each test's inputs, drawn from its ``rng``. The
release replays them to record the withheld variants' outputs for the handout."""


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


VARIANT_CAUSES = {
    "unbiased_normalization": causes.BATCHNORM_UNBIASED_NORMALIZATION,
    "flipped_momentum": causes.BATCHNORM_FLIPPED_MOMENTUM,
    "biased_running_var": causes.BATCHNORM_BIASED_RUNNING_VAR,
    "batch_stats_in_eval": causes.BATCHNORM_BATCH_STATS_IN_EVAL,
    "constant_statistics": causes.BATCHNORM_CONSTANT_STATISTICS,
    "frozen_running": causes.BATCHNORM_FROZEN_RUNNING,
}
"""The cause each of BatchNorm's variants names (``reference.known_mistakes.batchnorm_variants``)."""


def variants(state, steps, eps=EPS, momentum=MOMENTUM) -> dict:
    """``{likely cause: per-step records}`` of common mistakes. They are numpy BatchNorms one
    edit from right (the training forward among them), so they are a withheld rule
    (``reference/known_mistakes.py``): the handout has them on the public cases only."""
    inputs = [state, steps, eps, momentum]
    found = withheld.hypotheses("known_mistakes", "batchnorm", inputs,
                                lambda rule: rule.batchnorm_variants(*inputs))
    return {VARIANT_CAUSES[kind]: records for kind, records in found.items()}


def grade_records(grade, got, expected, keys, label, hypotheses=None, weight=1.0):
    """Compare the chosen quantities of every step; one check per quantity over all steps."""
    for key in keys:
        failed = Verdict(True)
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
                failed = verdict.restated(verdict.message)
                break
        grade.check(failed, weight)


def test_batchnorm_init(worker, grade):
    outcome = worker.call("__init__", cls="BatchNorm", config={"num_features": 5},
                          return_state=list(ATTRIBUTES), substitute=())
    grade.require(outcome, "BatchNorm(5)")
    expected = {"gamma": np.ones((1, 5)), "beta": np.zeros((1, 5)),
                "running_mean": np.zeros((1, 5)), "running_var": np.ones((1, 5))}
    for verdict in compare_mapping("BatchNorm(5) attribute", outcome.state, expected).values():
        grade.check(verdict)


def public_case(worker, grade, rng, test: str, what: str):
    """``test``'s public case run by the student's BatchNorm (``what`` names the run in a
    failure): ``(got, expected, hypotheses, momentum)``, the hypotheses being the known
    mistakes' records on the same case (``variants``)."""
    state, steps, momentum = PUBLIC_CASES[test](rng)
    got, expected = run(worker, grade, state, steps, what, momentum=momentum)
    return got, expected, variants(state, steps, momentum=momentum), momentum


def test_batchnorm_train_forward(worker, grade, rng):
    got, expected, hypotheses, _ = public_case(worker, grade, rng, "test_batchnorm_train_forward",
                                               "BatchNorm.forward(x, train=True)")
    grade_records(grade, got, expected, ["out"], "training forward", hypotheses, weight=2.0)
    grade_records(grade, got, expected, ["running_mean", "running_var"],
                  "running statistics after one training step", hypotheses)


def test_batchnorm_running_stats(worker, grade, rng):
    got, expected, hypotheses, momentum = public_case(
        worker, grade, rng, "test_batchnorm_running_stats", "five training steps")
    grade_records(grade, got, expected, ["running_mean", "running_var"],
                  f"running statistics over five training steps (momentum {momentum})", hypotheses)


def test_batchnorm_eval(worker, grade, rng):
    got, expected, hypotheses, _ = public_case(worker, grade, rng, "test_batchnorm_eval",
                                               "BatchNorm.forward(x, train=False)")
    grade_records(grade, got, expected, ["out"], "evaluation forward", hypotheses, weight=2.0)
    grade_records(grade, got, expected, ["running_mean", "running_var"],
                  "running statistics after evaluation steps (must not change)")


def test_batchnorm_backward(worker, grade, rng):
    got, expected, hypotheses, _ = public_case(worker, grade, rng, "test_batchnorm_backward",
                                               "BatchNorm.backward(dout, cache)")
    grade_records(grade, got, expected, ["dx"], "dx", hypotheses, weight=2.0)
    grade_records(grade, got, expected, ["dgamma", "dbeta"], "dgamma / dbeta", hypotheses)
