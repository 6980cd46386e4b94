"""The pytest plugin behind ``pytest grader``: options, fixtures, scoring hooks and the table.

``grader/conftest.py`` loads it. Each graded test gets the ``worker`` fixture (the student's
code in its own process, shared by the run and restarted after a crash) and the ``grade``
fixture (a ``Scorer``). The run keeps a ``Ledger`` (``grader/ledger.py``) of every rubric row of
the selected parts, opened when collection ends and filled by each phase of each test. After the
run, the score table is printed and, with ``--results-json``, written in Gradescope's format;
while the run goes on, that file holds the results so far after every test (``_write_progress``).

The grader runs in one process: with pytest-xdist (``-n``) each worker would keep its own
ledger and the controller, which prints the table and writes results.json, would see none of
it, so ``-n`` is refused.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from grader import tolerances
from grader.isolation import sandbox
from grader.isolation.worker import CouldNotGrade, Limits, Session
from grader.ledger import Ledger
from grader.outputs import report
from grader.rubric import BY_TEST, DEFAULT_PARTS, NUMPY_ONLY_PARTS, OPT_IN_PARTS, PARTS, RUBRIC
from grader.verdicts import numpy_only, styles
from grader.verdicts.rules import SourceError, read_source
from grader.verdicts.scoring import GradeFailure, GraderError, Scorer
from grader.verdicts.substitutes import CallbackLog

_LEDGER = pytest.StashKey[Ledger]()
_SELECTED_PARTS = pytest.StashKey[tuple]()
_STARTED = pytest.StashKey[float]()
_SCORER = pytest.StashKey[Scorer]()
_SESSION = pytest.StashKey[Session]()
_COULD_NOT_GRADE = pytest.StashKey[str]()
_TESTS_DONE = pytest.StashKey[int]()
_REPRODUCIBILITY = pytest.StashKey[dict]()
_NUMPY_ONLY = pytest.StashKey[dict]()
_HIDDEN_DIR = Path(__file__).resolve().parent / "hidden"


def pytest_addoption(parser):
    group = parser.getgroup("nngrade", "nngrade grading")
    group.addoption("--submission", default=None,
                    help="the solution.py to grade (default: ./solution.py)")
    group.addoption("--results-json", default=None,
                    help="also write Gradescope's results.json here")
    group.addoption("--call-timeout", type=float, default=None,
                    help="CPU seconds one call into the submission may take (default 30)")
    group.addoption("--budget-scale", type=float, default=None,
                    help="multiply every CPU budget of the parts and of the grading, and the "
                         "allowance for waiting, by this (default 1; see grader/tolerances.py)")
    group.addoption("--load-timeout", type=float, default=None,
                    help="seconds importing the submission may take (default 60)")
    group.addoption("--parts", default=None,
                    help="grade only these parts (comma-separated, e.g. backward,update)")
    group.addoption("--experiments", action="store_true", default=False,
                    help="also grade the experiments part (short runs of the assignment's studies, "
                         "about a minute); it is left out otherwise")
    group.addoption("--sandbox", default="auto", choices=("auto", *sandbox.MODES),
                    help="how to confine the submission (default: the strongest available)")


def submission_path(config) -> Path:
    option = config.getoption("--submission")
    if option:
        return Path(option).expanduser().resolve()
    for base in (Path.cwd(), config.rootpath):
        if (base / "solution.py").is_file():
            return (base / "solution.py").resolve()
    return (Path.cwd() / "solution.py").resolve()


def rng_for(test_name: str) -> np.random.Generator:
    """The generator of a test's inputs, seeded from the suite seed and the test's name."""
    digest = sum(ord(c) * (i + 1) for i, c in enumerate(test_name))
    return np.random.default_rng([report.SUITE_SEED, digest])


def _refuse_distribution(config) -> None:
    """Refuse pytest-xdist: the ledger, the table and results.json live in one process."""
    numprocesses = config.getoption("numprocesses", None)
    distributed = config.getoption("dist", "no") not in (None, "no") or bool(config.getoption("tx", None))
    if numprocesses or distributed or hasattr(config, "workerinput"):
        raise pytest.UsageError(
            "the grader runs in one process and refuses -n/--dist (pytest-xdist): each xdist "
            "worker would grade some tests into its own ledger, and the score table and "
            "results.json, written by the controller, would miss them. Run `pytest grader` "
            "without -n; to grade many submissions at once, run one grader per submission.")


def pytest_configure(config):
    _refuse_distribution(config)
    # The references do small float64 work; one thread is as fast and cannot oversubscribe the
    # cores when several graders (or the worker beside us) run at once.
    torch.set_num_threads(1)
    config.stash[_STARTED] = time.monotonic()
    if not config.pluginmanager.has_plugin("nngrade-numpy-only"):
        config.pluginmanager.register(NumpyOnlyRule(), "nngrade-numpy-only")
    # The diagnosis is the failure message; pytest's traceback through grader code would bury it.
    arguments = [str(arg) for arg in config.invocation_params.args]
    if not any(arg.startswith("--tb") for arg in arguments):
        config.option.tbstyle = "no"
    if not any(arg.startswith("-r") for arg in arguments):
        config.option.reportchars = "N"  # the score table below already lists every failure


def pytest_collection_modifyitems(session, config, items):
    collected = {item.name for item in items}
    unknown = sorted(collected - set(BY_TEST))
    if unknown:
        raise pytest.UsageError(f"tests without a rubric row: {', '.join(unknown)}")
    # A graded test that cannot record a check could never lose a point: a grader bug, refused
    # before anything runs (a test that takes the fixture but makes no check fails at run time).
    unchecked = sorted(item.name for item in items if "grade" not in getattr(item, "fixturenames", ()))
    if unchecked:
        raise pytest.UsageError(f"grader error: graded tests that do not take the grade fixture, so "
                                f"no check of theirs could cost a point: {', '.join(unchecked)}")
    # Run in the order of the parts. A part's own tests then come before the tests that replace
    # it by the reference, so fewer workers have to be replaced (see Session.call).
    part_order = {part: index for index, part in enumerate(PARTS)}
    row_order = {row.test: index for index, row in enumerate(RUBRIC)}
    items.sort(key=lambda item: (part_order[BY_TEST[item.name].part], row_order[item.name]))
    selected_parts = config.getoption("--parts")
    wanted = set(DEFAULT_PARTS)
    if config.getoption("--experiments"):
        wanted |= set(OPT_IN_PARTS)
    if selected_parts:
        wanted = {part.strip() for part in selected_parts.split(",") if part.strip()}
        unknown_parts = sorted(wanted - set(PARTS))
        if unknown_parts:
            raise pytest.UsageError(f"unknown parts {', '.join(unknown_parts)}; the parts are "
                                    f"{', '.join(PARTS)}")
        if config.getoption("--experiments"):
            wanted |= set(OPT_IN_PARTS)
    # An opt-in part that was not asked for is not "not selected" in the table: it is simply
    # not part of this grading, like a part the assignment does not have.
    config.stash[_SELECTED_PARTS] = tuple(part for part in PARTS if part in wanted)
    deselected = [item for item in items if BY_TEST[item.name].part not in wanted]
    if deselected:
        items[:] = [item for item in items if BY_TEST[item.name].part in wanted]
        config.hook.pytest_deselected(items=deselected)
    # Only a run of the whole suite must have every row; a -k selection or one file may not.
    grader_dir = Path(__file__).resolve().parent
    whole_suite = not selected_parts and not config.getoption("keyword") and not config.getoption(
        "markexpr") and all(
        "::" not in str(arg) and Path(arg).resolve() in (grader_dir, *grader_dir.parents)
        for arg in config.args)
    if whole_suite:
        missing = [row.test for row in RUBRIC if row.test not in collected
                   and (not row.hidden or _HIDDEN_DIR.is_dir())]
        if missing:
            raise pytest.UsageError(f"rubric rows without a test: {', '.join(missing)}")


def pytest_collection_finish(session):
    """Open the ledger once every selection (``--parts``, then pytest's own) is final, then run
    the preflight before any graded test."""
    config = session.config
    if _SELECTED_PARTS not in config.stash:
        return  # collection failed before the grader's hook ran; pytest reports why
    parts = set(config.stash[_SELECTED_PARTS])
    config.stash[_LEDGER] = Ledger([row for row in RUBRIC if row.part in parts],
                                   {item.name for item in session.items}, _selection(config))
    if parts & set(NUMPY_ONLY_PARTS) and session.items:
        # read before any of the submission runs: its code could rewrite the file it came from
        numpy_only_verdicts(config)
    _preflight(session)


def _selection(config) -> str:
    """How pytest's own options narrowed this run, for the rows they left out."""
    grader_dir = Path(__file__).resolve().parent
    ways = []
    if config.getoption("keyword"):
        ways.append(f"-k {config.getoption('keyword')!r}")
    if config.getoption("markexpr"):
        ways.append(f"-m {config.getoption('markexpr')!r}")
    if config.getoption("deselect", None):
        ways.append("--deselect")
    if config.getoption("lf", None) or config.getoption("stepwise", None):
        ways.append("--lf/--sw")
    named = [arg for arg in config.args
             if "::" in str(arg) or Path(arg).resolve() not in (grader_dir, *grader_dir.parents)]
    if named:
        ways.append("only " + ", ".join(str(Path(arg).name) for arg in named))
    return "; ".join(ways) or "pytest's selection"


@pytest.fixture(scope="session")
def callback_log() -> CallbackLog:
    return CallbackLog()


def _limits_and_mode(config) -> tuple[Limits, sandbox.Mode]:
    overrides = {"call_timeout_s": config.getoption("--call-timeout"),
                 "load_timeout_s": config.getoption("--load-timeout")}
    limits = Limits(**{k: v for k, v in overrides.items() if v})
    scale = _budget_scale(config)
    if scale != 1.0:
        # The allowance for waiting scales with the CPU budgets: a platform whose cap is small
        # fits both under it (tolerances.budget_scale_for_cap).
        idle = scale * limits.idle_budget_s
        limits = dataclasses.replace(limits, idle_budget_s=idle,
                                     call_idle_s=min(limits.call_idle_s, idle))
    try:
        mode = sandbox.choose_mode(config.getoption("--sandbox"))
    except ValueError as error:
        # A sandbox mode the grader does not know (--sandbox, NNGRADE_SANDBOX_MODE) is the
        # grading machine's configuration, never the student's: could not grade, no score.
        raise CouldNotGrade(f"the grader's configuration is invalid: {error}") from None
    except RuntimeError as error:  # the requested sandbox cannot run here
        raise CouldNotGrade(str(error)) from None
    return limits, mode


def _budget_scale(config) -> float:
    scale = config.getoption("--budget-scale") or 1.0
    if not scale > 0:
        raise pytest.UsageError(f"--budget-scale must be a positive number, not {scale}")
    return scale


def _stop_could_not_grade(config, reason: str):
    """Stop the run: exit code 2, "could not grade", and no part scored (see
    pytest_sessionfinish and pytest_terminal_summary)."""
    config.stash[_COULD_NOT_GRADE] = reason
    pytest.exit(f"could not grade: {reason.splitlines()[0]}", returncode=2)


def _preflight(session) -> None:
    """The preflight, once, before any graded test: a worker started exactly as grading will
    start it, on a trivial module, must answer one message. If it cannot, the environment is
    at fault (sandbox, interpreter, libraries) and nothing may be scored."""
    config = session.config
    if not session.items or config.option.collectonly:
        return
    try:
        limits, mode = _limits_and_mode(config)
        Session(submission_path(config), CallbackLog(), limits, mode).preflight()
    except CouldNotGrade as error:
        _stop_could_not_grade(config, str(error))


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem):
    """A worker that could not be started later in the run (Session raises CouldNotGrade when
    none of the submission had run) also stops grading, before the test is reported: no zero
    and no failure for the environment."""
    try:
        return (yield)
    except CouldNotGrade as error:
        _stop_could_not_grade(pyfuncitem.config, str(error))


@pytest.fixture(scope="session")
def style(request) -> styles.Style:
    """The template the submission was written for, read from its source (never run)."""
    try:
        return styles.detect(read_source(submission_path(request.config)))
    except (OSError, ValueError):
        return styles.Style()


@pytest.fixture(scope="session")
def worker(request, callback_log, style):
    config = request.config
    limits, mode = _limits_and_mode(config)
    session = Session(submission_path(config), callback_log, limits, mode)
    session.adapt = style.adapt
    scale = _budget_scale(config)
    session.part_budgets = {part: scale * seconds
                            for part, seconds in tolerances.PART_CPU_BUDGET_S.items()}
    session.grading_budget_s = scale * tolerances.grading_cpu_budget(config.stash[_SELECTED_PARTS])
    config.stash[_SESSION] = session
    yield session
    session.close()


@pytest.fixture
def grade(request) -> Scorer:
    scorer = Scorer()
    request.node.stash[_SCORER] = scorer
    return scorer


@pytest.fixture
def rng(request) -> np.random.Generator:
    """A generator seeded from the suite seed and the test's name: the same inputs every run."""
    return rng_for(request.node.name)


def numpy_only_verdicts(config) -> dict[str, str]:
    """``{part: message}`` for the numpy parts whose code reaches an automatic-differentiation
    framework (``grader/verdicts/numpy_only.py``), read once per run from the submission's
    source, here in the trusted process: what the worker says about itself is no evidence. A
    source that cannot be read or parsed breaks no rule here (the worker's load failure says
    what is wrong with it)."""
    if _NUMPY_ONLY not in config.stash:
        try:
            found = numpy_only.reaches(read_source(submission_path(config)))
        except (OSError, SourceError):
            found = {}
        config.stash[_NUMPY_ONLY] = {part: numpy_only.verdict(reaches)
                                     for part, reaches in found.items()}
    return config.stash[_NUMPY_ONLY]


class NumpyOnlyRule:
    """The numpy-only rule of Parts 1-3, applied to every test of the numpy parts in one place.

    A part whose code reaches a framework scores 0 in every test (the rubric's
    ``NUMPY_ONLY_PARTS``): the rule is about how the part is implemented, not about one case,
    and the tests of a part share its code. The test's body is not run (the student's values no
    longer matter and its framework code need not run); the message names the rule, each
    method and line."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem):
        row = BY_TEST.get(pyfuncitem.name)
        if row is None or row.part not in NUMPY_ONLY_PARTS:
            return None
        message = numpy_only_verdicts(pyfuncitem.config).get(row.part)
        scorer = pyfuncitem.funcargs.get("grade")
        if message is None or not isinstance(scorer, Scorer):
            return None
        scorer.fail(message)   # raises GradeFailure: 0 points, the rule as the reason


GRADER_RUNS_STUDENT_WORK = frozenset({"batchnorm2d", "mnist_cnn", "cats_dogs_cnn", "experiments"})
"""Parts in which the grader itself runs what the student described (a rebuilt network, its
training, a replayed BatchNorm2d, the experiments' runs): the grader's CPU time during their tests
counts against the part's budget (``tolerances.PART_CPU_BUDGET_S``), like calls into the worker."""


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    session = item.config.stash.get(_SESSION, None)
    row = BY_TEST.get(item.name)
    if session is not None and row is not None:
        session.begin_part_test(row.part, row.part in GRADER_RUNS_STUDENT_WORK)
    try:
        result = yield
    finally:
        if session is not None and row is not None:
            session.end_part_test()
    scorer = item.stash.get(_SCORER, None)
    if scorer is None or not scorer.decided:
        raise GraderError("this graded test made no check, so it cannot tell a right answer from "
                          "a wrong one (a bug of the grader, never a pass)")
    if scorer.failed:
        raise GradeFailure(scorer.message())
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    test_report = yield
    ledger = item.config.stash.get(_LEDGER, None)
    if ledger is None or item.name not in ledger:
        return test_report
    record = _phase_record(BY_TEST[item.name], item.stash.get(_SCORER, None), call, test_report,
                           ledger.get(item.name))
    if record is not None:
        ledger.fill(record)
    if call.when == "teardown":
        _write_progress(item.config, ledger)
    return test_report


def _write_progress(config, ledger: Ledger) -> None:
    """After each test, with ``--results-json``: the results so far, so that a grading killed
    midway (a platform's time or memory limit) still leaves a valid file in which the finished
    tests keep their scores. It says ``status: "incomplete"``, which no reader takes for a
    finished grading (the batch treats it as not graded); the end of the session replaces it."""
    path = config.getoption("--results-json")
    if not path:
        return
    done = config.stash.get(_TESTS_DONE, 0) + 1
    config.stash[_TESTS_DONE] = done
    total = sum(1 for result in ledger.results if result.status != report.NOT_SELECTED)
    reason = (f"the grading process ended before it finished: {done} of the {total} tests had "
              "run; the others did not run and count 0")
    data = report.results_json(ledger.results, submission=str(submission_path(config)),
                               seconds=time.monotonic() - config.stash[_STARTED],
                               extra=_results_extra(config),
                               partial="; ".join(filter(None, [ledger.partial, reason])))
    data["extra_data"]["nngrade"].update(status="incomplete", reason=reason)
    report.write_json_atomic(Path(path), data)


def _results_extra(config) -> dict:
    """``extra_data.nngrade``'s reproducibility and sandbox blocks (the former computed once)."""
    if _REPRODUCIBILITY not in config.stash:
        config.stash[_REPRODUCIBILITY] = report.reproducibility()
    worker_session = config.stash.get(_SESSION, None)
    return {"reproducibility": config.stash[_REPRODUCIBILITY],
            "submission": str(submission_path(config)),
            "sandbox": worker_session.record() if worker_session else {},
            "worker_restarts": worker_session.restarts if worker_session else 0,
            "isolation_restarts": (worker_session.isolation_restarts if worker_session else 0)}


def _phase_record(row, scorer, call, test_report, current) -> report.TestResult | None:
    """What one phase (setup, call, teardown) of a graded test enters in its row, if anything."""
    notes = list(scorer.notes) if scorer is not None else []
    if test_report.skipped:
        reason = test_report.longrepr[2] if isinstance(test_report.longrepr, tuple) else str(
            test_report.longrepr)
        return report.TestResult(row, 0.0, report.NOT_RUN, f"skipped ({reason})", notes)
    if call.when == "call":
        if test_report.passed:
            record = report.TestResult(row, scorer.fraction, report.PASSED, "", notes)
        elif call.excinfo is not None and call.excinfo.errisinstance(GradeFailure):
            record = report.TestResult(row, scorer.fraction, report.FAILED, str(call.excinfo.value),
                                       notes)
        else:
            record = _grader_error(row, call, "")
        record.seconds = call.duration
        if scorer is not None:
            record.experiment = scorer.experiment
        return record
    if test_report.failed:  # setup or teardown: the grader's fixtures, never the student's code
        record = _grader_error(row, call, f"in {call.when}")
        if call.when == "teardown" and current.status != report.NOT_RUN:
            record.details = f"{record.details}\n(the test itself ended: {current.status})"
        return record
    return None


def _grader_error(row, call, where: str) -> report.TestResult:
    """A row lost to a fault of the grader: one line for the student, the traceback for staff."""
    excinfo = call.excinfo
    if excinfo is None:
        return report.TestResult(row, 0.0, report.ERROR, f"the test failed {where}".strip(),
                                 details="no exception was recorded")
    first_line = (str(excinfo.value).strip().splitlines() or [""])[0][:300]
    summary = f"{excinfo.typename}{': ' + first_line if first_line else ''}"
    if where:
        summary = f"{summary} ({where})"
    return report.TestResult(row, 0.0, report.ERROR, summary,
                             details=str(excinfo.getrepr(style="short")))


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    if _COULD_NOT_GRADE in config.stash:   # no part is scored, not even as "not run"
        if config.getoption("--results-json"):
            data = report.could_not_grade_results(config.stash[_COULD_NOT_GRADE],
                                                  str(submission_path(config)),
                                                  {"reproducibility": report.reproducibility()})
            report.write_json_atomic(Path(config.getoption("--results-json")), data)
        return
    ledger = config.stash.get(_LEDGER, None)
    if ledger is None or config.option.collectonly:
        return
    ledger.close(_why_rows_did_not_run(session, exitstatus))
    # pytest's own code says only whether the tests that ran passed; a row that was to run and
    # did not earn its points (skipped, stopped, a grader error) is not full marks.
    if exitstatus == pytest.ExitCode.OK and not ledger.complete_and_full:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    path = config.getoption("--results-json")
    if path:
        worker_session = config.stash.get(_SESSION, None)
        data = report.results_json(ledger.results, submission=str(submission_path(config)),
                                   seconds=time.monotonic() - config.stash[_STARTED],
                                   extra=_results_extra(config),
                                   load_failure=_load_failure(config), partial=ledger.partial,
                                   load_warning=worker_session.load_warning if worker_session else "")
        report.write_json_atomic(Path(path), data)


def _why_rows_did_not_run(session, exitstatus) -> str:
    """Why the session ended with rows that never ran (said in each such row)."""
    if session.shouldfail:
        return f"the run stopped early: {session.shouldfail} (-x/--maxfail)"
    if session.shouldstop:
        return f"the run stopped early: {session.shouldstop}"
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        return "the run was interrupted before this test"
    if exitstatus == pytest.ExitCode.INTERNAL_ERROR:
        return "the grading process failed (internal error) before this test"
    return "the run ended before this test"


def _load_failure(config) -> str:
    """One message for a submission that could not be imported at all (else "")."""
    worker_session = config.stash.get(_SESSION, None)
    failure = worker_session.load_failure if worker_session else None
    if failure is None:
        return ""
    # Only the grader's own "no submission at ..." is said bare; an error the submission raised
    # (a FileNotFoundError of a data file included) keeps its traceback, which shows the line.
    missing = not worker_session.submission.is_file()
    return f"{worker_session.submission.name} could not be loaded, so nothing was graded: " + (
        failure.error_message if missing else failure.failure_text())


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if _COULD_NOT_GRADE in config.stash:
        terminalreporter.write_sep("=", "nngrade")
        terminalreporter.write_line(f"could not grade: {config.stash[_COULD_NOT_GRADE]}", red=True)
        terminalreporter.write_line("This is a fault of the grading environment, not of the "
                                    "submission; nothing was scored.")
        return
    ledger = config.stash.get(_LEDGER, None)
    if ledger is None or config.option.collectonly:
        return
    terminalreporter.write_sep("=", "nngrade")
    worker_session = config.stash.get(_SESSION, None)
    terminalreporter.write_line(report.score_table(
        ledger.results, str(submission_path(config)), load_failure=_load_failure(config),
        partial=ledger.partial, load_warning=worker_session.load_warning if worker_session else ""))
    if worker_session is not None:
        terminalreporter.write_line(f"\nsandbox: {worker_session.mode.name}")
        if worker_session.mode.warning:
            terminalreporter.write_line(f"WARNING: {worker_session.mode.warning}", yellow=True)
