"""The batch's per-student feedback and its class report (``grader.batch.feedback``, ``summary``).

The graded students are real result models the grader wrote (``grader/model.py``, in
``tests/batch_fixtures/``, made by ``tests/batch_fixtures/regenerate.py``: the worked solution,
bug-bank mutants, the template and a file with a syntax error, graded on softmax, loss, backward
and update); the INVALID and NOT_GRADED students, and the variations of a diagnosis, are made by
hand. The last tests open the class report in a real headless Chromium.
"""
from __future__ import annotations

import copy
import html
import json
import re
import shutil
import statistics
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from grader.batch.feedback import (LOAD_FAILURE_OUTPUT, Outcome, feedback_html, feedback_markdown,
                                   outcomes)
from grader.batch.records import GRADED, INVALID, NOT_GRADED, StudentRecord, invalid_grading
from grader import causes, model
from grader.batch.summary import common_mistakes, histogram, part_stats, summary_html
from grader.rubric import PARTS, RUBRIC

FIXTURES = Path(__file__).resolve().parent / "batch_fixtures"
GRADED_PARTS = ["softmax", "loss", "backward", "update"]
SCRIPT_NAME = "Bob <script>alert('x')</script> & co"


def fixture(name: str) -> dict:
    """A grading's model, as JSON."""
    return json.loads((FIXTURES / f"{name}.grading.json").read_text())


def model_tests(grading: dict) -> list[dict]:
    """The tests of a model's JSON (to change one in place)."""
    return [test for part in grading["parts"] for test in part["tests"]]


def hand_made(*tests: model.TestRecord) -> dict:
    """The model's JSON of a grading of ``tests``."""
    return model.assemble(model.GRADED, "solution.py", list(tests)).to_json()


def output_of(results: dict, test: str) -> str:
    return next(t["output"] for t in results["tests"] if t["extra_data"]["test"] == test)


def entry_of(grading: dict, test: str) -> Outcome:
    return next(e for e in outcomes(model.Grading.from_json(grading)) if e.test == test)


def make_class() -> list[StudentRecord]:
    """Six graded students (real results), one invalid, one not graded."""
    return [
        StudentRecord("ada", "Ada Lovelace", GRADED, grading=fixture("loss_sum_dw_transposed"),
                      seconds=21.5, source="ada/solution.py"),
        StudentRecord("bob", SCRIPT_NAME, GRADED, grading=fixture("loss_sum_softmax_axis0_ascent"),
                      seconds=14.0, source="bob/solution.py"),
        StudentRecord("cy", "Cy", GRADED, grading=fixture("softmax_unstable_backward_sum"), seconds=9.25),
        StudentRecord("dee", "Dee", GRADED, grading=fixture("worked"), seconds=12.0),
        StudentRecord("eve", "Eve", GRADED, grading=fixture("template"), seconds=5.5),
        StudentRecord("fay", "Fay", GRADED, grading=fixture("syntax_error"), seconds=2.0, parts=["update"]),
        StudentRecord("gil", "Gil", INVALID, reason="two candidate files: <a.py> and b.py",
                      grading=invalid_grading("two candidate files", GRADED_PARTS), seconds=0.1),
        StudentRecord("hal", "Hal", NOT_GRADED, reason="the sandbox could not start: bwrap <denied>",
                      seconds=900.0),
    ]


def mistakes_for(mistakes, cause: str, part: str | None = None):
    return [m for m in mistakes if m.cause == cause and (part is None or m.part == part)]


def rows_tests(mistake) -> list[str]:
    return [test for test, _, _ in mistake.tests]


# ---------------------------------------------------------------------------------------------
# Common mistakes: one row per named cause, by its id (grader/causes.py)

def test_two_students_with_the_same_bug_make_one_row_across_its_tests():
    records = make_class()
    mistakes = common_mistakes(records)
    # ada and bob sum the loss over the batch, cy the gradients: one row for the misconception
    # (its family: the loss's own cause and the batch-size pattern), over every test it shows in
    found = mistakes_for(mistakes, causes.family_of(causes.LOSS_SUMMED.id))
    assert len(found) == 1, found
    summed = found[0]
    assert {"ada", "bob"} <= set(summed.students)
    assert {"test_loss_value", "test_loss_clipping", "test_backward[relu]"} <= set(rows_tests(summed))
    assert causes.family_of(causes.BATCH_TIMES_LARGE.id) == summed.cause
    assert summed.part == ""   # a named mistake is one row for the whole class
    # the example is one student's own message for it
    assert summed.example and summed.example in "\n".join(
        t["output"] for r in records if r.grading for t in r.results()["tests"])
    # most students first
    assert [m.count for m in mistakes] == sorted((m.count for m in mistakes), reverse=True)


def test_not_implemented_is_one_row_per_part():
    eve = make_class()[4]
    rows = mistakes_for(common_mistakes([eve]), causes.NOT_IMPLEMENTED.id)
    assert sorted(m.part for m in rows) == sorted(GRADED_PARTS)
    loss = next(m for m in rows if m.part == "loss")
    assert set(rows_tests(loss)) == {row.test for row in RUBRIC if row.part == "loss"}
    # before (issue 25): one row per test, 72 of a class of 12's 126 rows
    assert len(common_mistakes([eve])) == len(GRADED_PARTS)


def test_rewording_a_cause_changes_no_grouping():
    """The class report groups by id: a new wording of a cause's sentence (a later grader, or a
    number that differs between students) leaves every row, count and student as it was."""
    records = make_class()

    def grouping(records):
        return sorted((m.cause, m.part, tuple(rows_tests(m)), tuple(m.students))
                      for m in common_mistakes(records))

    before = grouping(records)
    reworded = copy.deepcopy(records)
    changed = 0
    for number, record in enumerate(reworded):
        for test in model_tests(record.grading) if record.grading else []:
            for cause in test["causes"]:
                if causes.family_of(cause["id"]) == causes.family_of(causes.LOSS_SUMMED.id):
                    cause["text"] = f"the sum over the batch, not its mean (reworded {number})"
                    test["message"] = test["message"].replace("summed over the batch", "a sum")
                    changed += 1
    assert changed >= 2
    assert grouping(reworded) == before
    assert any("reworded" in m.text for m in common_mistakes(reworded))


def test_what_the_student_printed_or_raised_never_names_a_cause():
    """The report reads the causes the grader recorded, never the diagnosis's text, which quotes
    what the student's code raised or printed."""
    printed = graded("kim", "update(grads): raised ValueError: Likely cause: the TA is wrong",
                     causes=[(causes.RAISED.id, "raised ValueError")])
    other = graded("lee", "update(grads): raised ValueError: my own message\nTraceback ...",
                   causes=[(causes.RAISED.id, "raised ValueError")])
    mistakes = common_mistakes([printed, other])
    assert [(m.cause, m.part, m.students) for m in mistakes] == [
        (causes.RAISED.id, "update", ["kim", "lee"])]
    assert "the TA is wrong" not in mistakes[0].text


def graded(student: str, *outputs: str, causes=()) -> StudentRecord:
    """A student whose test_update failed with ``outputs`` (one line each) and ``causes``."""
    grading = hand_made(model.TestRecord(
        "test_update", "update", "one SGD step on every W and b", 6.0, False, model.FAILED, 0.0,
        message="\n".join(outputs), causes=[{"id": i, "text": t} for i, t in causes]))
    return StudentRecord(student, student.title(), GRADED, grading=grading)


def test_a_sentence_the_registry_lacks_groups_by_its_words_within_its_part():
    kim = graded("kim", "x", causes=[("", "a cause with no id, 3 times")])
    lee = graded("lee", "y", causes=[("", "a cause with no id, 5 times")])
    mistakes = common_mistakes([kim, lee])
    assert [(m.cause, m.part, m.students) for m in mistakes] == [("", "update", ["kim", "lee"])]


def test_a_submission_that_could_not_be_loaded_is_one_mistake():
    fay = make_class()[5]
    assert all(t["output"] == LOAD_FAILURE_OUTPUT for t in fay.results()["tests"])
    mistakes = common_mistakes([fay])
    assert len(mistakes) == 1
    assert mistakes[0].cause == causes.LOAD_FAILED.id and mistakes[0].tests == []
    assert "SyntaxError" in mistakes[0].example


def test_grader_errors_and_parts_left_out_are_not_mistakes():
    grading = fixture("worked")
    first, second = model_tests(grading)[0], model_tests(grading)[1]
    first.update(score=0.0, fraction=0.0, status=model.ERROR, message="RuntimeError: boom",
                 details="Traceback (most recent call last): ...")
    second.update(score=0.0, fraction=0.0, status=model.NOT_SELECTED,
                  message="part left out of this run")
    record = StudentRecord("nia", "Nia", GRADED, grading=grading)
    assert common_mistakes([record]) == []
    page = summary_html([record], title="t", layout="folder", parts=GRADED_PARTS)
    assert "Grader errors" in page and first["test"] in page
    assert "Traceback" not in page          # the staff's details stay in the model
    feedback = feedback_markdown(record)
    assert "grader error, not your fault" in feedback.lower()
    assert "Not graded in this run" in feedback and second["test"] in feedback


def test_invalid_and_not_graded_students_make_no_mistakes():
    students = {s for m in common_mistakes(make_class()) for s in m.students}
    assert students == {"ada", "bob", "cy", "eve", "fay"}   # dee has full marks


# ---------------------------------------------------------------------------------------------
# Statistics

def test_part_stats_agree_with_the_results_part_totals():
    records = make_class()
    stats = {s.part: s for s in part_stats(records, GRADED_PARTS)}
    assert list(stats) == GRADED_PARTS
    for part in GRADED_PARTS:
        # the grader's own per-part totals, a different field from the tests part_stats sums
        pairs = [(p["score"], p["max_score"]) for r in records if r.status == GRADED
                 for name, p in r.results()["extra_data"]["nngrade"]["parts"].items() if name == part]
        points = [score for score, _ in pairs]
        assert stats[part].n == len(pairs)
        assert stats[part].mean == pytest.approx(statistics.fmean(points), abs=1e-3)
        assert stats[part].median == pytest.approx(statistics.median(points), abs=1e-3)
        assert stats[part].full == pytest.approx(sum(s == m for s, m in pairs) / len(pairs))
    assert stats["update"].n == 6 and stats["softmax"].n == 5   # fay graded update only
    assert {s.part for s in part_stats(records)} == set(GRADED_PARTS)   # the parts the records have


def test_part_stats_on_a_small_hand_made_class():
    def loss_only(student: str, score: float) -> StudentRecord:
        return StudentRecord(student, status=GRADED, grading=hand_made(model.TestRecord(
            "test_loss_value", "loss", "the loss", 4.0, False, model.FAILED, score,
            fraction=score / 4)))

    (stats,) = part_stats([loss_only("a", 4), loss_only("b", 2), loss_only("c", 0),
                           StudentRecord("d", status=NOT_GRADED)])
    assert (stats.part, stats.n, stats.max_score) == ("loss", 3, 4)
    assert (stats.mean, stats.median, stats.full) == (2.0, 2.0, pytest.approx(1 / 3))
    assert sorted(stats.fractions) == [0.0, 0.5, 1.0]


def test_histogram_counts_every_scored_student_once():
    records = make_class()
    bins = histogram(records)
    assert sum(b[GRADED] for b in bins) == 6 and sum(b[INVALID] for b in bins) == 1
    assert bins[-1][GRADED] == 1                          # dee, full marks, in the last bin
    assert bins[0][GRADED] == 2 and bins[0][INVALID] == 1  # eve and fay at 0, gil invalid
    assert [(b["low"], b["high"]) for b in bins][:2] == [(0.0, 10.0), (10.0, 20.0)]


# ---------------------------------------------------------------------------------------------
# Feedback

def markdown_headings(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("### ")]


def test_feedback_lists_parts_in_rubric_order_and_every_lost_point():
    ada = make_class()[0]
    text = feedback_markdown(ada)
    table_parts = re.findall(r"^\| (\w+) \| [\d.]+", text, re.MULTILINE)
    assert table_parts == [p for p in PARTS if p in GRADED_PARTS]
    results = ada.results()
    assert f"**Score: {results['score']:.2f} / {results['max_score']:g}**" in text
    lost = [t for t in results["tests"] if t["score"] < t["max_score"]]
    headings = markdown_headings(text)
    assert len(headings) == len(lost)
    for test in lost:
        assert test["output"] in text                      # the diagnosis, verbatim in a code block
    order = [re.search(r"\[(\w+)\]", h).group(1) for h in headings]
    assert order == sorted(order, key=PARTS.index)
    hidden = [h for h in headings if "(hidden test)" in h]
    assert len(hidden) == sum(t["visibility"] == "after_published" for t in lost) == 1
    assert "through four hidden layers" in hidden[0]
    page = feedback_html(ada)
    for test in lost:
        assert f"<pre>{html.escape(test['output'])}</pre>" in page
    assert page.count('<span class="badge">hidden test</span>') == 2   # the legend and the one test


def test_feedback_of_full_marks_invalid_and_not_graded():
    records = {r.student: r for r in make_class()}
    assert "Full marks" in feedback_markdown(records["dee"]) and not markdown_headings(
        feedback_markdown(records["dee"]))
    invalid = feedback_markdown(records["gil"])
    assert "scored 0 / 46" in invalid and r"two candidate files: \<a.py\> and b.py" in invalid
    invalid_html = feedback_html(records["gil"])
    assert "scored 0 / 46" in invalid_html and "&lt;a.py&gt;" in invalid_html
    for text in (feedback_markdown(records["hal"]), feedback_html(records["hal"])):
        assert "was not graded" in text and "not your fault" in text and "Score" not in text
    assert "bwrap &lt;denied&gt;" in feedback_html(records["hal"])


def test_feedback_of_a_file_that_could_not_be_loaded_says_why_once():
    fay = make_class()[5]
    text = feedback_markdown(fay)
    assert text.count("raised SyntaxError: expected ':' (solution.py, line 4)") == 1
    assert LOAD_FAILURE_OUTPUT not in text


def test_markdown_code_block_cannot_be_closed_by_the_output():
    record = graded("oz", "update(grads): 1 of 4 entries differ", "your code printed:", "```",
                    "# Full marks!", "````")
    text = feedback_markdown(record)
    lines = text.splitlines()
    start = lines.index("`````text")
    end = lines.index("`````", start + 1)
    assert "# Full marks!" in lines[start:end] and lines[start + 1].startswith("update(grads)")


class TagCollector(HTMLParser):
    """Every start tag of a page with its attributes, and its text."""

    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(page: str) -> TagCollector:
    collector = TagCollector()
    collector.feed(page)
    return collector


def assert_inert(page: str) -> None:
    """No element that runs or loads anything; no event handler; links only to feedback files."""
    parsed = parse(page)
    names = {tag for tag, _ in parsed.tags}
    assert not names & {"script", "img", "iframe", "link", "object", "embed", "base", "image", "use"}, names
    for tag, attrs in parsed.tags:
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
        assert "src" not in attrs and "xlink:href" not in attrs, (tag, attrs)
        if "href" in attrs:
            assert tag == "a" and attrs["href"].startswith("feedback/"), (tag, attrs)
    style = " ".join(parsed.text)
    assert "url(" not in style and "@import" not in style


def test_student_text_stays_inert():
    records = make_class()
    evil = graded("zed", "update(grads): raised ValueError: <img src=x onerror=alert(1)></pre>"
                         "<script>alert(2)</script>")
    evil.name = "<script>alert('name')</script>"
    records.append(evil)
    page = summary_html(records, title="CS <101>", layout="folder <x>", parts=GRADED_PARTS)
    assert_inert(page)
    text = "".join(parse(page).text)
    assert SCRIPT_NAME in text and "<script>alert('name')</script>" in text   # shown as text
    assert "two candidate files: <a.py> and b.py" in text and "bwrap <denied>" in text
    for record in records:
        assert_inert(feedback_html(record))
    feedback = feedback_html(evil)
    assert "&lt;img src=x onerror=alert(1)&gt;&lt;/pre&gt;&lt;script&gt;" in feedback
    assert "<script>alert('name')</script>" in "".join(parse(feedback).text)
    markdown = feedback_markdown(evil)
    assert r"\<script\>alert('name')\</script\>" in markdown


def test_summary_sections():
    records = make_class()
    page = summary_html(records, title="CS 101", layout="folder", parts=GRADED_PARTS)
    parsed = parse(page)
    ids = {attrs.get("id") for _, attrs in parsed.tags}
    assert {"histogram", "common-mistakes", "invalid", "not_graded"} <= ids
    counts = {attrs["id"]: None for _, attrs in parsed.tags if attrs.get("id", "").startswith("count-")}
    assert set(counts) == {"count-students", "count-graded", "count-invalid", "count-not_graded"}
    assert re.search(r'id="count-students">8<', page) and re.search(r'id="count-not_graded">1<', page)
    rows = [attrs for tag, attrs in parsed.tags if tag == "tr" and attrs.get("class") == "mistake"]
    assert len(rows) == len(common_mistakes(records))
    slowest = page[page.index("Slowest gradings"):page.index("Not graded (")]
    assert slowest.index("Hal") < slowest.index("Ada Lovelace") < slowest.index("Dee")
    assert 'href="feedback/ada.html"' in page


# ---------------------------------------------------------------------------------------------
# A real browser: Debian's Chromium, headless

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                                    reason="Chromium is not installed (apt-get install chromium)")
CSP = re.compile(r'<meta http-equiv="Content-Security-Policy"[^>]*>\n?')


def open_in_chromium(page: Path, folder: Path, *action: str) -> tuple[str, list[str]]:
    """Load ``page`` in headless Chromium with ``action`` (default ``--dump-dom``); return what
    it printed (the rendered DOM) and every URL the page asked the network for.

    The net log records each URL request the network stack starts, with the origin that
    initiated it. The page's own loads carry its origin (a file:// page's is opaque: "null");
    Chromium's own background requests (updater, clock, account checks, which the flags do not
    all stop) carry none ("not an origin"), so the page's are the requests with an initiator.
    ``--host-resolver-rules`` fails every DNS lookup, so even a request that is made goes
    nowhere. file:// loads never appear in the net log: they do not use the network stack."""
    profile, netlog = folder / "profile", folder / "netlog.json"
    process = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND",
         f"--log-net-log={netlog}", *(action or ("--dump-dom",)), page.resolve().as_uri()],
        capture_output=True, text=True, timeout=60)
    assert process.returncode == 0, process.stderr[-2000:]
    text = netlog.read_text()
    try:
        log = json.loads(text)
    except json.JSONDecodeError:   # a log cut short at exit lacks its closing brackets
        log = json.loads(text.rstrip().rstrip(",") + "]}")
    names = {number: name for name, number in log["constants"]["logEventTypes"].items()}
    requests = [event["params"] for event in log["events"]
                if names.get(event["type"]) == "URL_REQUEST_START_JOB" and "url" in event.get("params", {})]
    assert requests, "the net log recorded no request at all: is it still the format this reads?"
    page_requests = [r["url"] for r in requests if r.get("initiator") != "not an origin"]
    return process.stdout, page_requests


@needs_chromium
def test_summary_renders_in_chromium_and_loads_nothing(tmp_path):
    records = make_class()
    page = tmp_path / "summary.html"
    page.write_text(summary_html(records, title="CS 101", layout="folder", parts=GRADED_PARTS))
    dom, requests = open_in_chromium(page, tmp_path / "default")
    assert requests == []
    parsed = parse(dom)
    assert any(tag == "svg" and attrs.get("id") == "histogram" for tag, attrs in parsed.tags)
    bars = [attrs for tag, attrs in parsed.tags if tag == "rect" and "bar" in attrs.get("class", "")]
    assert len(bars) == sum(bool(b[GRADED]) + bool(b[INVALID]) for b in histogram(records))
    assert any(tag == "table" and attrs.get("id") == "common-mistakes" for tag, attrs in parsed.tags)
    rows = [attrs for tag, attrs in parsed.tags if tag == "tr" and attrs.get("class") == "mistake"]
    assert len(rows) == len(common_mistakes(records))
    assert not [tag for tag, _ in parsed.tags if tag == "script"]
    assert SCRIPT_NAME in "".join(parsed.text)           # the name rendered as text
    # and it paints: the histogram's two bar colours are on a screenshot of the top of the page
    shot = tmp_path / "top.png"
    _, requests = open_in_chromium(page, tmp_path / "paint", f"--screenshot={shot}", "--window-size=1000,900")
    assert requests == []
    from PIL import Image
    colours = Image.open(shot).convert("RGB").getcolors(maxcolors=1 << 20)
    pixels = {colour: count for count, colour in colours}
    assert pixels.get((0x3b, 0x6e, 0xa8), 0) > 1000 and pixels.get((0xb0, 0xb0, 0xb0), 0) > 500, (
        sorted(colours, reverse=True)[:8])


@needs_chromium
def test_the_network_check_catches_a_page_that_loads_something(tmp_path):
    """The check above can fail: the same report with an image from the web, and without the
    Content-Security-Policy that would block it, makes a request the check sees."""
    report = summary_html(make_class(), title="CS 101", layout="folder", parts=GRADED_PARTS)
    assert CSP.search(report)
    leaky = CSP.sub("", report).replace("<body>", '<body><img src="http://example.com/x.png">', 1)
    page = tmp_path / "leaky.html"
    page.write_text(leaky)
    _, requests = open_in_chromium(page, tmp_path / "leaky")
    assert requests == ["http://example.com/x.png"]
    # and the policy alone stops the same image in the real page (a second line of defence)
    blocked = tmp_path / "blocked.html"
    blocked.write_text(report.replace("<body>", '<body><img src="http://example.com/x.png">', 1))
    _, requests = open_in_chromium(blocked, tmp_path / "blocked")
    assert requests == []


@needs_chromium
def test_feedback_page_renders_a_script_name_as_text(tmp_path):
    bob = make_class()[1]
    page = tmp_path / "bob.html"
    page.write_text(feedback_html(bob))
    dom, requests = open_in_chromium(page, tmp_path / "bob")
    parsed = parse(dom)
    assert requests == [] and not [tag for tag, _ in parsed.tags if tag == "script"]
    assert f"nngrade feedback for {SCRIPT_NAME}" in "".join(parsed.text)
    assert len([tag for tag, _ in parsed.tags if tag == "pre"]) == sum(
        t["score"] < t["max_score"] for t in bob.results()["tests"])


def twelve_students() -> list[StudentRecord]:
    """A class of 12 graded students from the real fixtures (each bug pattern several times)."""
    names = ("loss_sum_dw_transposed", "loss_sum_softmax_axis0_ascent",
             "softmax_unstable_backward_sum", "worked", "template")
    return [StudentRecord(f"s{number:02d}", f"Student {number}", GRADED,
                          grading=fixture(names[number % len(names)]), seconds=5.0 + number)
            for number in range(12)]


@needs_chromium
def test_a_class_of_twelve_gets_one_row_per_cause_in_chromium(tmp_path):
    """Issue 25: a class of 12 made 126 rows, 72 of them "not implemented" (one per test), and
    one student's single bug 6 rows. Now: one row per cause; not implemented once per part."""
    records = twelve_students()
    mistakes = common_mistakes(records)
    not_implemented = [m for m in mistakes if m.cause == causes.NOT_IMPLEMENTED.id]
    assert sorted(m.part for m in not_implemented) == sorted(GRADED_PARTS)
    assert all(m.count == 2 for m in not_implemented)   # s04 and s09 hand in the template
    keys = [(m.cause, m.part, m.text if not m.cause else "") for m in mistakes]
    assert len(keys) == len(set(keys))                   # no cause twice
    assert len(mistakes) < 30, [(m.cause, m.part, m.text) for m in mistakes]
    page = tmp_path / "summary.html"
    page.write_text(summary_html(records, title="CS 101", layout="folder", parts=GRADED_PARTS))
    dom, requests = open_in_chromium(page, tmp_path / "dom")
    assert requests == []
    rows = [attrs for tag, attrs in parse(dom).tags if tag == "tr" and attrs.get("class") == "mistake"]
    assert [row["data-cause"] for row in rows] == [m.cause for m in mistakes]
    shot = tmp_path / "summary.png"
    _, requests = open_in_chromium(page, tmp_path / "paint", f"--screenshot={shot}",
                                   "--window-size=1200,2400")
    assert requests == [] and shot.stat().st_size > 10_000


@needs_chromium
def test_the_experiments_figures_are_inline_in_the_feedback_page(tmp_path):
    from PIL import Image

    from grader.outputs import experiment_figures

    data = {"how": "3 epochs", "runs": {method: {"train_loss": [2.3, 1.0 / (i + 1), 0.5 / (i + 1)]}
                                        for i, method in enumerate(("zero", "normal", "glorot"))}}
    figures = experiment_figures.initialization(data)
    worked = model.Grading.from_json(fixture("worked"))
    study = model.TestRecord("test_experiment_initialization", "experiments", "study 1", 4.0, False,
                             model.PASSED, 4.0, fraction=1.0,
                             experiment={**data, "figures": figures})
    grading = model.assemble(model.GRADED, "solution.py", [*worked.tests(), study]).to_json()
    record = StudentRecord("ada", "Ada", GRADED, grading=grading)
    html = feedback_html(record)
    assert "Your experiments" in html and html.count("<img ") == len(figures) == 1
    # a figure that is not a PNG data URI never reaches the page
    bad = copy.deepcopy(grading)
    model_tests(bad)[-1]["experiment"]["figures"] = {"x": "http://example.com/a.png"}
    assert "<img " not in feedback_html(StudentRecord("ada", "Ada", GRADED, grading=bad))
    shots = {}
    for name, page_html in (("with", html), ("without", feedback_html(
            StudentRecord("ada", "Ada", GRADED, grading=bad)))):
        page = tmp_path / f"{name}.html"
        page.write_text(page_html)
        shot = tmp_path / f"{name}.png"
        _, requests = open_in_chromium(page, tmp_path / name, f"--screenshot={shot}",
                                       "--window-size=1000,3000")
        assert requests == []
        pixels = Image.open(shot).convert("L")
        shots[name] = sum(pixels.histogram()[:200])   # pixels darker than the background
    assert shots["with"] > shots["without"] + 5000, shots   # the figure painted
