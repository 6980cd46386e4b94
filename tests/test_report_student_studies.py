"""The practical studies that run the student's own code (issue 16): batch norm vs dropout on
LeNet-5 with the student's BatchNorm2d, and the adaptive optimizers with the student's NN and
optimizers; each at smoke scale through ``report.engine.run_study``."""
from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import TEMPLATE, WORKED_SOLUTION
from test_report_practical import run_smoke

from report import engine
from report.student import load_solution
from report.studies import adaptive_optimizers, lenet_regularization
from reference.lenet import BN_SHAPES, VARIANTS

pytestmark = pytest.mark.xdist_group("report")


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("student_studies")
    return {study.NAME: run_smoke(study, WORKED_SOLUTION, out)
            for study in (lenet_regularization, adaptive_optimizers)}


def test_the_lenet_table_has_a_row_per_batch_norm_layer(smoke_runs):
    section, record, _ = smoke_runs["lenet_regularization"]
    assert section.status == engine.OK, section.message
    assert set(section.figures) == {"accuracy", "batch_norm_gamma", "batch_norm_beta"}
    runs = record["logs"]["runs"]
    assert set(runs) == set(VARIANTS)
    _, rows = section.table
    labels = [row[0] for row in rows]
    for variant, spec in VARIANTS.items():
        layers = [where for where in BN_SHAPES if spec["norm"] and (where != "input" or spec["input_norm"])]
        assert set(runs[variant]["batch_norm"]) == set(layers), variant
        assert [label for label in labels if label.startswith(f"{variant}: BN at ")] == [
            f"{variant}: BN at {where}" for where in layers]
        for where in layers:
            values = runs[variant]["batch_norm"][where]
            assert len(values["gamma"]) == len(values["beta"]) == BN_SHAPES[where][0]
        last = runs[variant]["history"][-1]
        assert 0.1 < last["test"]["accuracy"] <= 1 and math.isfinite(last["test"]["loss"])


def test_each_of_the_students_optimizers_trains_the_mlp(smoke_runs):
    section, record, _ = smoke_runs["adaptive_optimizers"]
    assert section.status == engine.OK, section.message
    runs = record["logs"]["runs"]
    # each optimizer without, then with the student's own Dropout, in one table and one figure
    assert [(run["variant"], run["optimizer"]) for run in runs] == [
        (variant, name) for variant in ("without dropout", "dropout 0.2 / 0.5")
        for name in adaptive_optimizers.SETTINGS]
    for run in runs:
        # one epoch on 1,000 digits: 0.45-1.21 with the worked solution without dropout, up to
        # 1.85 with it (half the hidden units dropped learns slower); ln 10 = 2.30 at chance
        ceiling = 1.8 if run["variant"] == "without dropout" else 2.1
        assert run["train_loss"][-1] < ceiling and run["test_accuracy"] > 0.5, run
        assert run["seconds"] > 0
    assert set(section.figures) == {"training_loss"}
    _, rows = section.table
    assert {row[1] for row in rows} == {"without dropout", "dropout 0.2 / 0.5"}
    assert not any("Dropout" in note for note in record["notes"])


class _FixedMask:
    """A dropout whose masks depend only on the shape (the same on every call), so that the
    loss of the network with dropout is a function of its weights and central differences can
    check its gradients."""

    def __init__(self, p, seed=None):
        self.p = p

    def forward(self, x, train=True):
        rng = np.random.default_rng(x.shape[1])
        mask = (rng.random(x.shape) >= self.p) / (1.0 - self.p)
        return x * mask, mask

    def backward(self, dout, mask):
        return dout * mask


def test_the_dropout_subclass_gives_the_gradients_of_the_dropped_network():
    """``with_dropout`` wraps only the student's forward and activation: the gradients the
    student's own backward then computes are those of the network with the masks applied
    (central differences on weights of every layer agree), and evaluation runs without
    dropout."""
    solution = load_solution(WORKED_SOLUTION)
    network_class = adaptive_optimizers.with_dropout(solution.NN, _FixedMask, 0.2, 0.5)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 6))
    labels = np.eye(3)[rng.integers(0, 3, size=8)]
    network = network_class(hidden_dims=(5, 4), seed=0, activation="tanh", init_method="glorot",
                            data=((x, labels), (x, labels), (x, labels)))
    network.initialize_weights((6, 3))
    last = f"Z{network.n_hidden + 1}"

    def loss() -> float:
        return network.loss(network.forward(x)[last], labels)

    grads = network.backward(network.forward(x), labels)
    for layer in (1, 2, 3):
        weights = network.weights[f"W{layer}"]
        for index in [(0, 0), (1, 2), (weights.shape[0] - 1, weights.shape[1] - 1)]:
            kept = weights[index]
            weights[index] = kept + 1e-6
            up = loss()
            weights[index] = kept - 1e-6
            down = loss()
            weights[index] = kept
            assert grads[f"dW{layer}"][index] == pytest.approx((up - down) / 2e-6, rel=1e-5, abs=1e-9)
    # without dropout in evaluation: the plain network's loss
    plain = solution.NN(hidden_dims=(5, 4), seed=0, activation="tanh", init_method="glorot",
                        data=((x, labels), (x, labels), (x, labels)))
    plain.weights = {name: value.copy() for name, value in network.weights.items()}
    assert network.compute_loss_and_accuracy(x, labels)[0] == pytest.approx(
        plain.compute_loss_and_accuracy(x, labels)[0])
    assert loss() != pytest.approx(plain.loss(plain.forward(x)[last], labels))


def test_the_template_report_names_the_missing_parts(tmp_path):
    for study, words in ((lenet_regularization, "BatchNorm2d"), (adaptive_optimizers, "NN.")):
        section, record, _ = run_smoke(study, TEMPLATE, tmp_path)
        assert section.status == engine.NEEDS and words in section.message, section.message
        assert record is None   # nothing to re-plot


def test_the_orthogonal_subclass_starts_from_orthogonal_weights():
    """Study 1's orthogonal initialization: the student's own initialize_weights runs (biases as
    the student sets them), then every weight matrix is (semi-)orthogonal, the same for the
    same seed and another for another seed."""
    from report.studies.initialization import orthogonal

    solution = load_solution(WORKED_SOLUTION)
    weights = []
    for seed in (0, 0, 1):
        network = orthogonal(solution.NN, seed)(hidden_dims=(7, 5), seed=seed, init_method="glorot")
        network.initialize_weights((9, 3))
        weights.append(network.weights)
        for name, matrix in network.weights.items():
            if name.startswith("W"):
                tall = matrix if matrix.shape[0] >= matrix.shape[1] else matrix.T
                assert np.allclose(tall.T @ tall, np.eye(tall.shape[1])), name
            else:
                assert not matrix.any(), name   # the worked solution's zero biases, kept
    assert all(np.array_equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert not np.array_equal(weights[0]["W1"], weights[2]["W1"])


def test_the_sigmoid_slope_subclass_uses_the_students_sigmoid_at_k_x():
    """Study 9's sigmoid with slope k: the student's own sigmoid at ``k x``, its derivative
    ``k sigmoid'(k x)`` (central differences agree); an NN whose activation does not go through
    ``self.sigmoid`` gets no slope, and the study says so instead of plotting the same curve."""
    from report.studies import activations_depth

    solution = load_solution(WORKED_SOLUTION)
    x = np.linspace(-3.0, 3.0, 13).reshape(1, -1)
    for k in (0.25, 4.0):
        network = activations_depth.sloped(solution.NN, k)(activation="sigmoid")
        assert np.allclose(network.activation(x), 1 / (1 + np.exp(-k * x)))
        numeric = (network.activation(x + 1e-6) - network.activation(x - 1e-6)) / 2e-6
        assert np.allclose(network.activation(x, grad=True), numeric, atol=1e-8)

    class Inlined(solution.NN):
        def activation(self, a, grad=False):
            s = 1 / (1 + np.exp(-a))
            return s * (1 - s) if grad else s

    class Context:
        notes: list = []
        data_root = None
        scale = "smoke"
        solution = type("Solution", (), {"NN": Inlined})

        @staticmethod
        def progress(items, **_):
            return items

    config = activations_depth.Config.at_scale("smoke")
    assert activations_depth.train_slopes(config, Context) is None
    assert "does not call self.sigmoid" in Context.notes[-1]


def test_a_dropout_not_written_yet_leaves_the_runs_without_it():
    """The template's Dropout raises NotImplementedError: the study says so and keeps its runs
    without dropout, rather than losing the whole section."""
    class Template:
        class Dropout:
            def __init__(self, p, seed=None):
                self.p = p

            def forward(self, x, train=True):
                raise NotImplementedError("dropout: Dropout.forward is not implemented yet")

    assert "not written yet" in adaptive_optimizers._dropout_missing(Template)
    assert "no Dropout class" in adaptive_optimizers._dropout_missing(object())
    assert adaptive_optimizers._dropout_missing(load_solution(WORKED_SOLUTION)) == ""
