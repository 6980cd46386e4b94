"""The similarity report (issue 27, ``grader/batch/similarity.py``): on a synthetic class whose
copies are known (``tests/similarity_class.py``) every copy is flagged and no honest pair is, the
template never counts, twins are named, a copied public solution is found; a real batch writes
the report and the summary lists it; the pages render in Chromium and load nothing."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("copydetect", reason="the similarity extra: pip install 'nngrade[similarity]'")

from grader.batch import similarity  # noqa: E402
from tests import similarity_class  # noqa: E402
from tests.conftest import REPOSITORY, WORKED_SOLUTION  # noqa: E402
from tests.test_batch import one_file_per_student  # noqa: E402
from tests.test_batch_reports import needs_chromium, open_in_chromium  # noqa: E402


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    folder = tmp_path_factory.mktemp("similarity")
    truth = similarity_class.build(folder)
    texts = {path.stem: path.read_text() for path in (folder / "class").glob("*.py")}
    references = {"github_public.py": (folder / "reference" / "github_public.py").read_text()}
    return folder, truth, texts, references


def scores(report: similarity.Report) -> dict[frozenset, float]:
    """``{pair of students: score}``, a file handed in by several students standing for each."""
    found = {}
    for pair in report.pairs:
        if pair.reference:
            continue
        for left in report.students[pair.left]:
            for right in report.students[pair.right]:
                found[frozenset((left, right))] = pair.score
    return found


def test_every_copy_is_flagged_and_no_honest_pair(synthetic):
    _, truth, texts, references = synthetic
    report = similarity.compare(texts, similarity_class.TEMPLATE.read_text(), references)
    found = scores(report)
    for pair in truth.copies:
        assert found[pair] >= similarity.FLAG_AT, (sorted(pair), found[pair])
    honest = {pair: found[pair] for pair in truth.honest_pairs()}
    assert max(honest.values()) < similarity.FLAG_AT, max(honest.items(), key=lambda kv: kv[1])
    # the twins are one file, named as identical, never a pair of their own
    assert report.identical == [["twin_a", "twin_b"]]
    assert "twin_a = twin_b" in report.students
    # the copied public solution is found against the reference, and nothing else is
    against = {pair.left: pair.score for pair in report.pairs if pair.reference}
    assert against["public_copy"] >= similarity.FLAG_AT
    assert all(score < similarity.FLAG_AT for name, score in against.items() if name != "public_copy")
    # ranked: every flagged pair comes before every other
    ranked = [pair.score for pair in report.pairs]
    assert ranked == sorted(ranked, reverse=True)


def test_the_template_is_boilerplate(synthetic):
    """Two honest solutions of the template share its code: counted, it makes them look alike;
    as boilerplate, it does not count at all (the template against itself scores nothing)."""
    _, _, texts, _ = synthetic
    template = similarity_class.TEMPLATE.read_text()
    chosen = {name: texts[name] for name in ("twin_a", "honest_c", "worked")}
    with_template = scores(similarity.compare(chosen, template))
    without = scores(similarity.compare(chosen))
    for pair, score in with_template.items():
        assert score < without[pair], (sorted(pair), score, without[pair])
    blank = scores(similarity.compare({"a": template, "b": template + "\n# mine\n"}, template))
    assert blank[frozenset(("a", "b"))] == 0.0


def test_a_batch_writes_the_report_and_the_summary_lists_it(tmp_path):
    worked = WORKED_SOLUTION.read_text()
    folder = one_file_per_student(tmp_path / "class", {
        "ada.py": worked,
        "bob.py": similarity_class.renamed(worked),
        "cy.py": similarity_class.answered_by_another_student(),
        "dee.py": similarity_class.answered_by_another_student(),
        "eve.py": similarity_class.renamed(
            (similarity_class.SUBMISSIONS / "ift6390_a20_style.py").read_text(), prefix="v")})
    references = tmp_path / "public"
    references.mkdir()
    (references / "found_on_github.py").write_text(
        (similarity_class.SUBMISSIONS / "ift6390_a20_style.py").read_text())
    out = tmp_path / "out"
    process = subprocess.run(
        [sys.executable, "-m", "grader", "batch", str(folder), "--out", str(out), "--parts",
         "softmax", "--no-progress", "--similarity-reference", str(references)],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=900)
    assert process.returncode == 0, process.stderr
    assert "similarity: 2 pair(s) at 80 % or more, identical files: cy, dee" in process.stderr
    data = json.loads((out / "similarity.json").read_text())
    assert data["identical"] == [["cy", "dee"]]
    flagged = {(pair["left"], pair["right"]) for pair in data["pairs"] if pair["score"] >= data["flag_at"]}
    assert flagged == {("ada", "bob"), ("eve", "found_on_github.py")}, data["pairs"]
    summary = (out / "summary.html").read_text()
    assert 'id="similar"' in summary and "cy, dee" in summary and "similarity.html" in summary
    for pair in flagged:
        assert pair[0] in summary
    views = sorted((out / "similarity").glob("*.html"))
    assert len(views) == len([p for p in data["pairs"] if p["score"] >= data["show_at"]])
    view = next(path for path in views if path.name.startswith("ada--bob"))
    assert view.read_text().count("<mark") >= 3
    # --no-similarity: the batch writes no report, and an unknown reference folder is refused
    again = subprocess.run(
        [sys.executable, "-m", "grader", "batch", str(folder), "--out", str(tmp_path / "none"),
         "--parts", "softmax", "--no-progress", "--no-similarity"], cwd=REPOSITORY,
        capture_output=True, text=True, timeout=900)
    assert again.returncode == 0 and not (tmp_path / "none" / "similarity.html").exists()
    refused = subprocess.run(
        [sys.executable, "-m", "grader", "batch", str(folder), "--out", str(tmp_path / "x"),
         "--parts", "softmax", "--no-progress", "--similarity-reference", str(tmp_path / "nope")],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and "not a folder" in refused.stderr
    assert not (tmp_path / "x" / "grades.csv").exists()


def test_without_copydetect_the_batch_says_so_and_grades(tmp_path):
    folder = one_file_per_student(tmp_path / "class", {"ada.py": WORKED_SOLUTION.read_text(),
                                                        "bob.py": WORKED_SOLUTION.read_text()})
    out = tmp_path / "out"
    program = ("import sys; sys.modules['copydetect'] = None\n"
               "from grader.__main__ import main\n"
               f"sys.exit(main(['batch', {str(folder)!r}, '--out', {str(out)!r}, '--parts', "
               "'softmax', '--no-progress']))")
    process = subprocess.run([sys.executable, "-c", program], cwd=REPOSITORY, capture_output=True,
                             text=True, timeout=600)
    assert process.returncode == 0, process.stderr
    assert "copydetect is not installed" in process.stderr
    summary = (out / "summary.html").read_text()
    assert "nngrade[similarity]" in summary and "<li>ada, bob</li>" in summary
    assert not (out / "similarity.html").exists() and (out / "grades.csv").is_file()


@needs_chromium
def test_the_similarity_pages_render_in_chromium_and_load_nothing(synthetic, tmp_path):
    _, _, texts, references = synthetic
    report = similarity.compare(texts, similarity_class.TEMPLATE.read_text(), references)
    similarity.write(tmp_path, report, "CS 101: similarity")
    dom, requests = open_in_chromium(tmp_path / "similarity.html", tmp_path / "index")
    assert requests == [] and 'id="pairs"' in dom and "<script" not in dom
    view = tmp_path / "similarity" / report.pairs[0].view
    dom, requests = open_in_chromium(view, tmp_path / "view")
    assert requests == [] and dom.count("<mark") >= 2 and 'id="left-match"' in dom
    # it paints: the marked regions' colour is on a screenshot of the side-by-side view
    shot = tmp_path / "view.png"
    _, requests = open_in_chromium(view, tmp_path / "paint", f"--screenshot={shot}",
                                   "--window-size=1400,1000")
    assert requests == []
    from PIL import Image
    colours = {colour: count for count, colour in
               Image.open(shot).convert("RGB").getcolors(maxcolors=1 << 20)}
    assert colours.get((0xff, 0xe0, 0x8a), 0) > 2000, sorted(colours.items(), key=lambda kv: -kv[1])[:6]


def test_a_group_submission_is_not_a_pair_of_identical_files():
    """A group's members hand in one file: not "identical files"; two teams with one file are."""
    text = WORKED_SOLUTION.read_text()
    files = {"ada": text, "bob": text, "cy": text}
    teams = {"ada": frozenset(("ada", "bob")), "bob": frozenset(("ada", "bob")), "cy": frozenset(("cy",))}
    assert similarity.identical_files({"ada": text, "bob": text}, teams) == []
    assert similarity.identical_files(files, teams) == [["ada", "bob", "cy"]]
    assert similarity.identical_files(files) == [["ada", "bob", "cy"]]


def test_a_failing_comparison_costs_the_gradebook_nothing(tmp_path, monkeypatch):
    """The similarity report is optional: a fault in it (here, the comparison raises) is said
    in the summary and on stderr, and the gradebook and the other outputs are written."""
    from grader.batch import run

    folder = one_file_per_student(tmp_path / "class", {"ada.py": WORKED_SOLUTION.read_text()})
    out = tmp_path / "out"
    (out / "similarity").mkdir(parents=True)
    (out / "similarity.html").write_text("an earlier run's report")

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(similarity, "compare", broken)
    code = run.run_batch(run.BatchOptions(submissions=folder, out=out, parts=["softmax"],
                                          progress=False))
    assert code == 0
    assert (out / "grades.csv").is_file() and "ada" in (out / "grades.csv").read_text()
    assert "the comparison failed (RuntimeError: disk full)" in (out / "summary.html").read_text()
    assert not (out / "similarity.html").exists()   # no earlier report left to contradict it
