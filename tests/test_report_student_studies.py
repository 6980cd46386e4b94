"""The practical studies that run the student's own code (issue 16): batch norm vs dropout on
LeNet-5 with the student's BatchNorm2d, and the adaptive optimizers with the student's NN and
optimizers; each at smoke scale through ``report.engine.run_study``."""
from __future__ import annotations

import math

import pytest
from conftest import TEMPLATE, WORKED_SOLUTION
from test_report_practical import run_smoke

from report import engine
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
    assert [run["optimizer"] for run in runs] == list(adaptive_optimizers.SETTINGS)
    for run in runs:
        # one epoch on 1,000 digits: 0.45-1.21 with the worked solution, ln 10 = 2.30 at chance
        assert run["train_loss"][-1] < 1.8 and run["test_accuracy"] > 0.5, run
        assert run["seconds"] > 0
    assert any("no dropout" in note for note in record["notes"])   # the template's NN has none


def test_the_template_report_names_the_missing_parts(tmp_path):
    for study, words in ((lenet_regularization, "BatchNorm2d"), (adaptive_optimizers, "NN.")):
        section, record, _ = run_smoke(study, TEMPLATE, tmp_path)
        assert section.status == engine.NEEDS and words in section.message, section.message
        assert record is None   # nothing to re-plot
