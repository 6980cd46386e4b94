"""The report as a LaTeX project the student writes in (``OUT/main.tex`` and its files).

``write_project`` renders ``templates/main.tex`` with jinja2 (LaTeX-friendly delimiters:
``\\VAR{...}``, ``\\BLOCK{...}``), and every value that comes from a study, a log or the student
(a title, a table cell, a path, an error message that quotes their code) goes through ``tex``,
LaTeX's escaping, unless it is LaTeX this module wrote itself (``raw``). The project:

- ``main.tex``: the title block, then a section per study: the assignment's question, quoted
  as such; notes; the settings and the results as booktabs tables (a table wider than the text
  is scaled down to its width; more than ``LONG_ROWS`` rows become a ``longtable`` that breaks
  across pages); each figure as vector PDF at the text's width, captioned; and
  ``\\input{discussion/<study>}``. Written again on every run.
- ``student.tex``: the title block's four fields (name, student id, course, assignment), and
  ``discussion/<study>.tex``: the student's text, which starts as a prompt in a comment. Both are
  written only when missing: a re-run never touches them.

``build`` compiles it with ``latexmk -pdf`` into ``report.pdf`` when TeX is installed, and says
what to install when it is not (the project and the HTML report are written either way).
"""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from grader.outputs.artifacts import write_text_atomic
from report.engine import FAILED, NEEDS, Section

TEMPLATES = Path(__file__).resolve().parent / "templates"
LONG_ROWS = 30
"""A results table of more rows than this breaks across pages (``longtable``)."""
LATEXMK_TIMEOUT_S = 300

_SPECIAL = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "#": r"\#", "$": r"\$", "%": r"\%",
            "&": r"\&", "_": r"\_", "^": r"\textasciicircum{}", "~": r"\textasciitilde{}",
            "[": "{[}", "]": "{]}",
            "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}", '"': "''",
            "\n": " ", "\r": " ", "\t": " "}
_UNICODE = {"×": r"$\times$", "−": "-", "–": "--", "—": "---", "≥": r"$\geq$", "≤": r"$\leq$",
            "≈": r"$\approx$", "±": r"$\pm$", "·": r"$\cdot$", "…": r"\dots{}", "→": r"$\to$",
            "μ": r"$\mu$", "σ": r"$\sigma$", "²": r"\textsuperscript{2}", "³": r"\textsuperscript{3}",
            "‘": "`", "’": "'", "“": "``", "”": "''", "°": r"\textdegree{}", "√": r"$\surd$",
            "∞": r"$\infty$", "α": r"$\alpha$", "β": r"$\beta$", "γ": r"$\gamma$",
            "ε": r"$\varepsilon$", "λ": r"$\lambda$", "θ": r"$\theta$", "η": r"$\eta$",
            "\u00a0": "~", "\u2009": r"\,", "\u202f": r"\,"}


class Raw(str):
    """Text that is LaTeX already (written by this module): ``tex`` leaves it as it is."""


def tex(value) -> str:
    """``value`` as LaTeX text that typesets as itself: LaTeX's special characters escaped, the
    common mathematical and typographic characters spelled in LaTeX, any other character outside
    Latin-1 (which T1 fonts and utf8 input set) replaced by ``?``."""
    if isinstance(value, Raw):
        return str(value)
    out = []
    for char in "" if value is None else str(value):
        if char in _SPECIAL:
            out.append(_SPECIAL[char])
        elif char in _UNICODE:
            out.append(_UNICODE[char])
        elif ord(char) < 32 or 127 <= ord(char) < 160:   # C0 and C1 controls
            out.append(" ")
        elif ord(char) > 255:
            out.append("?")
        else:
            out.append(char)
    # "[" and "]" are braced: right after a line break, an item or a rule, LaTeX would read a
    # bracket as the start of an optional argument
    return "".join(out)


def _environment():
    import jinja2

    environment = jinja2.Environment(
        block_start_string=r"\BLOCK{", block_end_string="}", variable_start_string=r"\VAR{",
        variable_end_string="}", comment_start_string=r"\#{", comment_end_string="}",
        line_statement_prefix=None, trim_blocks=True, autoescape=False, keep_trailing_newline=True,
        loader=jinja2.FileSystemLoader(str(TEMPLATES)), finalize=tex,
        undefined=jinja2.StrictUndefined)
    environment.filters["raw"] = lambda value: Raw(value)
    return environment


@dataclass
class _Figure:
    name: str
    path: Raw


def _status_text(section: Section) -> str:
    if section.status == NEEDS:
        return (f"This study did not run: it {section.message}. Write that part of solution.py, "
                "then run python -m report again.")
    if section.status == FAILED:
        return f"This study failed (the others ran): {section.message[:600]}"
    return ""


def _label(name: str) -> Raw:
    return Raw("sec:" + re.sub(r"[^A-Za-z0-9]", "-", name))


def _section_context(section: Section, out: Path) -> dict:
    headers, rows = section.table if section.table else ((), ())
    headers = [tex(header) for header in headers or ()]
    rows = [[tex(cell) for cell in row] for row in rows or ()]
    figures = []
    for name, paths in section.figures.items():
        pdf = Path(paths["pdf"])
        try:
            relative = pdf.resolve().relative_to(out.resolve()).as_posix()
        except ValueError:
            relative = pdf.resolve().as_posix()
        # graphicx takes a path as is: one that needs escaping is not one we write
        figures.append(_Figure(name=name.replace("_", " "), path=Raw(relative)))
    return {"name": section.name, "title": section.title, "question": section.question,
            "label": _label(section.name), "status_text": _status_text(section),
            "notes": list(section.notes), "settings": list(section.settings.items()),
            "headers": headers, "rows": rows, "long": len(rows) > LONG_ROWS,
            "columns": Raw("l" * len(headers)), "figures": figures,
            "scale_note": f" ({section.scale} scale)" if section.scale == "smoke" else ""}


STUDENT_TEX = r"""% Your title block: fill in the four fields. python -m report never overwrites this file.
\newcommand{\reportname}{Your name}
\newcommand{\reportid}{Your student id}
\newcommand{\reportcourse}{Your course}
\newcommand{\reportassignment}{Your assignment}
"""


def discussion_stub(section: Section) -> str:
    """The first text of ``discussion/<study>.tex``: what to discuss, in a comment."""
    question = " ".join(section.question.split())
    return (f"% Your discussion of {section.title}. python -m report never overwrites this file:\n"
            f"% write here, in LaTeX, and run it again to rebuild the report around your text.\n"
            f"%\n% The question: {question}\n"
            "% Say what the figures and the table show, why (the mechanism, not only the numbers),\n"
            "% and how sure you are: the scale it ran at, the seeds, what you would run next.\n"
            f"\\emph{{(Your discussion: discussion/{tex(section.name)}.tex.)}}\n")


def write_project(out: Path, sections: list[Section], *, title: str, subtitle: str,
                  smoke: bool, preamble_path: Path | None = None) -> Path:
    """Write ``OUT/main.tex`` (every run), and ``student.tex`` and ``discussion/<study>.tex``
    where they are missing; return main.tex's path. ``preamble_path``: a course's own preamble
    (``--template``: a file with its ``\\documentclass`` and packages) in place of ours; the
    packages the report needs are loaded after it."""
    out = Path(out)
    preamble = ""
    if preamble_path is not None:
        preamble = Path(preamble_path).read_text(encoding="utf-8").rstrip() + (
            "\n\\usepackage{graphicx}\n\\usepackage{booktabs}\n\\usepackage{longtable}\n"
            "\\usepackage{float}\n\\usepackage{xcolor}\n")
    text = _environment().get_template("main.tex").render(
        title=title, subtitle=subtitle, smoke=smoke, preamble=Raw(preamble),
        sections=[_section_context(section, out) for section in sections])
    main = out / "main.tex"
    write_text_atomic(main, text)
    if not (out / "student.tex").exists():
        write_text_atomic(out / "student.tex", STUDENT_TEX)
    for section in sections:
        discussion = out / "discussion" / f"{section.name}.tex"
        if not discussion.exists():
            write_text_atomic(discussion, discussion_stub(section))
    return main


def discussion_text(out: Path, name: str) -> str:
    """The student's discussion of study ``name`` without its comment lines (the HTML report
    shows it as text); "" when there is none yet."""
    try:
        lines = (Path(out) / "discussion" / f"{name}.tex").read_text(encoding="utf-8").splitlines()
    except OSError:
        return ""
    return "\n".join(line for line in lines if not line.lstrip().startswith("%")).strip()


@dataclass
class Build:
    pdf: Path | None
    message: str


def build(out: Path) -> Build:
    """Compile ``OUT/main.tex`` into ``OUT/report.pdf`` with ``latexmk -pdf``; a Build whose
    ``pdf`` is None and whose ``message`` says why when it could not (no TeX here, or LaTeX's
    error, from its log)."""
    # an earlier PDF must not pass for this run's: it is built again, or it is gone
    (Path(out) / "report.pdf").unlink(missing_ok=True)
    latexmk = shutil.which("latexmk")
    if latexmk is None or shutil.which("pdflatex") is None:
        return Build(None, "no TeX here (latexmk and pdflatex): the LaTeX project is written; "
                           "install TeX (Debian: apt install texlive-latex-recommended latexmk) "
                           "or open it on Overleaf, then run latexmk -pdf main.tex in its folder")
    try:
        process = subprocess.run(
            [latexmk, "-pdf", "-interaction=nonstopmode", "-halt-on-error", "-jobname=report",
             "main.tex"], cwd=out, capture_output=True, text=True, timeout=LATEXMK_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return Build(None, f"latexmk did not finish in {LATEXMK_TIMEOUT_S} s")
    if process.returncode != 0 or not (Path(out) / "report.pdf").is_file():
        log = Path(out) / "report.log"
        errors = [line for line in (log.read_text(errors="replace").splitlines() if log.is_file()
                                    else process.stdout.splitlines()) if line.startswith("!")]
        return Build(None, "LaTeX could not build report.pdf: " + ("; ".join(errors[:3]) or
                                                                    process.stdout[-500:]))
    return Build(Path(out) / "report.pdf", "")
