"""The practical studies of issue 16 (perceptron vs hinge, softmax derivatives, activations through
depth), each run at smoke scale through ``report.engine.run_study`` as ``python -m report`` does.

Thresholds measured over seeds 0-9 at smoke scale: the mean test accuracy was 0.935-0.946
(perceptron) and 0.947-0.961 (hinge); the largest softmax identity error 5e-10 to 2.6e-9; the
last tanh layer's saturated share 0.864-0.868 with N(0, 1) weights and 0.000 with Xavier; the
std of the 5th ReLU layer over the 1st's 0.21-0.29 with Xavier and 0.92-1.17 with He.
"""
from __future__ import annotations

import json
import time

import pytest
from conftest import TEMPLATE, WORKED_SOLUTION

from report import engine
from report.student import load_solution
from report.studies import activations_depth, perceptron, softmax_derivatives

pytestmark = pytest.mark.xdist_group("report")
STUDIES = (perceptron, softmax_derivatives, activations_depth)


def run_smoke(study, solution_path, out):
    """One study at smoke scale, as the engine runs it; returns (section, its logs, seconds)."""
    started = time.perf_counter()
    section = engine.run_study(study, solution=load_solution(solution_path), solution_path=solution_path,
                               out=out, scale="smoke", data_root=None, force=True, progress=False,
                               say=lambda *_: None)
    seconds = time.perf_counter() - started
    logs_path = out / study.NAME / "logs.json"
    record = json.loads(logs_path.read_text()) if logs_path.is_file() else None
    return section, record, seconds


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("practical")
    return {study.NAME: run_smoke(study, WORKED_SOLUTION, out) for study in STUDIES}


@pytest.mark.parametrize("study", STUDIES, ids=lambda study: study.NAME)
def test_each_study_runs_at_smoke_scale_and_writes_its_logs_figures_table_and_settings(smoke_runs, study):
    section, record, _ = smoke_runs[study.NAME]
    assert section.status == engine.OK, section.message
    assert record["status"] == "ok" and record["fingerprint"]["study"] == study.NAME
    assert record["seconds"] < 20   # the run itself; a few seconds on an idle core
    assert section.figures and all(paths["png"].stat().st_size > 0 and paths["pdf"].stat().st_size > 0
                                   for paths in section.figures.values())
    headers, rows = section.table
    assert headers and rows and all(len(row) == len(headers) for row in rows)
    assert section.settings["scale"] == "smoke" and "seed" in section.settings
    assert "parameters" in section.settings and section.notes


def test_the_perceptron_and_the_hinge_loss_both_beat_chance(smoke_runs):
    logs = smoke_runs["perceptron"][1]["logs"]
    assert set(logs["runs"]) == set(perceptron.LOSSES)
    for run in logs["runs"].values():
        assert len(run["test_accuracy"]) == perceptron.Config.at_scale("smoke").redraws
        assert run["spread"]["mean"] > 0.7
        assert run["spread"]["p5"] <= run["spread"]["mean"] <= run["spread"]["p95"]


def test_the_perceptron_at_w_zero_classifies_nothing_and_its_training_separates_the_points():
    import numpy as np

    rng = np.random.default_rng(3)
    x, y = perceptron.draw(rng, (4, 20))
    assert perceptron.accuracy(np.zeros((1, 3)), x[0], y[0])[0] == 0.0   # sign(0) is never right
    w, losses = perceptron.train(x, y, 0.0, 2000, 1.0)
    assert all(perceptron.accuracy(w[r:r + 1], x[r], y[r])[0] == 1.0 for r in range(4))
    # The perceptron loss is already 0 at w = 0 (every margin is 0): only the subgradient taken at
    # the kink moves w, and it ends at a separator with the loss still 0.
    assert np.all(losses[0] == 0.0) and np.all(losses[-1] == 0.0) and np.all(np.abs(w).sum(axis=1) > 0)


def test_the_softmax_identities_hold_and_the_students_softmax_is_checked(smoke_runs):
    logs = smoke_runs["softmax_derivatives"][1]["logs"]
    for worst in logs["worst"].values():
        assert worst["absolute"] < 1e-6
    sweep = logs["sweep"]["errors"]
    for errors in sweep.values():   # truncation error at eps = 0.1 is far above the best step's
        assert errors[0] > 100 * min(errors)
    assert logs["student"]["status"] == "checked" and logs["student"]["max_abs_error"] < 1e-12


def test_a_softmax_not_written_yet_is_a_note_not_a_failure(tmp_path):
    section, record, _ = run_smoke(softmax_derivatives, TEMPLATE, tmp_path)
    assert section.status == engine.OK, section.message
    assert record["logs"]["student"]["status"] == "not implemented"
    assert any("not implemented" in note for note in section.notes)
    assert all(worst["absolute"] < 1e-6 for worst in record["logs"]["worst"].values())


def test_tanh_saturates_with_normal_weights_and_relu_shrinks_with_xavier_not_he(smoke_runs):
    runs = smoke_runs["activations_depth"][1]["logs"]["runs"]
    assert len(runs["tanh/normal"]["values"]) == 5 and len(runs["relu/he"]["saturated"]) == 5
    assert runs["tanh/normal"]["saturated"][-1] > 0.5 > 0.05 > runs["tanh/xavier"]["saturated"][-1]
    assert runs["sigmoid/normal"]["saturated"][-1] > 10 * runs["sigmoid/xavier"]["saturated"][-1] + 0.3

    def shrink(run):
        return run["std"][-1] / run["std"][0]
    assert shrink(runs["relu/xavier"]) < 0.5 < 0.7 < shrink(runs["relu/he"])
    assert all(0.3 < dead < 0.7 for run in ("relu/xavier", "relu/he") for dead in runs[run]["saturated"])
