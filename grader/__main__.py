"""Command line: ``python -m grader {grade,template,release,batch,gradescope} ...``.

- ``grade PATH [--results-json OUT] [--parts a,b] [--experiments] [--sandbox MODE] [--call-timeout S]
  [--load-timeout S] [--budget-scale X]``: grade one submission in this process (the grading
  session, ``grader/session.py``, as ``pytest grader`` does through its plugin) and print the
  score table. Exit 0: full marks, 1: points lost, 2: could not grade. pytest's options that
  would grade only some tests (``-k``, ``-m``, ``-x``, ``--maxfail``, ``--lf``, ...) or split the
  run (``-n``) are refused, saying why: the result of ``grade`` is always every row of the
  selected parts.
- ``template [--check]``: regenerate ``template/solution.py`` from the worked ``solution.py``;
  with ``--check``, only report whether the committed template is up to date.
- ``release OUTDIR [--force]``: write the student handout.
- ``batch SUBMISSIONS --out OUTDIR [--jobs N] [--parts a,b] [--experiments] [--force] [--engine local|dask]
  [--scheduler tcp://HOST:PORT] [--cap SECONDS] [--student ID...] [--export canvas,moodle]
  [--lms-column TITLE] [--no-similarity] [--similarity-reference DIR]``: grade a class
  (``grader.batch.run``).
- ``gradescope OUT.zip [--timeout S] [--force]``: build Gradescope's autograder zip
  (``grader.platforms.gradescope``); ``--timeout``: the assignment's timeout on Gradescope.
- ``gradescope-try ZIP SUBMISSION [--parts a,b] [--keep DIR]``: run that zip on one submission
  here, as Gradescope would, and print what the student sees.
- ``nbgrader init COURSE_DIR [--assignment NAME] [--parts a,b]``, ``nbgrader collect COURSE_DIR``,
  ``nbgrader export COURSE_DIR [--out DIR] [--export canvas,moodle] [--lms-column TITLE]``: an
  nbgrader course (``grader.platforms.nbgrader_course``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


GRADER_DIR = Path(__file__).resolve().parent
REPOSITORY = GRADER_DIR.parent
TEMPLATE_PATH = REPOSITORY / "template" / "solution.py"


# pytest options that leave rows of the selected parts unscored, or split the run, and what they do.
NARROWING_OPTIONS = {
    "-k": "selects tests by name", "--keyword": "selects tests by name",
    "-m": "selects tests by mark", "--markexpr": "selects tests by mark",
    "-x": "stops at the first failure", "--exitfirst": "stops at the first failure",
    "--maxfail": "stops after some failures", "--deselect": "leaves tests out",
    "--lf": "reruns only the last failures", "--last-failed": "reruns only the last failures",
    "--sw": "stops at the first failure", "--stepwise": "stops at the first failure",
    "--sw-skip": "skips a failure", "--stepwise-skip": "skips a failure",
    "--co": "runs no test", "--collect-only": "runs no test",
    "-n": "splits the run over processes", "--numprocesses": "splits the run over processes",
    "--dist": "splits the run over processes",
}
_SHORT_WITH_VALUE = "pcoWr"   # pytest's short options whose value may follow in the same word


def narrowing_option(arguments: list[str]) -> str | None:
    """The first of ``arguments`` that is one of ``NARROWING_OPTIONS`` (in any spelling:
    ``-k x``, ``-kx``, ``--maxfail=1``, ``-xq``), or None."""
    for argument in arguments:
        if argument == "--":
            return None
        if argument.startswith("--"):
            name = argument.split("=", 1)[0]
            if name in NARROWING_OPTIONS:
                return name
        elif argument.startswith("-") and len(argument) > 1:
            for letter in argument[1:]:
                if f"-{letter}" in NARROWING_OPTIONS:
                    return f"-{letter}"
                if letter in _SHORT_WITH_VALUE or not letter.isalpha():
                    break
    return None


def grade_options(extra: list[str]) -> argparse.Namespace:
    """The options of ``grade`` beyond the path (the same names as ``pytest grader``'s)."""
    from grader.isolation import sandbox

    parser = argparse.ArgumentParser(prog="python -m grader grade", add_help=False)
    parser.add_argument("--parts", default=None)
    parser.add_argument("--experiments", action="store_true")
    parser.add_argument("--sandbox", default="auto", choices=("auto", *sandbox.MODES))
    parser.add_argument("--call-timeout", type=float, default=None)
    parser.add_argument("--load-timeout", type=float, default=None)
    parser.add_argument("--budget-scale", type=float, default=1.0)
    parser.add_argument("--one-at-a-time", action="store_true")
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("-q", "--quiet", action="count", default=0)
    parser.add_argument("-v", "--verbose", action="count", default=0)
    known, unknown = parser.parse_known_args(extra)
    if unknown:
        raise ValueError(f"grade does not take {' '.join(unknown)}; it takes --parts a,b, "
                         "--experiments, --sandbox MODE, --call-timeout S, --load-timeout S, "
                         "--budget-scale X, --one-at-a-time, --reuse and --fresh")
    return known


def grade_command(submission: str, results_json: str | None, extra: list[str]) -> int:
    """Grade one file in this process (``grader.session.grade``) and print the score table."""
    narrowing = narrowing_option(extra)
    if narrowing:
        print(f"nngrade: grade does not take {narrowing} (it {NARROWING_OPTIONS[narrowing]}): its "
              "result is every rubric row of the selected parts, so that the maximum is the "
              "rubric's. Choose whole parts with --parts a,b; for a quick look at some tests, run "
              "pytest grader -k ... (its table then says PARTIAL).", file=sys.stderr)
        return 2
    path = Path(submission).expanduser().resolve()
    if not path.is_file():
        print(f"nngrade: no file at {path}: pass the path of a solution.py", file=sys.stderr)
        return 2
    # Before the grader and torch are imported here: the sandbox's own import of torch runs on
    # the other core meanwhile (grader/isolation/warm.py).
    from grader.command_line import option_value, parts_guess
    from grader.isolation import warm
    warm.prestart(path, option_value(extra, "--sandbox") or "auto", parts_guess(extra))
    from grader import session
    from grader.parts import UnknownParts, select_parts

    try:
        known = grade_options(extra)
        options = session.GradingOptions(
            submission=path, parts=select_parts(known.parts, known.experiments),
            results_json=results_json, call_timeout_s=known.call_timeout,
            load_timeout_s=known.load_timeout, budget_scale=known.budget_scale,
            sandbox=known.sandbox, ahead=not known.one_at_a_time,
            # pytest grader's reuse of unchanged CNN verdicts, when asked (grader/reuse.py)
            reuse=session.FRESH if known.fresh else session.REUSE if known.reuse else session.NEVER)
    except (ValueError, UnknownParts) as error:
        print(f"nngrade: {error}", file=sys.stderr)
        return 2
    # The references do small float64 work; one thread is as fast and cannot oversubscribe the
    # cores when several graders (or the worker beside us) run at once.
    import torch
    torch.set_num_threads(1)
    try:
        graded = session.grade(options)
    except KeyboardInterrupt:
        print("nngrade: interrupted; the rows that had not run count 0 in results.json",
              file=sys.stderr)
        return 2
    print(graded.table)
    return graded.code


def batch_command(args, parser) -> int:
    try:
        from grader.batch import run
    except ImportError:
        print("nngrade: batch is a TA's command, not part of the student handout", file=sys.stderr)
        return 2
    from grader.parts import UnknownParts, select_parts

    try:
        # [] is every default part (the batch's fingerprints and gradebook keep that meaning)
        parts = list(select_parts(args.parts, args.experiments)) if (
            args.parts.strip() or args.experiments) else []
    except UnknownParts as error:
        parser.error(str(error))
    if args.scheduler and args.engine != "dask":
        parser.error("--scheduler needs --engine dask")
    if args.jobs < 0:
        parser.error("--jobs must be at least 1 (0: one per core)")
    from grader.batch.lms import ExportError, parse_formats

    try:
        exports = parse_formats(args.export)
    except ExportError as error:
        parser.error(str(error))
    options = run.BatchOptions(
        submissions=Path(args.submissions).expanduser().resolve(),
        out=Path(args.out).expanduser().resolve(), jobs=args.jobs, parts=parts, force=args.force,
        engine=args.engine, scheduler=args.scheduler, assignment=args.assignment,
        cap_s=args.cap, progress=not args.no_progress, students=args.student or [],
        exports=exports, lms_column=args.lms_column, similarity=not args.no_similarity,
        similarity_reference=Path(args.similarity_reference).expanduser().resolve()
        if args.similarity_reference else None)
    return run.run_batch(options)


def gradescope_try_command(args) -> int:
    """Run the built zip on one submission, as Gradescope would, and print what the student sees
    (exit 0 when results.json was written, 2 when the run could not start)."""
    import shutil
    import tempfile

    from grader.platforms import gradescope

    archive, submission = Path(args.zip).expanduser().resolve(), Path(args.submission).expanduser()
    if not archive.is_file() or not submission.exists():
        missing = archive if not archive.is_file() else submission
        print(f"nngrade: {missing} does not exist", file=sys.stderr)
        return 2
    parts = [part.strip() for part in args.parts.split(",") if part.strip()]
    root = Path(args.keep).expanduser().resolve() if args.keep else Path(
        tempfile.mkdtemp(prefix="nngrade-gradescope-"))
    if args.keep and root.exists() and any(root.iterdir()):
        print(f"nngrade: {root} is not empty: --keep takes an empty or new folder", file=sys.stderr)
        return 2
    root.mkdir(parents=True, exist_ok=True)
    try:
        process, results = gradescope.run_locally(archive, submission.resolve(), root, parts=parts)
    except (OSError, ValueError, gradescope.BuildError) as error:
        print(f"nngrade: the zip could not be run here: {error}", file=sys.stderr)
        return 2
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(gradescope.student_view(results))
    if args.keep:
        print(f"\nGradescope would read {root / 'results' / 'results.json'}; the staff's log "
              "(stdout, hidden from students) is run_autograder's output", file=sys.stderr)
    if process.returncode:
        print(process.stdout[-3000:] + process.stderr[-3000:], file=sys.stderr)
    return 0


def nbgrader_command(args) -> int:
    try:
        from grader.platforms import nbgrader_course as course
    except ImportError as error:
        print(f"nngrade: nbgrader is not installed ({error}): pip install 'nngrade[nbgrader]'",
              file=sys.stderr)
        return 2
    try:
        if args.step == "init":
            parts = [p.strip() for p in args.parts.split(",") if p.strip()]
            source = course.init(Path(args.course), args.assignment or course.DEFAULT_ASSIGNMENT, parts)
            print(f"wrote {source} (template solution.py, {course.NOTEBOOK}.ipynb) and "
                  f"{source.parents[1] / 'nbgrader_config.py'}")
        elif args.step == "collect":
            students = course.collect(Path(args.course), args.assignment)
            print(f"copied the grading notebook into {len(students)} submission(s) that had none"
                  + (f": {', '.join(students)}" if students else ""))
        else:
            from grader.batch.lms import parse_formats

            exports = parse_formats(args.export)
            out = course.export(Path(args.course), args.assignment, args.out and Path(args.out),
                                exports=exports, lms_column=args.lms_column)
            also = "".join(f", {out / (name + '.csv')}" for name in exports)
            print(f"wrote {out / 'grades.csv'}{also}, {out / 'feedback'} and {out / 'summary.html'}")
    except (course.CourseError, ValueError) as error:
        print(f"nngrade: {error}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    grade = commands.add_parser("grade", help="grade one solution.py")
    grade.add_argument("submission")
    grade.add_argument("--results-json", default=None)
    template = commands.add_parser("template", help="regenerate template/solution.py")
    template.add_argument("--check", action="store_true")
    handout = commands.add_parser("release", help="write the student handout")
    handout.add_argument("outdir")
    handout.add_argument("--force", action="store_true")
    batch = commands.add_parser("batch", help="grade a class: a folder, zip, nbgrader submitted/ "
                                              "or Gradescope export")
    batch.add_argument("submissions")
    batch.add_argument("--out", required=True, help="where grades.csv, results/, feedback/ and "
                                                    "summary.html go")
    batch.add_argument("--jobs", type=int, default=0, help="gradings at once (default: one per core)")
    batch.add_argument("--parts", default="", help="comma-separated parts (default: all)")
    batch.add_argument("--experiments", action="store_true",
                       help="also grade the opt-in experiments part")
    batch.add_argument("--force", action="store_true", help="grade again what is already graded")
    batch.add_argument("--engine", choices=("local", "dask"), default="local")
    batch.add_argument("--scheduler", default=None, help="tcp://HOST:PORT of a running Dask "
                                                         "scheduler (with --engine dask)")
    batch.add_argument("--assignment", default=None, help="the nbgrader assignment to grade, when "
                                                          "submitted/ holds several")
    batch.add_argument("--cap", type=float, default=None,
                       help="wall-clock cap of one grading, s (default: 1200, more for the "
                            "experiments part; a smaller cap scales the CPU budgets to fit)")
    batch.add_argument("--no-progress", action="store_true", help="no progress bar")
    batch.add_argument("--student", nargs="+", default=None, metavar="ID",
                       help="regrade only these students of the roster (their id, SID or email) "
                            "and update every output; the others stay as OUTDIR has them")
    batch.add_argument("--export", default="", metavar="canvas,moodle",
                       help="also write the grade-import CSV of these LMSs (OUTDIR/<lms>.csv)")
    batch.add_argument("--no-similarity", action="store_true",
                       help="no similarity report (on by default when copydetect is installed)")
    batch.add_argument("--similarity-reference", default=None, metavar="DIR",
                       help="known past or public solutions (.py files) compared with every "
                            "submission in the similarity report")
    batch.add_argument("--lms-column", default="", metavar="TITLE",
                       help="the grade column's title in the LMS files (default: nngrade, or "
                            "OUTDIR's earlier one; Canvas: an assignment's name, or 'Name (id)' "
                            "to update that assignment)")
    gradescope = commands.add_parser("gradescope", help="build Gradescope's autograder zip")
    gradescope.add_argument("out", help="the zip to write, e.g. autograder.zip")
    gradescope.add_argument("--timeout", type=float, default=600.0,
                            help="the assignment's timeout on Gradescope, s (default 600)")
    gradescope.add_argument("--force", action="store_true", help="replace OUT if it exists")
    trial = commands.add_parser("gradescope-try", help="run a built autograder zip on one "
                                                       "submission here, as Gradescope would")
    trial.add_argument("zip", help="the autograder zip (python -m grader gradescope OUT.zip)")
    trial.add_argument("submission", help="a solution.py, or a folder as a student uploads it")
    trial.add_argument("--parts", default="", help="comma-separated parts (default: all, as on "
                                                   "Gradescope)")
    trial.add_argument("--keep", default=None, metavar="DIR",
                       help="lay the run out in DIR (an empty or new folder) and keep it: "
                            "DIR/results/results.json is what Gradescope would read")
    nbgrader = commands.add_parser("nbgrader", help="an nbgrader course: init, collect, export")
    steps = nbgrader.add_subparsers(dest="step", required=True)
    for step, words in (("init", "write a course (or add an assignment to one)"),
                        ("collect", "copy the grading notebook into submissions that lack it"),
                        ("export", "per-part grades.csv, feedback and class summary")):
        sub = steps.add_parser(step, help=words)
        sub.add_argument("course", help="the course folder (where nbgrader_config.py is)")
        sub.add_argument("--assignment", default=None,
                         help="the assignment (init: default ps1; else: the course's only one)")
        if step == "init":
            sub.add_argument("--parts", default="", help="comma-separated parts (default: all)")
        if step == "export":
            sub.add_argument("--out", default=None, help="default: COURSE/nngrade_export/<assignment>")
            sub.add_argument("--export", default="", metavar="canvas,moodle",
                             help="also write the grade-import CSV of these LMSs (OUT/<lms>.csv)")
            sub.add_argument("--lms-column", default=None, metavar="TITLE",
                             help="the grade column's title in the LMS files (default: the "
                                  "assignment's name)")
    args, extra = parser.parse_known_args(argv)

    if args.command == "grade":
        return grade_command(args.submission, args.results_json, extra)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "batch":
        return batch_command(args, parser)
    if args.command == "gradescope-try":
        return gradescope_try_command(args)
    if args.command == "nbgrader":
        return nbgrader_command(args)
    try:
        # The instructor's tools are not in the student handout (grader.authoring.release).
        from grader.authoring.release import ReleaseError, release
        from grader.authoring.template import TemplateError, make_template, write_template
    except ImportError:
        print(f"nngrade: {args.command} is an instructor's command, not part of the student "
              "handout", file=sys.stderr)
        return 2
    try:
        if args.command == "template":
            if args.check:
                current = TEMPLATE_PATH.read_text() if TEMPLATE_PATH.is_file() else ""
                if current != make_template((REPOSITORY / "solution.py").read_text()):
                    print("template/solution.py is out of date: run python -m grader template",
                          file=sys.stderr)
                    return 1
                print("template/solution.py is up to date")
                return 0
            changed = write_template(REPOSITORY / "solution.py", TEMPLATE_PATH)
            print(f"{'wrote' if changed else 'unchanged'} {TEMPLATE_PATH}")
            return 0
        if args.command == "release":
            target = release(Path(args.outdir), force=args.force)
            print(f"wrote the student handout to {target}")
            return 0
        if args.command == "gradescope":
            from grader.platforms.gradescope import build

            target = build(Path(args.out), timeout_s=args.timeout, force=args.force)
            print(f"wrote Gradescope's autograder to {target}")
            return 0
    except (TemplateError, ReleaseError) as error:
        print(f"nngrade: {error}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
