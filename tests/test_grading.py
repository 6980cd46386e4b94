"""End-to-end: the worked solution, the template, broken files, results.json.

Determinism is tested in tests/test_determinism.py."""
import sys

import pytest
from conftest import TEMPLATE, WORKED_SOLUTION, grade_file, part_scores, patched_solution

from grader.rubric import DEFAULT_PARTS, DEFAULT_RUBRIC, PARTS, RUBRIC


def test_worked_solution_scores_full_marks(worked_results):
    code, output, data = worked_results
    assert code == 0, output
    assert data["score"] == data["max_score"] == sum(row.points for row in DEFAULT_RUBRIC)
    assert all(t["status"] == "passed" and t["score"] == t["max_score"] for t in data["tests"])
    assert set(part_scores(data)) == set(DEFAULT_PARTS)
    assert "(100.0 %)" in output


def test_results_json_has_gradescope_fields(worked_results):
    _, _, data = worked_results
    assert {"score", "max_score", "tests", "output", "visibility", "execution_time"} <= set(data)
    assert len(data["tests"]) == len(DEFAULT_RUBRIC)
    for test in data["tests"]:
        assert {"name", "score", "max_score", "output", "visibility", "tags"} <= set(test)
        assert len(test["tags"]) == 1 and test["tags"][0] in PARTS
        assert test["visibility"] in ("visible", "after_published")
    hidden = [t for t in data["tests"] if t["visibility"] == "after_published"]
    assert hidden and all("test_hidden" in t["name"] for t in hidden)
    reproducibility = data["extra_data"]["nngrade"]["reproducibility"]
    assert len(reproducibility["suite_sha256"]) == 64
    assert {"suite_seed", "numpy", "torch", "python"} <= set(reproducibility)


def test_template_scores_zero_with_not_implemented_verdicts(tmp_path):
    code, output, data = grade_file(TEMPLATE, tmp_path / "results.json")
    assert code == 1
    assert data["score"] == 0
    for test in data["tests"]:
        assert "not implemented" in test["output"], test
        assert "GRADER ERROR" not in test["output"] and "Traceback" not in test["output"]
    assert "GRADER ERROR" not in output


def test_missing_submission_is_a_clear_error(tmp_path):
    code, output, data = grade_file(tmp_path / "nope.py", tmp_path / "results.json")
    assert code == 2 and data is None
    assert "no file at" in output


@pytest.mark.parametrize("source, words", [
    ("import numpy as np\nclass NN:\n    def relu(self, x grad=False):\n        pass\n",
     "SyntaxError"),
    ("import numpy as np\nimport torchvision_that_does_not_exist\n", "ModuleNotFoundError"),
    ("raise RuntimeError('broken at import')\n", "broken at import"),
    ("import sys\nsys.exit(3)\n", "SystemExit"),
])
def test_submission_that_does_not_import_scores_zero_with_one_message(tmp_path, source, words):
    path = tmp_path / "solution.py"
    path.write_text(source)
    code, output, data = grade_file(path, tmp_path / "results.json")
    assert code == 1 and data["score"] == 0
    assert output.count("could not be loaded") == 1, output
    load_message = output[output.index("could not be loaded"):]
    assert words in load_message
    assert "Traceback (most recent call last)" not in output


def test_grading_a_file_from_another_directory_via_pytest_option(tmp_path):
    import subprocess

    from conftest import REPOSITORY
    process = subprocess.run(
        [sys.executable, "-m", "pytest", "grader", "--submission", str(WORKED_SOLUTION), "-q",
         "-p", "no:cacheprovider", "-k", "softmax"],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stdout + process.stderr
    assert "softmax" in process.stdout and "9.00 / 9" in process.stdout


def test_grading_only_some_parts(tmp_path):
    code, output, data = grade_file(WORKED_SOLUTION, tmp_path / "results.json", "--parts",
                                    "backward,update")
    assert code == 0, output
    assert {t["tags"][0] for t in data["tests"]} == {"backward", "update"}
    assert data["score"] == data["max_score"] == sum(
        row.points for row in RUBRIC if row.part in ("backward", "update"))
    code, output, _ = grade_file(WORKED_SOLUTION, tmp_path / "other.json", "--parts", "nope")
    assert code == 2 and "unknown parts nope" in output


def test_part_4_written_another_way_scores_full_marks(tmp_path):
    """Other architectures (LeNet-like with torch's batch norm and dropout, a functional-style
    network with its own dropout), another BatchNorm2d, RMSprop, the csv module: Part 4 is
    graded on behaviour and rules, not on the worked solution's choices."""
    from conftest import REPOSITORY

    worked = WORKED_SOLUTION.read_text()
    parts_1_to_3 = worked[:worked.index("# " + "-" * 93 + "\n# Part 4")]
    submission = tmp_path / "solution.py"
    submission.write_text(parts_1_to_3 + (REPOSITORY / "tests" / "submissions" / "alt_part4.py").read_text())
    part_4 = ("batchnorm2d", "mnist_cnn", "cats_dogs_cnn", "kaggle_submission")
    code, output, data = grade_file(submission, tmp_path / "results.json", "--parts", ",".join(part_4))
    assert data is not None, output
    assert code == 0, output
    assert set(part_scores(data)) == set(part_4)
    assert data["score"] == data["max_score"] > 0, output


@pytest.mark.parametrize("writer, full_marks", [
    # float ids, 2 decimals, Windows line endings: a valid Kaggle file
    ('        file.write("id,label\\r\\n")\n'
     '        file.writelines(f"{float(image_id)},{p:.2f}\\r\\n" for image_id, p in rows)\n', True),
    # the header and nothing else
    ('        file.write("id,label\\n")\n', False),
])
def test_kaggle_files_are_judged_on_content_not_formatting(tmp_path, writer, full_marks):
    worked = ('        file.write("id,label\\n")\n'
              '        file.writelines(f"{int(image_id)},{p:.6f}\\n" for image_id, p in rows)\n')
    submission = patched_solution(tmp_path, ((worked, writer),))
    code, output, data = grade_file(submission, tmp_path / "results.json", "--parts", "kaggle_submission")
    assert data is not None, output
    earned, possible = part_scores(data)["kaggle_submission"]
    if full_marks:
        assert earned == possible, output
    else:
        assert earned == 0 and "no rows" in output, output
