"""The pytest plugin behind ``pytest grader``: a thin adapter over the grading session.

``grader/conftest.py`` loads it. ``grader/test_rubric.py`` makes one pytest item per rubric row
(``grader/parts/pytest_items.py``); pytest's selection (``--parts``, ``-k``, a
file) decides which rows run. When collection ends the plugin opens a ``GradingSession``
(``grader/session.py``) on the selected rows, and each item's call is the session's grading of
its row: the item passes, fails with the diagnosis as its message, is skipped, or errs (a fault
of the grader) as the session's verdict says. After the run, the session's score table is
printed and, with ``--results-json``, results.json is written.

The grader runs in one process: with pytest-xdist (``-n``) each worker would keep its own
ledger and the controller, which prints the table and writes results.json, would see none of
it, so ``-n`` is refused.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from grader import command_line
from grader import session as grading
from grader.isolation import sandbox
from grader.isolation.worker import CouldNotGrade
from grader.outputs import report
from grader.parts import PARTS, UnknownParts, select_parts
from grader.rubric import BY_TEST, RUBRIC
from grader.verdicts.scoring import GradeFailure, GraderError

_SESSION = pytest.StashKey[grading.GradingSession]()
_SELECTED_PARTS = pytest.StashKey[tuple]()
_COULD_NOT_GRADE = pytest.StashKey[str]()


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
    group.addoption("--fresh", action="store_true", default=False,
                    help="train the CNNs again even when nothing that decides their verdict "
                         "changed since the last run (by default that verdict is reused)")


def submission_path(config) -> Path:
    return command_line.submission_path(config.getoption("--submission"), config.rootpath)


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
    # Hypothesis's pytest plugin (installed with the test extra) imports all of hypothesis at the
    # end of every session, 0.7 s here, whether or not a test used it; the rubric has none.
    config.pluginmanager.set_blocked("hypothesispytest")
    # The references do small float64 work; one thread is as fast and cannot oversubscribe the
    # cores when several graders (or the worker beside us) run at once.
    torch.set_num_threads(1)
    # The diagnosis is the failure message; pytest's traceback through grader code would bury it.
    arguments = [str(arg) for arg in config.invocation_params.args]
    if not any(arg.startswith("--tb") for arg in arguments):
        config.option.tbstyle = "no"
    if not any(arg.startswith("-r") for arg in arguments):
        config.option.reportchars = "N"  # the score table below already lists every failure




def options_of(config) -> grading.GradingOptions:
    """The grading's options from pytest's command line (parts: ``_SELECTED_PARTS``)."""
    scale = config.getoption("--budget-scale") or 1.0
    if not scale > 0:
        raise pytest.UsageError(f"--budget-scale must be a positive number, not {scale}")
    return grading.GradingOptions(
        submission=submission_path(config), parts=config.stash.get(_SELECTED_PARTS, ()),
        results_json=config.getoption("--results-json"),
        call_timeout_s=config.getoption("--call-timeout"),
        load_timeout_s=config.getoption("--load-timeout"), budget_scale=scale,
        sandbox=config.getoption("--sandbox"),
        # The student's own runs reuse a CNN verdict nothing changed (grader/reuse.py); a run
        # that writes results.json for a platform does not.
        reuse=(grading.NEVER if config.getoption("--results-json")
               else grading.FRESH if config.getoption("--fresh") else grading.REUSE))


def _graded(item) -> bool:
    return bool(getattr(getattr(item, "obj", None), "nngrade_graded", False))


def pytest_collection_modifyitems(session, config, items):
    unknown = sorted(item.name for item in items if _graded(item) and item.name not in BY_TEST)
    if unknown:
        raise pytest.UsageError(f"tests without a rubric row: {', '.join(unknown)}")
    # Run in the order of the parts. A part's own tests then come before the tests that replace
    # it by the reference, so fewer workers have to be replaced (see Session.call).
    part_order = {part: index for index, part in enumerate(PARTS)}
    row_order = {row.test: index for index, row in enumerate(RUBRIC)}
    items.sort(key=lambda item: (part_order[BY_TEST[item.name].part], row_order[item.name])
               if item.name in BY_TEST else (len(PARTS), 0))
    try:
        wanted = select_parts(config.getoption("--parts"), config.getoption("--experiments"))
    except UnknownParts as error:
        raise pytest.UsageError(str(error)) from None
    # An opt-in part that was not asked for is not "not selected" in the table: it is simply
    # not part of this grading, like a part the assignment does not have.
    config.stash[_SELECTED_PARTS] = wanted
    deselected = [item for item in items if _graded(item) and BY_TEST[item.name].part not in wanted]
    if deselected:
        items[:] = [item for item in items if item not in deselected]
        config.hook.pytest_deselected(items=deselected)


def pytest_collection_finish(session):
    """Open the grading session once every selection (``--parts``, then pytest's own) is final:
    its ledger, the numpy-only verdicts and the preflight, before any graded test."""
    config = session.config
    if _SELECTED_PARTS not in config.stash or config.option.collectonly:
        return  # collection failed before the grader's hook ran (pytest reports why), or -co
    grading_session = grading.GradingSession(options_of(config))
    config.stash[_SESSION] = grading_session
    tests = {item.name for item in session.items if _graded(item)}
    try:
        grading_session.open(tests, _selection(config))
    except GraderError as error:
        raise pytest.UsageError(f"grader error: {error}") from None
    except CouldNotGrade as error:
        _stop_could_not_grade(config, str(error))


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


def _stop_could_not_grade(config, reason: str):
    """Stop the run: exit code 2, "could not grade", and no part scored (see
    pytest_sessionfinish and pytest_terminal_summary)."""
    config.stash[_COULD_NOT_GRADE] = reason
    pytest.exit(f"could not grade: {reason.splitlines()[0]}", returncode=2)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """A graded item's call: the session grades its row, and the item's outcome is the row's."""
    if not _graded(pyfuncitem):
        return None
    grading_session = pyfuncitem.config.stash.get(_SESSION, None)
    if grading_session is None:
        raise GraderError("the grading session was not opened (collection did not finish)")
    try:
        result = grading_session.run(pyfuncitem.name)
    except CouldNotGrade as error:
        # a worker that could not be started later in the run, when none of the submission had
        # run: no zero and no failure for the environment
        _stop_could_not_grade(pyfuncitem.config, str(error))
    if result.status == report.FAILED:
        raise GradeFailure(result.message)
    if result.status == report.ERROR:
        raise GraderError(f"{result.message}\n{result.details}")
    if result.status == report.NOT_RUN:
        pytest.skip(result.message)
    return True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A graded item that pytest skipped before its call (a skip mark) keeps its row, not run."""
    test_report = yield
    grading_session = item.config.stash.get(_SESSION, None)
    if (test_report.skipped and call.when == "setup" and _graded(item)
            and grading_session is not None and grading_session.ledger is not None):
        reason = (test_report.longrepr[2] if isinstance(test_report.longrepr, tuple)
                  else str(test_report.longrepr))
        grading_session.skipped(item.name, reason)
    return test_report


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
    return grading.ENDED_EARLY


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    grading_session = config.stash.get(_SESSION, None)
    if _COULD_NOT_GRADE in config.stash:   # no part is scored, not even as "not run"
        if grading_session is None:
            grading_session = grading.GradingSession(options_of(config))
        grading_session.could_not_grade(config.stash[_COULD_NOT_GRADE])
        grading_session.close()
        return
    if grading_session is None or grading_session.ledger is None:
        return
    grading_session.finish(_why_rows_did_not_run(session, exitstatus))
    grading_session.close()
    # pytest's own code says only whether the tests that ran passed; a row that was to run and
    # did not earn its points (skipped, stopped, a grader error) is not full marks.
    if exitstatus == pytest.ExitCode.OK and not grading_session.ledger.complete_and_full:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if _COULD_NOT_GRADE in config.stash:
        terminalreporter.write_sep("=", "nngrade")
        terminalreporter.write_line(f"could not grade: {config.stash[_COULD_NOT_GRADE]}", red=True)
        terminalreporter.write_line("This is a fault of the grading environment, not of the "
                                    "submission; nothing was scored.")
        return
    grading_session = config.stash.get(_SESSION, None)
    if grading_session is None or grading_session.ledger is None:
        return
    terminalreporter.write_sep("=", "nngrade")
    terminalreporter.write_line(grading_session.score_table())
    for number, line in enumerate(grading_session.sandbox_lines()):
        terminalreporter.write_line(("\n" if number == 0 else "") + line, yellow=number > 0)
