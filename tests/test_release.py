"""The student handout: template, public grader, report builder, README; no answers, no hidden
tests, and no module that computes a numpy part's answer."""
import inspect
import json
import os
import pickle
import shutil
import stat
import subprocess
import sys

import answer_probe
import pytest
from bugs import BUGS
from conftest import REPOSITORY, TEMPLATE, WORKED_SOLUTION, grade_file, patched_solution

from grader.authoring.release import (WRITTEN_FILES, ReleaseError, check_handout,
                                      handout_sources, release)
from grader.rubric import DEFAULT_RUBRIC
from reference import known_mistakes, withheld


@pytest.fixture(scope="module")
def handout(tmp_path_factory):
    target = tmp_path_factory.mktemp("release") / "handout"
    process = subprocess.run([sys.executable, "-m", "grader", "release", str(target)],
                             cwd=REPOSITORY, capture_output=True, text=True, timeout=120)
    assert process.returncode == 0, process.stderr
    return target


def test_handout_folder_is_shared_and_says_how_to_install_torch_for_the_cpu(handout):
    """The handout is a folder for others to read (it was 0700, mkdtemp's private mode), and its
    README installs torch's CPU-only build first (PyPI's default pulls several GB of CUDA)."""
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(handout.stat().st_mode) == 0o777 & ~umask
    readme = (handout / "README.md").read_text()
    cpu = readme.index("--index-url https://download.pytorch.org/whl/cpu")
    assert cpu < readme.index("pip install -r requirements.txt")


def test_handout_holds_the_template_and_no_answers(handout):
    assert (handout / "solution.py").read_text() == TEMPLATE.read_text()
    assert (handout / "README.md").is_file() and (handout / "requirements.txt").is_file()
    assert (handout / "grader" / "conftest.py").is_file()
    assert not (handout / "grader" / "hidden").exists()
    worked = WORKED_SOLUTION.read_text()
    for path in handout.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert text != worked
            marker_lines = [line for line in text.splitlines()
                            if line.strip().startswith(("# BEGIN SOLUTION", "# END SOLUTION"))]
            assert not marker_lines and "test_hidden_" not in text, path
    check_handout(handout, WORKED_SOLUTION)  # the release's own guard agrees


def test_handout_grader_runs_on_its_own(handout):
    visible_points = sum(row.points for row in DEFAULT_RUBRIC if not row.hidden)
    template = subprocess.run([sys.executable, "-m", "pytest", "grader", "-q",
                               "-p", "no:cacheprovider"],
                              cwd=handout, capture_output=True, text=True, timeout=300)
    assert template.returncode == 1
    assert f"0.00 / {visible_points:g}" in template.stdout, template.stdout
    worked = subprocess.run([sys.executable, "-m", "pytest", "grader", "-q", "-p",
                             "no:cacheprovider", "--submission", str(WORKED_SOLUTION)],
                            cwd=handout, capture_output=True, text=True, timeout=300)
    assert worked.returncode == 0, worked.stdout
    assert f"{visible_points:.2f} / {visible_points:g}" in worked.stdout


def test_handout_holds_no_reference_that_is_an_answer(handout):
    """Seen: the handout copied reference/optim.py's RMSPropNesterov, the very update the student
    must write, and reference/mlp.py's hand-written initializer, update, train loop and central
    differences. The handout keeps the hand-written rules' outputs on the public cases, not the
    rules; the rest of reference/ is torch."""
    assert set(withheld.RULE_MODULES) >= {"rmsprop_nesterov", "finite_differences",
                                          "known_mistakes"}
    for module in withheld.RULE_MODULES:
        assert not (handout / "reference" / f"{module}.py").exists()
    assert (handout / "reference" / "public_outputs.json").is_file()
    mlp_source = (handout / "reference" / "mlp.py").read_text()
    for torch_form in ("torch.optim.SGD", "torch.nn.init.xavier_uniform_", "DataLoader"):
        assert torch_form in mlp_source
    for path in handout.rglob("*.py"):
        if path != handout / "solution.py":
            text = path.read_text()
            assert "class RMSPropNesterov" not in text, path
            # the perturbation scheme of central differences, and any numpy random draw
            assert "2.0 * epsilon" not in text and "RandomState" not in text, path
    # The handout's references cannot run the rules on inputs of their own: they know the
    # public cases only.
    probe = ("import numpy as np\nfrom reference import mlp, optim\n"
             "try:\n    optim.trajectory('RMSPropNesterov', {'lr': 0.1}, {'w': np.ones(2)},"
             " [{'dw': np.ones(2)}])\nexcept LookupError as error:\n    print('no rule:', error)\n"
             "w = {'W1': np.ones((2, 2)), 'b1': np.zeros((1, 2))}\n"
             "try:\n    mlp.central_differences(w, np.ones((1, 2)), np.eye(2)[:1], 'relu', 1e-3, 1,"
             " 2, 1e-6)\nexcept LookupError as error:\n    print('no rule:', error)\n")
    process = subprocess.run([sys.executable, "-c", probe], cwd=handout, capture_output=True,
                             text=True, timeout=120)
    assert process.returncode == 0, process.stdout + process.stderr
    assert process.stdout.count("no rule: ") == 2, process.stdout + process.stderr


@pytest.mark.parametrize("part, bug, lost, cause", [
    ("optimizers", ("params[name] = param + (1 + self.momentum) * new_velocity - self.momentum * velocity",
                    "params[name] = param + new_velocity"),
     "test_optimizer[RMSPropNesterov] (0 / 3)", "moved by v' only"),
    ("finite_difference", ("(loss_plus - loss_minus) / (2 * epsilon)", "(loss_plus - loss_minus) / epsilon"),
     "test_finite_difference_values (0 / ", "divided by epsilon instead of 2 * epsilon"),
])
def test_handout_grades_a_withheld_rule_and_names_the_likely_cause(handout, tmp_path, part, bug,
                                                                   lost, cause):
    """The public tests of the withheld rules work in the handout from the recorded outputs, the
    known wrong variants included."""
    buggy = patched_solution(tmp_path, [bug])
    process = subprocess.run([sys.executable, "-m", "pytest", "grader", "-q", "-p", "no:cacheprovider",
                              "--submission", str(buggy), "--parts", part],
                             cwd=handout, capture_output=True, text=True, timeout=300)
    assert process.returncode == 1, process.stdout + process.stderr
    assert lost in process.stdout and cause in process.stdout, process.stdout
    assert "GRADER ERROR" not in process.stdout


def test_release_refuses_an_existing_folder_and_guards_leaks(tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(ReleaseError, match="already exists"):
        release(tmp_path / "taken")
    leaky = tmp_path / "leaky"
    leaky.mkdir()
    (leaky / "solution.py").write_text(WORKED_SOLUTION.read_text())
    with pytest.raises(ReleaseError):
        check_handout(leaky, WORKED_SOLUTION)
    answer = tmp_path / "answer"
    (answer / "reference").mkdir(parents=True)
    (answer / "reference" / "rmsprop_nesterov.py").write_text("# the rule\n")
    with pytest.raises(ReleaseError, match="answer"):
        check_handout(answer, WORKED_SOLUTION)


def test_check_handout_names_the_leak(tmp_path):
    worked = WORKED_SOLUTION.read_text()
    renamed = tmp_path / "renamed"
    (renamed / "notes").mkdir(parents=True)
    (renamed / "notes" / "hint.txt").write_text(worked)
    with pytest.raises(ReleaseError, match="the worked solution: .*hint.txt"):
        check_handout(renamed, WORKED_SOLUTION)
    region = tmp_path / "region"
    region.mkdir()
    (region / "helper.py").write_text("x = 1\n# BEGIN SOLUTION softmax\ny = 2\n# END SOLUTION\n")
    with pytest.raises(ReleaseError, match="a solution region: .*helper.py"):
        check_handout(region, WORKED_SOLUTION)
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "helper.py").write_text("x = 1\n")
    check_handout(clean, WORKED_SOLUTION)


# -- issue 24, section 2: an allow-list, the report builder, and no numpy answer ---------------------

HANDOUT_FOLDERS = {".", "grader", "grader/parts", "grader/parts/experiments", "grader/verdicts",
                   "grader/networks", "grader/isolation", "grader/isolation/inside", "grader/outputs",
                   "reference", "reference/data", "report", "report/studies", "report/templates"}
"""What a student needs, spelled out here rather than read from the release: grading themselves
(the public grader, its worker and references) and building their report (its LaTeX template)."""


def handout_files(folder) -> set:
    """Every file of ``folder``, relative, but Python's caches (other tests run code there)."""
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts}


def test_handout_files_are_exactly_the_allow_list(handout):
    """Seen: the handout was the repository's grader/ less a deny-list of names, so it shipped
    the TA's and instructor's tools (batch/, platforms/, authoring/) and had no report/, without
    which students cannot build their report."""
    files = handout_files(handout)
    assert {str(os.path.dirname(f) or ".") for f in files} == HANDOUT_FOLDERS
    assert files == set(handout_sources()) | set(WRITTEN_FILES)
    for needed in ("report/__main__.py", "report/README.md", "report/studies/__init__.py",
                   "report/templates/main.tex",
                   "grader/conftest.py", "grader/isolation/inside/worker_main.py"):
        assert needed in files
    for tool in ("grader/batch", "grader/platforms", "grader/authoring", "grader/hidden"):
        assert (REPOSITORY / tool).is_dir() and not (handout / tool).exists()
    # Every source of an allowed folder ships, but the withheld rules and caches.
    for folder in HANDOUT_FOLDERS - {"."}:
        for path in (REPOSITORY / folder).glob("*.py"):
            relative = f"{folder}/{path.name}"
            assert (relative in files) == (relative not in withheld.ANSWER_FILES), relative


def test_handout_builds_the_report(handout, tmp_path):
    """``python -m report`` runs from the handout: its help, and a study that needs no data and
    no written part (the softmax identities), end to end into HTML and PDF."""
    helped = subprocess.run([sys.executable, "-m", "report", "--help"], cwd=handout,
                            capture_output=True, text=True, timeout=120)
    assert helped.returncode == 0 and "--scale" in helped.stdout, helped.stderr
    out = tmp_path / "report"
    built = subprocess.run([sys.executable, "-m", "report", "--only", "softmax_derivatives",
                            "--scale", "smoke", "--no-progress", "--out", str(out)],
                           cwd=handout, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    assert "1 ran, 0 need parts not written yet, 0 failed" in built.stdout, built.stdout
    assert (out / "report.html").stat().st_size and (out / "main.tex").stat().st_size
    if shutil.which("latexmk"):
        assert (out / "report.pdf").stat().st_size


@pytest.fixture(scope="module")
def probe_cases(tmp_path_factory):
    """The probe's fresh cases and their answers, pickled for its subprocess."""
    path = tmp_path_factory.mktemp("probe") / "cases.pkl"
    path.write_bytes(pickle.dumps(answer_probe.build_cases()))
    return path


def run_probe(folder, cases) -> dict:
    process = subprocess.run([sys.executable, inspect.getfile(answer_probe), str(folder),
                              str(cases)], cwd=folder, capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr[-3000:]
    return json.loads(process.stdout)


def test_no_module_of_the_handout_computes_a_numpy_answer(handout, probe_cases):
    """Seen in a released handout: nn_parts.backward_by_chain_rule with its defaults is a whole
    numpy backward pass; optimizer_patterns held numpy optimizers one edit from right (with the
    default eps, Adam's "eps inside the root" passes the grader); test_batchnorm.variants
    computed the training forward (its "evaluation with batch statistics"). The probe runs every
    function of the handout on fresh inputs with torch standing in, so only the handout's own
    numpy code can compute an answer (``tests/answer_probe.py``)."""
    report = run_probe(handout, probe_cases)
    assert report["import_errors"] == {}
    assert sorted(report["skipped"]) == ["grader.isolation.inside.worker_main",
                                         "grader.isolation.inside.zygote"]
    imported = set(report["modules"])
    python_files = [f for f in handout_files(handout) if f.endswith(".py") and f != "solution.py"]
    assert len(imported) == len(python_files) - 2
    assert {"grader.verdicts.nn_parts", "grader.verdicts.optimizer_patterns", "grader.parts.batchnorm",
            "report.studies.activations_depth"} <= imported
    assert report["calls"] > 500, report["calls"]   # it reached the handout's functions
    found = {(answer["part"], answer["function"]) for answer in report["answers"]}
    assert found == set(), report["answers"]


PLANTED = {
    # The three leaks of the issue, as they were: the withheld code put back where it lived.
    "backward": ("grader/verdicts/nn_parts.py", (known_mistakes.backward_by_chain_rule,),
                 "grader.verdicts.nn_parts.backward_by_chain_rule"),
    "optimizers": ("grader/verdicts/optimizer_patterns.py",
                   (known_mistakes._run, known_mistakes.optimizer_variants),
                   "grader.verdicts.optimizer_patterns.optimizer_variants"),
    "batchnorm": ("grader/parts/batchnorm.py", (known_mistakes.batchnorm_variants,),
                  "grader.parts.batchnorm.batchnorm_variants"),
    # and softmax's variants (the batch maximum is exact but for underflow; axis 0 is right on a
    # vector), from parts/softmax.py and nn_parts.
    "softmax": ("grader/parts/softmax.py",
                (known_mistakes._shifted_softmax, known_mistakes.softmax_variants),
                "grader.parts.softmax.softmax_variants"),
}


@pytest.mark.parametrize("part", PLANTED)
def test_the_probe_finds_each_leak_planted_back(handout, probe_cases, tmp_path, part):
    """The probe would have caught the issue's examples: with the withheld variants planted back
    into a copy of the handout, it names the part and the function."""
    relative, functions, label = PLANTED[part]
    copy = tmp_path / "handout"
    shutil.copytree(handout, copy, ignore=shutil.ignore_patterns("__pycache__"))
    with open(copy / relative, "a") as module:
        module.write("\n\nimport numpy as np  # noqa: E402\n\n\n"
                     + "\n\n".join(inspect.getsource(f) for f in functions))
    report = run_probe(copy, probe_cases)
    assert report["import_errors"] == {}
    found = {(answer["part"], answer["function"]) for answer in report["answers"]}
    assert found == {(part, label)}


SAME_CAUSES = (
    # One bug per test (each optimizer is a test of its own; BatchNorm's two bugs lie in the
    # training and the evaluation branch), in one file: a grading costs ~15 s a side.
    ("backward_untransposed_when_square", "softmax_batch_max", "adam_eps_inside_sqrt",
     "adagrad_forgets_history", "momentum_dampened", "rmsprop_eps_inside_sqrt",
     "bn_unbiased_normalization", "bn_eval_uses_batch_stats"),
)
"""Bank bugs whose causes the withheld variants name (``reference/known_mistakes.py``)."""


@pytest.mark.parametrize("names", SAME_CAUSES, ids=lambda names: "+".join(n.split("_")[0] for n in names))
def test_handout_names_the_same_causes_as_the_full_grader(handout, tmp_path, names):
    """On the public tests, the handout's grader (the withheld variants' recorded outputs) says
    word for word what the full grader (the variants themselves) says, the causes included."""
    bank = {bug.name: bug for bug in BUGS}
    buggy = patched_solution(tmp_path, [r for name in names for r in bank[name].replacements])
    parts = ",".join(sorted({bank[name].part for name in names}))
    code, output, full = grade_file(buggy, tmp_path / "full.json", "--parts", parts)
    assert code == 1 and full, output
    released = subprocess.run([sys.executable, "-m", "grader", "grade", str(buggy), "--parts", parts,
                               "--results-json", str(tmp_path / "handout.json")],
                              cwd=handout, capture_output=True, text=True, timeout=600)
    assert released.returncode == 1, released.stdout + released.stderr
    in_handout = {t["extra_data"]["test"]: t for t in
                  json.loads((tmp_path / "handout.json").read_text())["tests"]}
    in_full = {t["extra_data"]["test"]: t for t in full["tests"]}
    assert in_handout and set(in_handout) < set(in_full)   # the full grader has hidden tests too
    for test, result in in_handout.items():
        assert (result["score"], result["output"]) == (in_full[test]["score"],
                                                       in_full[test]["output"]), test
    said = "\n".join(result["output"] for result in in_handout.values())
    for name in names:
        assert bank[name].says in said, name
