"""The report as a LaTeX project (issue 28, ``report/latex.py``): a smoke run compiles with
latexmk into a PDF of one page size with no overfull line, every section and figure in it and
no blank page; a re-run keeps the student's discussion and title block byte for byte; values
with LaTeX's special characters typeset as themselves; without TeX the project and the HTML are
still written and the command says what to install."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import WORKED_SOLUTION
from test_report import run_report

from report import latex
from report.engine import NEEDS, OK, Section
from report.studies import STUDIES

pytestmark = pytest.mark.xdist_group("report")
needs_tex = pytest.mark.skipif(shutil.which("latexmk") is None or shutil.which("pdflatex") is None,
                               reason="TeX is not installed (.ci/run installs texlive-latex-recommended)")
needs_poppler = pytest.mark.skipif(shutil.which("pdfinfo") is None or shutil.which("pdftoppm") is None,
                                   reason="poppler-utils is not installed (.ci/run installs it)")
OVERFULL_LIMIT_PT = 1.0
"""An overfull line of more than this reaches into the margin visibly: none is allowed."""


def overfull(log: str) -> list[float]:
    return [float(points) for points in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]


def page_sizes(pdf: Path) -> set[str]:
    info = subprocess.run(["pdfinfo", "-f", "1", "-l", "9999", str(pdf)], capture_output=True,
                          text=True, check=True).stdout
    return {line.split(":", 1)[1].strip() for line in info.splitlines()
            if re.match(r"Page\s+\d+ size:", line)}


@pytest.fixture(scope="module")
def smoke_project(tmp_path_factory):
    out = tmp_path_factory.mktemp("latex") / "out"
    process = run_report(WORKED_SOLUTION, out)
    assert process.returncode == 0, process.stdout + process.stderr
    return out, process


def test_the_project_has_a_section_figure_and_discussion_per_study(smoke_project):
    out, _ = smoke_project
    main = (out / "main.tex").read_text()
    for study in STUDIES:
        assert f"\\section*{{{latex.tex(study.TITLE)}}}" in main, study.NAME
        assert f"\\input{{discussion/{study.NAME}}}" in main
        assert (out / "discussion" / f"{study.NAME}.tex").read_text().startswith("% Your discussion")
        for figure in (out / study.NAME).glob("*.pdf"):
            assert f"{{{study.NAME}/{figure.name}}}" in main, (study.NAME, figure.name)
    assert main.count("\\includegraphics") == sum(len(list((out / s.NAME).glob("*.pdf"))) for s in STUDIES)
    assert main.count("\\toprule") >= 2 * len(STUDIES)   # booktabs: settings and results
    assert "\\textbf{Smoke" in main and (out / "student.tex").is_file()   # the smoke banner


@needs_tex
@needs_poppler
def test_it_compiles_to_one_page_size_without_overfull_lines_or_blank_pages(smoke_project, tmp_path):
    from PIL import Image, ImageStat

    out, process = smoke_project
    pdf = out / "report.pdf"
    assert pdf.is_file(), process.stdout + process.stderr
    assert overfull((out / "report.log").read_text(errors="replace")) == []   # none over 0 pt
    assert page_sizes(pdf) == {"595.276 x 841.89 pts (A4)"}
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    flat = " ".join(text.split())
    for study in STUDIES:
        assert study.TITLE in flat, study.NAME
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= len(STUDIES) + 1
    for page in pages:
        # not blank: some ink beyond a page number (a page that holds only the Discussion
        # heading and its one line has about 100 dark pixels at 40 dpi, a page number 10)
        gray = Image.open(page).convert("L")
        dark = sum(count for value, count in enumerate(gray.histogram()) if value < 160)
        assert dark > 50, f"{page.name} is blank ({dark} dark pixels)"
    assert max(ImageStat.Stat(Image.open(page).convert("L")).stddev[0] for page in pages) > 20


def test_a_rerun_keeps_the_students_text_byte_for_byte(smoke_project):
    out, _ = smoke_project
    mine = ("Glorot keeps the variance of the activations about constant; 50\\% of the units\n"
            "die with zero weights \\emph{by symmetry}.\n")
    discussion = out / "discussion" / "initialization.tex"
    discussion.write_text(mine)
    title = (out / "student.tex").read_text().replace("Your name", "Ada Lovelace")
    (out / "student.tex").write_text(title)
    process = run_report(WORKED_SOLUTION, out, "--only", "initialization")
    assert process.returncode == 0, process.stdout + process.stderr
    assert discussion.read_text() == mine and (out / "student.tex").read_text() == title
    assert "50\\% of the units" in (out / "report.html").read_text()   # shown as written
    if shutil.which("latexmk") and shutil.which("pdftotext"):
        text = " ".join(subprocess.run(["pdftotext", str(out / "report.pdf"), "-"], capture_output=True,
                                       text=True, check=True).stdout.split())
        assert "Ada Lovelace" in text and "50% of the units die with zero weights by symmetry" in text


SPECIAL = "path/to/my_file 100% & #1 $5 {x} ~user ^2 back\\slash"


def test_special_characters_are_escaped():
    assert latex.tex("a_b") == r"a\_b" and latex.tex("50%") == r"50\%"
    assert latex.tex("{x}") == r"\{x\}" and latex.tex("a\\b") == r"a\textbackslash{}b"
    assert latex.tex("3 × 10−1") == r"3 $\times$ 10-1"
    assert latex.tex("[1] a\x85b") == "{[}1{]} a b"   # no optional argument, no C1 control
    assert latex.tex(latex.Raw(r"\emph{x}")) == r"\emph{x}"


@needs_tex
def test_values_with_latex_special_characters_typeset(tmp_path):
    """A study whose title, notes, settings, table and error message hold ``_ % & # $ { } ~ ^ \\``
    (a path, a name) compiles, and the PDF shows them as typed."""
    figure_dir = tmp_path / "odd_study"
    figure_dir.mkdir()
    sections = [
        Section("odd_study", f"Study of {SPECIAL}", f"Why {SPECIAL}?", OK,
                table=(("name_1", "rate %"), [(SPECIAL, "3.5 %"), ("μ ≥ 0", "1 × 10−3")]),
                settings={"data": SPECIAL, "seed": 0}, notes=[f"Data: {SPECIAL}"], scale="smoke"),
        Section("missing_part", "A study that needs code", "What?", NEEDS,
                message=f"needs NN.backward: not implemented ({SPECIAL})", scale="smoke")]
    latex.write_project(tmp_path, sections, title=f"Report on {SPECIAL}", subtitle=SPECIAL, smoke=True)
    built = latex.build(tmp_path)
    assert built.pdf is not None, built.message
    text = subprocess.run(["pdftotext", str(built.pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    flat = " ".join(text.split())
    for piece in ("my_file", "100%", "& #1", "$5", "{x}", "back\\slash"):
        assert piece in flat, (piece, flat[:600])
    assert overfull((tmp_path / "report.log").read_text(errors="replace")) == []


def test_without_tex_the_project_and_html_are_written_and_it_says_what_to_install(tmp_path):
    bin_dir = tmp_path / "bin"   # a PATH without latexmk and pdflatex
    bin_dir.mkdir()
    out = tmp_path / "out"
    environment = {**os.environ, "PATH": str(bin_dir)}
    process = subprocess.run([sys.executable, "-m", "report", "--solution", str(WORKED_SOLUTION),
                              "--scale", "smoke", "--only", "finite_differences", "--out", str(out),
                              "--no-progress"], cwd=Path(__file__).resolve().parents[1],
                             capture_output=True, text=True, timeout=600, env=environment)
    assert process.returncode == 0, process.stdout + process.stderr
    assert "no TeX here" in process.stderr and "texlive-latex-recommended" in process.stderr
    assert (out / "main.tex").is_file() and (out / "report.html").is_file()
    assert not (out / "report.pdf").exists()


@needs_tex
def test_a_course_preamble_takes_the_place_of_the_reports(tmp_path):
    """``--template``: the course's own document class and packages open main.tex, the packages
    the report needs are loaded after them, and it compiles."""
    preamble = tmp_path / "course.tex"
    preamble.write_text("\\documentclass[12pt,a4paper]{report}\n\\usepackage[T1]{fontenc}\n"
                        "\\usepackage{lmodern}\n\\usepackage[margin=2cm]{geometry}\n")
    out = tmp_path / "out"
    sections = [Section("plain", "1. A study", "What does it show?", OK,
                        table=(("a", "b"), [("1", "2")]), settings={"seed": 0})]
    main = latex.write_project(out, sections, title="Course report", subtitle="smoke", smoke=False,
                               preamble_path=preamble)
    text = main.read_text()
    assert text.startswith("\\documentclass[12pt,a4paper]{report}") and "\\usepackage{booktabs}" in text
    assert "{article}" not in text
    built = latex.build(out)
    assert built.pdf is not None, built.message
