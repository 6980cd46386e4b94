"""Part kaggle_submission: write_kaggle_submission on a fixed probe model (whose probabilities
this process computes itself in float64) and a loader of scrambled, non-contiguous ids."""
import csv
import io

import numpy as np
import torch

from grader import causes
from grader import tolerances as tol
from grader.verdicts.checks import Verdict

N_IMAGES, BATCH = 37, 8      # the last batch holds 5 images
TRAIN_SHIFT = [1.5, -1.5]    # the probe's logits in training mode (see worker_cnn.KaggleProbe)


def probe_case(rng):
    """Images, ids in loader order, and the probe's weights. The ids include 9, 10, 99 and 100,
    so that sorting them as strings gives another order than sorting them as numbers."""
    x = rng.uniform(0, 1, (N_IMAGES, 3, 64, 64)).astype(np.float32)
    others = rng.choice(np.arange(101, 12501), N_IMAGES - 4, replace=False)
    ids = rng.permutation(np.concatenate([[9, 10, 99, 100], others])).astype(np.int64)
    weight = rng.normal(0, 0.02, (2, 3 * 64 * 64)).astype(np.float32)
    bias = np.array([0.3, -0.2], dtype=np.float32)
    return x, ids, weight, bias


def probabilities(x, weight, bias, shift=(0.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
    """``(P(dog) (N,), logits (N, 2))`` of the probe, in float64. The softmax is torch's: a
    numpy softmax is Part 1's answer, and this file ships in the student handout."""
    logits = x.reshape(len(x), -1).astype(np.float64) @ weight.T.astype(np.float64) + bias + shift
    p = torch.softmax(torch.from_numpy(np.asarray(logits, dtype=np.float64)), dim=1).numpy()
    return p[:, 1], logits


def written_file(worker, grade, rng):
    x, ids, weight, bias = probe_case(rng)
    outcome = worker.cnn("kaggle", x=x, ids=ids, weight=weight, bias=bias,
                         train_shift=TRAIN_SHIFT, batch_size=BATCH)
    value = grade.require(outcome, "write_kaggle_submission(model, loader, path)")
    if not isinstance(value, dict) or not value.get("written"):
        grade.fail("write_kaggle_submission returned without writing a file at the path it was given")
    content = value.get("bytes")
    if not isinstance(content, np.ndarray) or content.dtype != np.uint8:
        grade.fail("the submission file could not be read back")
    if value.get("truncated"):
        grade.fail(f"the submission file is over {content.size:,} bytes for {N_IMAGES} images")
    try:
        text = content.tobytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        grade.fail("the submission file is not UTF-8 text")
    return text, x, ids, weight, bias


def rows_of(grade, text: str) -> list[list[str]]:
    """The CSV rows (any line endings), blank lines dropped."""
    try:
        return [row for row in csv.reader(io.StringIO(text, newline="")) if row]
    except csv.Error as error:
        grade.fail(f"the submission file is not readable CSV: {error}")


def _integer(cell: str) -> int | None:
    """``9`` for "9", " 9 " or "9.0" (ids written as floats, e.g. by np.savetxt); else None."""
    try:
        value = float(cell.strip())
    except ValueError:
        return None
    return int(value) if value.is_integer() else None


def labels_by_id(rows) -> dict[int, float]:
    """``{id: label}`` for the rows that parse as ``<integer>,<number>``."""
    parsed = {}
    for row in rows:
        if len(row) != 2:
            continue
        image_id = _integer(row[0])
        try:
            label = float(row[1].strip())
        except ValueError:
            continue
        if image_id is not None:
            parsed[image_id] = label
    return parsed


def test_kaggle_csv_format(worker, grade, rng):
    text, _, ids, _, _ = written_file(worker, grade, rng)
    rows = rows_of(grade, text)
    if not rows:
        grade.fail("the submission file is empty; expected the header id,label and one row per image")
    header = [cell.strip() for cell in rows[0]]
    grade.expect(rows[0] == ["id", "label"],
                 f"the header is {','.join(rows[0])!r}; Kaggle expects exactly 'id,label'"
                 + (" (without spaces)" if header == ["id", "label"] else ""))
    body = rows[1:] if header == ["id", "label"] or not _is_data(rows[0]) else rows
    parsed = labels_by_id(body)
    if not parsed:
        grade.fail(f"the submission file has no rows '<id>,<number>' after the header; expected "
                   f"one per image ({N_IMAGES})")
    ids_written = [_integer(row[0]) for row in body if _is_data(row)]
    unparsed = len(body) - len(ids_written)
    grade.expect(unparsed == 0, f"{unparsed} of the {len(body)} rows are not '<id>,<number>', e.g. "
                 f"{','.join(next(r for r in body if not _is_data(r)))!r}" if unparsed else "")
    expected = sorted(int(i) for i in ids)
    missing = sorted(set(expected) - set(parsed))
    extra = sorted(set(parsed) - set(expected))
    repeated = len(ids_written) - len(set(ids_written))
    grade.expect(not missing and not extra and not repeated,
                 f"the rows do not list each of the {len(expected)} images once: "
                 f"{len(missing)} ids missing (e.g. {missing[:3]}), {len(extra)} unknown "
                 f"(e.g. {extra[:3]}), {repeated} repeated")
    as_strings = sorted(expected, key=str)
    order_hint = ""
    if ids_written == as_strings:
        order_hint = " (they are sorted as strings: 10 before 9; sort the ids as numbers)"
    elif ids_written == [int(i) for i in ids]:
        order_hint = " (they are in the loader's order; sort them)"
    grade.expect(ids_written == sorted(ids_written),
                 f"the rows are not sorted by id{order_hint}")
    labels = np.array(list(parsed.values()), dtype=float)
    outside = int(np.sum(~((labels >= 0) & (labels <= 1))))
    grade.expect(outside == 0, f"{outside} labels are not probabilities in [0, 1] (e.g. "
                 f"{labels[~((labels >= 0) & (labels <= 1))][:3].tolist()}); label is P(dog), "
                 "the softmax of the logits" if outside else "")


def _is_data(row) -> bool:
    return len(row) == 2 and bool(labels_by_id([row]))


def test_kaggle_csv_probabilities(worker, grade, rng):
    text, x, ids, weight, bias = written_file(worker, grade, rng)
    parsed = labels_by_id(rows_of(grade, text))
    if not all(int(i) in parsed for i in ids):
        grade.fail("the submission file does not have a row '<id>,<number>' for every image, so "
                   "its probabilities cannot be checked (see test_kaggle_csv_format)")
    got = np.array([parsed[int(i)] for i in ids])
    dog, logits = probabilities(x, weight, bias)
    error = np.abs(got - dog)
    wrong = ~(error <= tol.KAGGLE_PROBABILITY_ATOL)   # a NaN label is wrong, not unjudged
    grade.check(_probability_verdict(got, dog, logits, x, weight, bias, ids, error)
                if np.any(wrong) else Verdict(True))


def _probability_verdict(got, dog, logits, x, weight, bias, ids, error) -> Verdict:
    """What differs between the labels and the probe's P(dog), and the likely cause."""
    dog_training, _ = probabilities(x, weight, bias, TRAIN_SHIFT)
    variants = {
        causes.KAGGLE_CAT_PROBABILITY: 1 - dog,
        causes.KAGGLE_PREDICTED_CLASSES: (dog > 0.5).astype(float),
        causes.KAGGLE_TRAINING_MODE: dog_training,
        causes.KAGGLE_RAW_LOGITS: logits[:, 1],
        causes.KAGGLE_SIGMOID:
            torch.sigmoid(torch.from_numpy(np.ascontiguousarray(logits[:, 1]))).numpy(),
    }
    named = [cause for cause, values in variants.items()
             if np.all(np.abs(got - values) <= tol.KAGGLE_PROBABILITY_ATOL)]
    worst = int(np.argmax(error))
    verdict = Verdict(False, f"{int(np.sum(~(error <= tol.KAGGLE_PROBABILITY_ATOL)))} of "
                             f"{len(ids)} labels differ from the model's P(dog) by more than "
                             f"{tol.KAGGLE_PROBABILITY_ATOL}; worst: id {int(ids[worst])}, label "
                             f"{got[worst]:.6g}, P(dog) {dog[worst]:.6g}")
    return verdict.blame(named[0]) if named else verdict
