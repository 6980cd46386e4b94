"""The graded cases' sizes can show every bug that confuses two dimensions (issue 11, section 4).

A bug that mixes up two sizes (N with a width, ``self.batch_size`` with N, W with W.T) is
invisible when they happen to be equal, and a transpose applied only to square layers is
invisible when no layer is square. Every case definition is checked here.
"""
import importlib

import pytest

from grader.verdicts import cases

WEIGHT_PARTS = ("forward", "backward", "update", "finite_difference", "train_loop")


def all_cases() -> dict:
    """``{name: Sizes}`` of every case defined in the visible and the hidden test modules."""
    found = {}
    for module_name in ("grader.verdicts.cases", "grader.hidden.cases"):
        module = importlib.import_module(module_name)
        found.update({f"{module_name}.{name}": value for name, value in vars(module).items()
                      if isinstance(value, cases.Sizes)})
    return found


@pytest.mark.parametrize("name", sorted(all_cases()))
def test_no_two_sizes_are_equal_by_accident(name):
    sizes = all_cases()[name]
    assert sizes.accidental_equalities() == [], name


@pytest.mark.parametrize("part", WEIGHT_PARTS)
def test_every_part_that_handles_weights_has_square_and_non_square_layers(part):
    of_part = [s for s in all_cases().values() if s.part == part]
    assert any(s.square_layers() for s in of_part), f"{part}: no case with a square layer"
    assert any(s.non_square_layers() for s in of_part), f"{part}: no case with a non-square layer"


def test_the_check_sees_accidental_equalities():
    # batch 7 = width 7, self.batch_size 16 = width 16, features 3 = classes 3
    assert cases.Sizes("backward", 8, (9, 7, 5), 3, batch=7).accidental_equalities() == [
        "batch N = d_2 (width) = 7"]
    assert cases.Sizes("train_loop", 12, (16,), 4, batch=96).accidental_equalities() == [
        "self.batch_size = d_1 (width) = 16"]
    assert cases.Sizes("x", 3, (5,), 3, batch=7).accidental_equalities() == [
        "d_0 (features) = d_2 (classes) = 3"]
    # a deliberate square layer (and a run of them) is no accident; equal widths apart are
    assert cases.Sizes("x", 6, (10, 10, 10, 8), 4, batch=7).accidental_equalities() == []
    assert cases.Sizes("x", 6, (10, 8, 10), 4, batch=7).accidental_equalities() == [
        "d_1 (width) = d_3 (width) = 10"]


def test_graded_calls_use_the_configured_batch_size_of_their_case():
    assert cases.BACKWARD.config()["batch_size"] == cases.CONFIGURED_BATCH_SIZE != cases.BACKWARD.batch
    assert cases.TRAIN_LOOP_LEARNS.config()["batch_size"] == 24
