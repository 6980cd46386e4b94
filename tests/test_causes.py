"""The registry of named causes (``grader/causes.py``): every likely cause a verdict names is a
registered ``Cause``, so that it reaches the class report as an id; its words are the ones the
student reads, unchanged.

(a) the registry: unique ids, one module attribute per entry, the same sentence;
(b) the sources: no message names a likely cause but through the registry;
(c) the verdicts: the parts' own procedures, run on known wrong answers (a fake worker that
    computes them here), record the registered id of the cause they name.
"""
import ast
import json
import pickle
import re
import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from grader import causes
from grader.isolation.worker import CallOutcome
from grader.parts import PARTS
from grader.parts import activations as activations_part
from grader.parts import batchnorm as batchnorm_part
from grader.parts import dropout as dropout_part
from grader.parts import finite_difference as fd_part
from grader.parts import kaggle_submission as kaggle_part
from grader.parts import loss as loss_part
from grader.parts import optimizers as optimizers_part
from grader.parts import softmax as softmax_part
from grader.parts import update as update_part
from grader.verdicts import cases, cnn_checks, nn_parts
from grader.verdicts.checks import Verdict, compare_array
from grader.verdicts.optimizer_patterns import variant_trajectories
from grader.verdicts.scoring import GradeFailure, Scorer
from reference import known_mistakes, mlp, optim, withheld
from reference.normalization import batchnorm_steps

REPOSITORY = Path(__file__).resolve().parents[1]

GENERIC_PREFIXES = {"call", "row", "rule", "habit", "values", "pattern", "shape", "check",
                    "submission"}
"""Ids not of one part: how a call ended, a row's state, the habits, generic patterns, a check
that names none, a submission that could not be loaded."""
SHARED_PREFIXES = {"cnn": ("mnist_cnn", "cats_dogs_cnn")}
"""Prefixes of the causes two parts share."""
ASSIGNMENT_LETTERS = {"l", "l-1"}
"""The braces of the assignment's letters (``A{l}``, ``Z{l-1}``) in sentences said as they are."""


# -- (a) the registry ------------------------------------------------------------------------------

def registered_attributes() -> dict:
    return {name: value for name, value in vars(causes).items() if isinstance(value, causes.Cause)}


def test_every_cause_has_a_unique_id_and_its_registry_entry():
    attributes = registered_attributes()
    by_id = {}
    for name, cause in attributes.items():
        assert cause.id not in by_id, f"{name} and {by_id[cause.id]} share the id {cause.id!r}"
        by_id[cause.id] = name
        entry = causes.REGISTRY[cause.id]
        assert entry.sentence == str(cause), name
        assert entry.scope in (causes.CLASS, causes.PART, causes.TEST), name
    assert set(by_id) == set(causes.REGISTRY), "a registry entry without its module attribute"


def test_ids_name_their_part():
    for id in causes.REGISTRY:
        assert re.fullmatch(r"[a-z0-9_]+\.[a-z0-9_]+", id), id
        prefix = id.split(".")[0]
        assert prefix in PARTS or prefix in GENERIC_PREFIXES or prefix in SHARED_PREFIXES, id


def test_templates_format_and_keep_their_id():
    """A template's fields fill in (its doubled braces become single), and the id stays."""
    filled = causes.FORWARD_SQUARE_TRANSPOSED.format(names="W2")
    assert filled.id == "forward.square_w_transposed"
    assert filled.startswith("the square weight matrix W2 was transposed: A{l} = Z{l-1} @ W{l}")
    assert causes.OPTIMIZER_EPS_INSIDE_ROOT.format(root="v_hat").endswith("sqrt(v_hat) + eps")
    for name, cause in registered_attributes().items():
        fields = {field for _, field, _, _ in string.Formatter().parse(cause) if field}
        # a sentence whose only "fields" are the assignment's letters (dA{l}) is said as it is
        if fields - ASSIGNMENT_LETTERS:
            assert cause.format(**dict.fromkeys(fields, 1)).id == cause.id, name


def test_a_cause_survives_pickling_and_reads_as_its_sentence():
    cause = causes.DROPOUT_KEEP_PROBABILITY
    again = pickle.loads(pickle.dumps(cause))
    assert (again, again.id) == (cause, cause.id)
    assert json.dumps({cause: 1}) == json.dumps({str(cause): 1})
    assert f"{cause}" == "p was used as the keep probability" and {cause: 1}[str(cause)] == 1


def test_joined_causes_record_the_first_named_id():
    stalled = causes.CNN_LOSS_STALLED.format(epochs=3, first=2.0, last=1.99)
    frozen = causes.CNN_FROZEN_PARAMETERS.format(frozen=1000, total=5000)
    joined = causes.joined(["", stalled, frozen])
    assert joined == f"{stalled}; {frozen}" and joined.id == "cnn.loss_stalled"
    assert causes.joined(["", frozen]).id == "cnn.frozen_parameters"
    assert causes.joined(["plain words", frozen]).id == "cnn.frozen_parameters"
    assert causes.joined(["", ""]) == "" and causes.id_of(causes.joined(["plain"])) == ""


# -- (b) the sources -------------------------------------------------------------------------------

ALLOWED = {
    "grader/causes.py": "the registry itself: the words that introduce a cause are defined here",
    "grader/batch/summary.py": "reads finished messages back (regular expressions that find "
                               "\"likely cause:\" in a report's lines); it names no cause",
}
"""Files whose string literals may hold the words that introduce a likely cause, and why."""


def _docstrings(tree) -> set:
    """The ``id`` of every string that stands as a statement (docstrings, attribute docstrings):
    prose about causes, not a message."""
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        for statement in body if isinstance(body, list) else []:
            if (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)
                    and isinstance(statement.value.value, str)):
                found.add(id(statement.value))
    return found


def _sources():
    for folder in ("grader", "reference"):
        for path in sorted((REPOSITORY / folder).rglob("*.py")):
            relative = path.relative_to(REPOSITORY).as_posix()
            yield relative, ast.parse(path.read_text(), filename=relative)


def test_no_message_names_a_likely_cause_outside_the_registry():
    """A new site must go through ``Verdict.blame`` (or ``causes.said`` for a call's failure,
    which no verdict carries): a literal "Likely cause" would name a cause with no id."""
    pattern = re.compile(r"Likely cause|\(likely cause:")
    offenders = []
    for relative, tree in _sources():
        if relative in ALLOWED:
            continue
        docstrings = _docstrings(tree)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and id(node) not in docstrings and pattern.search(node.value)):
                offenders.append(f"{relative}:{node.lineno}: {node.value[:60]!r}")
    assert not offenders, "\n".join(offenders)


def test_no_hypothesis_is_keyed_by_a_plain_sentence():
    """``hypotheses={...}`` written in place: every key a registered cause, never a literal."""
    offenders = []
    for relative, tree in _sources():
        for node in ast.walk(tree):
            if not isinstance(node, ast.keyword) or node.arg != "hypotheses":
                continue
            for inner in ast.walk(node.value):
                keys = inner.keys if isinstance(inner, ast.Dict) else (
                    [inner.key] if isinstance(inner, ast.DictComp) else [])
                for key in keys:
                    if isinstance(key, ast.JoinedStr) or (
                            isinstance(key, ast.Constant) and isinstance(key.value, str)):
                        offenders.append(f"{relative}:{key.lineno}")
    assert not offenders, offenders


# -- (c) the verdicts ------------------------------------------------------------------------------

def outcome(value) -> CallOutcome:
    return value if isinstance(value, CallOutcome) else CallOutcome(True, value)


class FakeWorker:
    """Answers the grader's calls in this process with the functions given by method name:
    each gets the call's arguments, its keyword arguments, and ``config=`` and ``state=``."""

    def __init__(self, **methods):
        self.methods = methods

    def call(self, method, args=(), kwargs=None, config=None, state=None, **_):
        return outcome(self.methods[method](*args, **(kwargs or {}), config=config or {},
                                            state=state or {}))

    def call_sequence(self, method, sequence, cls=None, config=None, state=None, **_):
        return outcome(self.methods[cls](sequence, config=config or {}, state=state or {}))

    def optimizer_steps(self, name, hyper, params, steps):
        return outcome(self.methods["optimizer"](name, hyper, params, steps))


def run(procedure, worker, *args) -> Scorer:
    grade = Scorer()
    try:
        procedure(worker, grade, *args)
    except GradeFailure:
        pass
    return grade


def named(grade: Scorer) -> list[str]:
    """The ids of the causes the failed checks of ``grade`` name, in order (no empty ones)."""
    return [verdict.cause for _, verdict in grade.checks
            if not verdict.passed and verdict.cause_text]


def only_cause(grade: Scorer, id: str) -> Verdict:
    """The one failed check that names a cause: the one ``id`` names."""
    found = [verdict for _, verdict in grade.checks if not verdict.passed and verdict.cause_text]
    assert [v.cause for v in found] == [id], [(v.cause, v.message) for v in found]
    verdict = found[0]
    assert verdict.message.endswith(verdict.cause_text) and id in causes.REGISTRY
    return verdict


def test_softmax_along_axis_0():
    def axis0(x, **_):
        e = np.exp(x - x.max(axis=0, keepdims=True))
        return e / e.sum(axis=0, keepdims=True)

    grade = run(softmax_part.test_softmax_values, FakeWorker(softmax=axis0),
                np.random.default_rng(1))
    verdict = only_cause(grade, "softmax.axis0")
    assert verdict.message.endswith(". Likely cause: normalized along axis 0 (columns) instead of "
                                    "the last axis (rows)")


def test_softmax_of_the_batch_maximum_underflows():
    def batch_max(x, **_):
        with np.errstate(invalid="ignore", under="ignore"):
            e = np.exp(x - np.max(x))
            return e / e.sum(axis=-1, keepdims=True)

    grade = run(softmax_part.test_softmax_large_logits, FakeWorker(softmax=batch_max),
                np.random.default_rng(2))
    verdict = only_cause(grade, "softmax.batch_max_underflow")
    assert "was subtracted instead of each row's own maximum" in verdict.cause_text


def test_loss_summed_over_the_batch_and_without_clipping():
    def summed(prediction, labels, **_):
        return float(-np.sum(labels * np.log(np.clip(prediction, 1e-6, 1 - 1e-6))))

    grade = run(loss_part.test_loss_value, FakeWorker(loss=summed), np.random.default_rng(3))
    only_cause(grade, "loss.summed_over_batch")

    def unclipped(prediction, labels, **_):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.float64(-np.mean(np.sum(labels * np.log(prediction), axis=1)))

    grade = run(loss_part.test_loss_clipping, FakeWorker(loss=unclipped), np.random.default_rng(4))
    only_cause(grade, "loss.log_zero")


@pytest.mark.parametrize("method, draw, id", [
    ("glorot", lambda rng, d, shape: rng.uniform(0, d, shape), "init.uniform_from_zero"),
    ("glorot", lambda rng, d, shape: rng.uniform(-1, 1, shape) * np.sqrt(6 / np.prod(shape)),
     "init.dimensions_multiplied"),
    ("normal", lambda rng, d, shape: np.abs(rng.normal(0, 1, shape)), "init.non_negative_normal"),
])
def test_init_statistics(method, draw, id):
    rng = np.random.default_rng(5)
    dims = [300, 200, 10]
    weights = {}
    for layer in range(1, len(dims)):
        shape = (dims[layer - 1], dims[layer])
        weights[f"W{layer}"] = draw(rng, np.sqrt(6 / sum(shape)), shape)
        weights[f"b{layer}"] = np.zeros((1, dims[layer]))
    grade = Scorer()
    nn_parts.check_statistics(grade, weights, dims, method)
    assert set(named(grade)) == {id}


@pytest.fixture
def backward_case():
    rng = np.random.default_rng(11)
    sizes = cases.BACKWARD
    weights, x, labels = nn_parts.backward_case(rng, sizes)
    return weights, x, labels, "tanh"


def backward_verdicts(case, got):
    weights, x, labels, name = case
    return nn_parts.backward_verdicts(
        "grads", got, mlp.backward(weights, x, labels, name), n=x.shape[0],
        keys=nn_parts.gradient_keys(mlp.n_layers(weights)),
        hypotheses=nn_parts.backward_hypotheses(weights, x, labels, name,
                                                cases.CONFIGURED_BATCH_SIZE))


def test_backward_without_the_activation_derivative(backward_case):
    weights, x, labels, name = backward_case
    got = known_mistakes.backward_by_chain_rule(weights, mlp.forward(weights, x, name), labels,
                                                name, derivative="missing")
    failed = [verdict for _, verdict, _ in backward_verdicts(backward_case, got) if not verdict.passed]
    assert failed and {v.cause for v in failed} == {"backward.missing_activation_derivative"}


def test_backward_db_shapes_and_conventions(backward_case):
    weights, x, labels, name = backward_case
    n = x.shape[0]
    got = mlp.backward(weights, x, labels, name)
    got["db1"] = got["dA1"].sum(axis=1, keepdims=True)
    got["dZ1"] = got["dZ1"] * n
    result = {key: verdict for key, verdict, _ in backward_verdicts(backward_case, got)
              if not verdict.passed}
    assert result["db1"].cause == "backward.db_summed_over_units"
    assert result["db1"].message.endswith(". Likely cause: " + causes.BACKWARD_DB_OVER_UNITS)
    assert result["dZ1"].cause == "backward.mixed_conventions"
    assert result["dZ1"].message.endswith(": either convention is accepted for dA and dZ, the "
                                          "same one for all of them")


class WrongDropout:
    """A Dropout whose forward keeps each entry with probability ``keep(p)`` and multiplies the
    kept ones by ``scale(p)``; backward uses forward's mask."""

    def __init__(self, keep, scale):
        self.keep, self.scale = keep, scale

    def __call__(self, sequence, config, state):
        p, rng = config["p"], np.random.default_rng(config["seed"])
        steps = []
        for step in sequence:
            x, train = step["args"]
            mask = (rng.random(x.shape) < self.keep(p)) * self.scale(p) if train else np.ones(x.shape)
            steps.append({"result": x * mask, "then": step["then"]["args"][0] * mask})
        return steps


@pytest.mark.parametrize("keep, scale, id", [
    (lambda p: 1 - p, lambda p: 1.0, "dropout.not_rescaled"),
    (lambda p: p, lambda p: 1 / (1 - p), "dropout.keep_probability"),
])
def test_dropout_statistics(keep, scale, id):
    grade = run(dropout_part.test_dropout_train_statistics,
                FakeWorker(Dropout=WrongDropout(keep, scale)), 0.3)
    assert id in named(grade)


def test_activation_that_ignores_grad():
    def relu(x, grad=False, **_):
        return np.maximum(x, 0)

    grade = run(activations_part.test_relu, FakeWorker(relu=relu), np.random.default_rng(6))
    verdict = only_cause(grade, "activations.value_for_derivative")
    assert verdict.cause_text == "it returns relu(x), not its derivative"


def test_update_that_adds_the_gradient():
    def ascent(grads, config, state, **_):
        weights = {k: v + config["lr"] * grads["d" + k] for k, v in state["weights"].items()}
        return CallOutcome(True, None, state={"weights": weights})

    grade = run(update_part.test_update, FakeWorker(update=ascent), np.random.default_rng(7))
    assert set(named(grade)) == {"update.gradient_added"}


def test_one_sided_finite_differences():
    def one_sided(x, labels, epsilon, layer, p, config, state, **_):
        from reference import finite_differences

        return finite_differences._estimates(state["weights"], x, labels, config["activation"],
                                             epsilon, layer, p, nn_parts.EPSILON_LOSS, central=False)

    grade = Scorer()
    fd_part._grade_estimates(FakeWorker(finite_difference=one_sided), grade,
                             np.random.default_rng(8), "test_finite_difference_values")
    only_cause(grade, "finite_difference.one_sided")


def test_optimizer_trajectory_of_a_known_mistake_replaces_the_cause():
    """The variant's cause replaces the one the first difference named (``Verdict.reblame``),
    as the message's text always did."""
    rng = np.random.default_rng(9)
    hyper, params, stream, label = optimizers_part.runs(rng, "Adam")[0]
    got = known_mistakes.optimizer_variants("Adam", hyper, params, stream)["no_correction"]
    expected = optim.trajectory("Adam", hyper, params, stream)
    verdict = optimizers_part.trajectory_verdict("Adam", hyper, params, stream, label, got, expected)
    assert verdict.cause == "optimizers.no_bias_correction"
    first = optimizers_part.first_difference(got, expected)
    old = (f"Adam with {label} {hyper}: {first.message}".split(". Likely cause:")[0]
           + f". Likely cause: {causes.OPTIMIZER_NO_BIAS_CORRECTION}")
    assert verdict.message == old and verdict.notes == []


@pytest.mark.parametrize("name", optim.OPTIMIZERS)
def test_every_optimizer_variant_names_a_registered_cause(name):
    for hyper, params, stream, _ in optimizers_part.runs(np.random.default_rng(10), name):
        for cause in variant_trajectories(name, hyper, params, stream):
            assert causes.id_of(cause) in causes.REGISTRY, (name, cause)


def test_batchnorm_running_statistics_never_updated():
    state, steps, momentum = batchnorm_part.PUBLIC_CASES["test_batchnorm_running_stats"](
        np.random.default_rng(12))
    expected = batchnorm_steps(state, steps, batchnorm_part.EPS, momentum)
    got = [{"state": {"running_mean": state["running_mean"], "running_var": state["running_var"]}}
           for _ in steps]
    grade = Scorer()
    batchnorm_part.grade_records(grade, got, expected, ["running_mean", "running_var"], "stats",
                                 batchnorm_part.variants(state, steps, momentum=momentum))
    assert named(grade) == ["batchnorm.frozen_running"] * 2


def test_kaggle_labels_of_the_cat_class():
    x, ids, weight, bias = kaggle_part.probe_case(np.random.default_rng(13))
    dog, logits = kaggle_part.probabilities(x, weight, bias)
    verdict = kaggle_part._probability_verdict(1 - dog, dog, logits, x, weight, bias, ids,
                                               np.abs(1 - 2 * dog))
    assert verdict.cause == "kaggle_submission.cat_probability"


@dataclass
class Blocker:
    text: str
    blocks_layers: bool = False

    def describe(self) -> str:
        return self.text


def test_cnn_learning_causes():
    labels = np.arange(40) % 4
    wrong = np.eye(4)[(labels + 1) % 4]
    value = {"logits": wrong, "losses": [1.4, 1.39, 1.39]}
    grade = Scorer()
    cnn_checks.grade_learning(grade, value, "a run", labels, "Net", 0.5, "images", "Check it.",
                              lambda v: causes.joined([cnn_checks.stalled_loss(v)]),
                              [Blocker("x.detach() in forward (line 3)")], gain=0.1)
    verdict = grade.checks[0][1]
    assert verdict.cause == "cnn.loss_stalled"
    assert verdict.message.endswith(" Likely cause: the training loss hardly changed over 3 epochs "
                                    "(1.4 to 1.39): the parameters barely moved; x.detach() in "
                                    "forward (line 3) cuts forward from autograd")

    right = np.eye(4)[labels]
    value = {"logits": right, "controls": {"initial": right, "without_most": right},
             "parameters": {"total": 10, "trained": 10}}
    for blockers, id, end in (
            ([Blocker("x.detach() in forward (line 3)")], "cnn.detached_in_forward",
             " Likely cause, in forward: x.detach() in forward (line 3)."),
            ([], "cnn.forward_ignores_layers", "or values kept outside them.")):
        grade = Scorer()
        cnn_checks.grade_learning(grade, value, "a run", labels, "Net", 0.5, "images", "",
                                  None, blockers, gain=0.1)
        verdict = grade.checks[0][1]
        assert verdict.cause == id and verdict.message.endswith(end), verdict.message
    assert cnn_checks.training_blocked([Blocker("torch.no_grad()")]).id == "cnn.autograd_off"


# -- the handout: recorded variants name the same causes -------------------------------------------

def test_the_handouts_recorded_variants_name_the_same_causes(monkeypatch):
    """The handout has the withheld variants' outputs on the public cases only, recorded as JSON
    (``withheld.recording``): they are keyed by short names, and the grader names their causes,
    so a cause reaches the report with its id there too."""
    rng = np.random.default_rng(14)
    case = fd_part.make_case(rng, **fd_part.PUBLIC_CASES["test_finite_difference_values"])
    weights, x, labels = nn_parts.backward_case(rng, cases.BACKWARD)
    state, steps, momentum = batchnorm_part.PUBLIC_CASES["test_batchnorm_eval"](rng)
    hyper, params, stream, _ = optimizers_part.runs(rng, "RMSPropNesterov")[1]

    def hypotheses():
        return [fd_part.reference_estimates(case)[1],
                nn_parts.backward_hypotheses(weights, x, labels, "tanh", cases.CONFIGURED_BATCH_SIZE),
                batchnorm_part.variants(state, steps, momentum=momentum),
                variant_trajectories("RMSPropNesterov", hyper, params, stream)]

    with withheld.recording() as table:
        full = hypotheses()
    recorded = json.loads(json.dumps(table))
    monkeypatch.setattr(withheld, "rule", lambda module: None)
    monkeypatch.setattr(withheld, "_public_table", recorded)
    handout = hypotheses()
    for whole, replayed in zip(full, handout, strict=True):
        assert [(causes.id_of(k), str(k)) for k in replayed] == \
            [(causes.id_of(k), str(k)) for k in whole]
        assert all(causes.id_of(k) in causes.REGISTRY for k in whole)


def test_compare_array_records_a_hypothesis_id():
    expected = np.arange(6.0).reshape(2, 3) + 1
    verdict = compare_array("v", -expected + 0, expected,
                            hypotheses={causes.LOSS_SIGN: -expected})
    assert (verdict.cause, verdict.cause_text) == ("loss.sign_missing", "the minus sign is missing")
