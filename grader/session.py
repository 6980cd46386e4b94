"""The grading session: grade one submission's rubric rows, with or without pytest.

A ``GradingSession`` owns what one grading needs: the ledger of the selected rows
(``grader/ledger.py``), the worker session that runs the student's code in its sandbox
(``grader/isolation/worker.py``), the numpy-only verdicts read from the source, and the scorer of
each row. It calls each row's procedure (``grader/parts``), turns what happened into the row's
``TestResult``, and turns the ledger into the result model (``grader/model.py``), which the
score table and results.json render.

- ``grade(options)`` grades every selected row in order: ``python -m grader grade``, the batch's
  grading processes, Gradescope's runner and nbgrader's kernel helper use it.
- ``pytest grader`` runs the same session through its plugin (``grader/plugin.py``), which makes
  pytest items of the rubric rows and reports each row's verdict as the item's outcome.

Nothing of one grading outlives it: ``close`` ends the worker; a process that grades many
submissions (the batch's) makes a new session, and so a fresh sandboxed worker, for each.
"""
from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grader import causes, reuse, tolerances
from grader import model as grading_model
from grader.isolation import sandbox, warm
from grader.isolation.worker import CouldNotGrade, Limits, Session
from grader.ledger import Ledger
from grader.outputs import report
from grader.parts import GRADER_RUNS_STUDENT_WORK, PROCEDURE_ARGUMENTS, procedure_of, select_parts
from grader.rubric import BY_NAME as BY_NAME_PART
from grader.rubric import BY_TEST, NUMPY_ONLY_PARTS, RUBRIC
from grader.verdicts import numpy_only, styles
from grader.verdicts.rules import SourceError, read_source
from grader.verdicts.scoring import GradeFailure, GraderError, NotGraded, Scorer
from grader.verdicts.substitutes import CallbackLog

USES_METERED_CHILD = frozenset({"mnist_cnn", "cats_dogs_cnn", "experiments"})
"""Parts whose tests run rebuilt networks in the grader's metered child (``networks/metered.py``;
``batchnorm2d`` replays its layer in the grader itself)."""

ENDED_EARLY = "the run ended before this test"

NEVER, REUSE, FRESH = "never", "reuse", "fresh"
"""``GradingOptions.reuse`` (``grader/reuse.py``)."""

AHEAD_LANES = 2
"""Metered children that run an interactive grading's trainings started ahead side by side (at
most one per core; Part 4 starts two: ``grader/networks/ahead.py``)."""


def _part_hook(row, name: str):
    """What ``row``'s part module declares for its test in its table ``name`` (``AHEAD``,
    ``REUSE``), or None."""
    return getattr(importlib.import_module(BY_NAME_PART[row.part].module_name), name, {}).get(row.test)


def rng_for(test_name: str) -> np.random.Generator:
    """The generator of a row's inputs, seeded from the suite seed and the row's name."""
    digest = sum(ord(c) * (i + 1) for i, c in enumerate(test_name))
    return np.random.default_rng([report.SUITE_SEED, digest])


@dataclass(frozen=True)
class GradingOptions:
    submission: Path
    parts: tuple[str, ...] = ()            # the selected parts (``select_parts``); () = default
    results_json: Path | None = None       # also write Gradescope's results.json here
    call_timeout_s: float | None = None    # CPU s one call may take (default: Limits')
    load_timeout_s: float | None = None    # s importing the submission may take
    budget_scale: float = 1.0              # multiplies every CPU budget and the idle allowance
    sandbox: str = "auto"                  # a sandbox.MODES name, or auto: the strongest here
    ahead: bool = True                     # start the CNN trainings at the start, beside the
    #                                        other parts (grader/networks/ahead.py); a batch's
    #                                        gradings and Gradescope's half CPU run one at a time
    reuse: str = "never"                   # the student's own re-runs (grader/reuse.py): "reuse"
    #                                        a kept verdict when nothing deciding it changed, and
    #                                        keep new ones; "fresh": keep, never reuse; "never"

    def __post_init__(self):
        object.__setattr__(self, "submission", Path(self.submission).expanduser().resolve())
        object.__setattr__(self, "parts", select_parts(self.parts))
        if self.results_json is not None:
            object.__setattr__(self, "results_json", Path(self.results_json).expanduser().resolve())
        if not self.budget_scale > 0:
            raise ValueError(f"the budget scale must be a positive number, not {self.budget_scale}")


class GradingSession:
    """One grading of one submission. ``open``, then ``run`` each row (in rubric order), then
    ``finish``; or ``could_not_grade``. ``close`` always."""

    def __init__(self, options: GradingOptions):
        self.options = options
        self.started = time.monotonic()
        self.callback_log = CallbackLog()
        self.ledger: Ledger | None = None
        self.worker: Session | None = None
        self._style: styles.Style | None = None
        self._numpy_only: dict[str, str] | None = None
        self._reproducibility: dict | None = None
        self._reuse_keys: dict[str, str | None] = {}
        self.rows_done = 0
        self.could_not_grade_reason = ""

    # ---- the rows --------------------------------------------------------------------------

    @property
    def rows(self) -> list:
        return [row for row in RUBRIC if row.part in self.options.parts]

    def open(self, tests: set[str] | None = None, selection: str = "") -> None:
        """Enter every row of the selected parts in the ledger (``tests``: those that will run,
        default all; ``selection``: what left the others out), check each has a procedure, read
        the numpy-only verdicts, and run the preflight. Raises ``CouldNotGrade`` when the
        environment cannot grade, ``GraderError`` for a row without a procedure."""
        names = {row.test for row in self.rows} if tests is None else set(tests)
        missing, unchecked = [], []
        for row in self.rows:
            if row.test in names:
                try:
                    procedure, _ = procedure_of(row.part, row.test)
                except KeyError:
                    missing.append(row.test)
                    continue
                if "grade" not in inspect.signature(procedure).parameters:
                    unchecked.append(row.test)
        if missing:
            raise GraderError(f"rubric rows without a procedure: {', '.join(missing)}")
        # A procedure that cannot record a check could never lose a point: a grader bug, refused
        # before anything runs (one that takes ``grade`` but makes no check errs at run time).
        if unchecked:
            raise GraderError(f"graded tests that do not take the grade fixture, so no check of "
                              f"theirs could cost a point: {', '.join(unchecked)}")
        self.ledger = Ledger(self.rows, names, selection or "this run's selection")
        if not names:
            return
        if set(self.options.parts) & set(NUMPY_ONLY_PARTS):
            self.numpy_only_verdicts()   # read before any of the submission runs
        # The grading's own session: in bubblewrap mode its warm sandbox, started here, forks
        # the preflight's worker and then every worker of the grading.
        self.worker_session().preflight()
        selected = {row.part for row in self.rows if row.test in names}
        if GRADER_RUNS_STUDENT_WORK & selected:
            # Their captures make a torch optimizer or trace with make_fx in the worker, which
            # imports torch._dynamo (0.9 s). A warm sandbox made for these parts imported it
            # before its first fork (``warm.preloads_for``); one made for a narrower selection
            # imports it while it is idle.
            self.worker_session().preload(["torch._dynamo"])
        if self.options.ahead and USES_METERED_CHILD & selected:
            # The grader's metered child imports torch while the first parts are graded (a
            # training reused from an earlier run still needs it for the other tests).
            self.worker_session().network_runner().spawn()
        if self.options.ahead:
            self.start_runs_ahead(names)

    def start_runs_ahead(self, tests: set[str]) -> None:
        """Start the runs the selected ``tests`` declare they can start ahead (a part module's
        ``AHEAD``, ``grader/networks/ahead.py``): the CNN parts' trainings then run beside the
        other parts. What a plan costs (the network's capture) is charged to its part, as in its
        test; a plan that fails starts nothing (the test itself then says why)."""
        for row in self.rows:
            if row.test not in tests:
                continue
            plan = _part_hook(row, "AHEAD")
            if plan is None or self.reused(row) is not None:
                continue
            planned = self._ask(row, plan)
            if planned is not None:
                task, arguments = planned
                self.worker.start_network_task(row.part, task, **arguments)

    def _ask(self, row, hook):
        """``hook(worker, scorer)`` of ``row``'s part module (``AHEAD``, ``REUSE``), its cost
        charged to the part as in its test; None when it fails (the test then says why). A
        worker that cannot start is the environment's: ``CouldNotGrade`` goes on."""
        worker = self.worker_session()
        worker.begin_part_test(row.part, row.part in GRADER_RUNS_STUDENT_WORK)
        try:
            return hook(worker, Scorer())
        except CouldNotGrade:
            raise
        except Exception:   # noqa: BLE001 - a capture that fails: its test says why
            return None
        finally:
            worker.end_part_test()

    def reused(self, row) -> report.TestResult | None:
        """The verdict an earlier run of this file kept for ``row``, when nothing that decides it
        has changed (``grader/reuse.py``; only when ``options.reuse`` is "reuse"), else None."""
        key = self._reuse_key(row)
        if key is None or self.options.reuse != REUSE:
            return None
        kept = self._verdicts().get(row.test, key)
        if kept is None:
            return None
        try:
            return report.TestResult(
                row, float(kept["fraction"]), str(kept["status"]), str(kept["message"]),
                notes=[*kept["notes"], reuse.reused_note(float(kept["since"]))],
                causes=[(str(c), str(t)) for c, t in kept["causes"]], checks=list(kept["checks"]))
        except (KeyError, TypeError, ValueError):
            return None

    def _reuse_key(self, row) -> str | None:
        """The key of ``row``'s verdict (``grader/reuse.py``), computed once per grading; None
        when the row's verdict is never reused, or what decides it cannot be read."""
        if self.options.reuse == NEVER:
            return None
        if row.test not in self._reuse_keys:
            decides, key = _part_hook(row, "REUSE"), None
            if decides is not None:
                decided = self._ask(row, decides)
                if decided is not None:
                    options = self.options
                    key = reuse.key_of(report.suite_hash(), row.test, decided, [
                        options.call_timeout_s, options.load_timeout_s, options.budget_scale,
                        self.limits_and_mode()[1].name])
            self._reuse_keys[row.test] = key
        return self._reuse_keys[row.test]

    def _verdicts(self) -> reuse.VerdictCache:
        return reuse.VerdictCache(self.options.submission)

    def _keep(self, result: report.TestResult) -> None:
        """Keep a reusable row's new verdict for the next run (``grader/reuse.py``)."""
        key = self._reuse_key(result.row)
        if key is None or result.status not in (report.PASSED, report.FAILED):
            return
        self._verdicts().put(result.row.test, key, {
            "fraction": result.fraction, "status": result.status, "message": result.message,
            "notes": list(result.notes), "causes": [list(c) for c in result.causes],
            "checks": list(result.checks)})

    def run(self, test: str) -> report.TestResult:
        """Grade one row; its result is entered in the ledger (and results.json, with the
        results so far). Raises ``CouldNotGrade`` when the environment fails midway."""
        row = BY_TEST[test]
        scorer = Scorer()
        started = time.monotonic()
        rule = self.numpy_only_verdicts().get(row.part) if row.part in NUMPY_ONLY_PARTS else None
        kept = None
        if rule is not None:
            # The numpy-only rule (rubric.NUMPY_ONLY_PARTS): the whole part scores 0 with the rule
            # as the reason; the procedure does not run (its framework code need not).
            result = report.TestResult(row, 0.0, report.FAILED, rule,
                                       causes=[(causes.NUMPY_ONLY.id, str(causes.NUMPY_ONLY))])
        else:
            kept = self.reused(row)
            result = kept or self._call(row, scorer)
            if result.status == report.FAILED and kept is None:
                result.causes = scorer.causes()
        result.seconds = time.monotonic() - started
        if kept is None:
            result.notes = list(scorer.notes)
            result.experiment = scorer.experiment
            result.checks = scorer.check_records()
            self._keep(result)
        self.ledger.fill(result)
        self.rows_done += 1
        self._write_progress()
        return result

    def _call(self, row, scorer: Scorer) -> report.TestResult:
        procedure, case = procedure_of(row.part, row.test)
        wanted = inspect.signature(procedure).parameters
        given = {"grade": lambda: scorer, "rng": lambda: rng_for(row.test),
                 "worker": self.worker_session, "style": self.style,
                 "callback_log": lambda: self.callback_log}
        arguments = {name: given[name]() for name in wanted if name in PROCEDURE_ARGUMENTS}
        worker = self.worker_session() if "worker" in arguments else self.worker
        if worker is not None:
            worker.begin_part_test(row.part, row.part in GRADER_RUNS_STUDENT_WORK)
        try:
            procedure(**arguments, **case)
        except GradeFailure as failure:
            return report.TestResult(row, scorer.fraction, report.FAILED, str(failure))
        except NotGraded as reason:
            return not_run(row, f"skipped ({reason})")
        except (CouldNotGrade, KeyboardInterrupt, SystemExit):
            raise
        except Exception as error:   # the grader's own fault: never the student's
            return grader_error(row, error)
        except BaseException as error:
            if type(error).__name__ == "Skipped":   # pytest.skip() in a procedure
                return not_run(row, f"skipped ({getattr(error, 'msg', '') or error})")
            raise
        finally:
            if worker is not None:
                worker.end_part_test()
        if not scorer.decided:
            return grader_error(row, GraderError(
                "this graded test made no check, so it cannot tell a right answer from a wrong "
                "one (a bug of the grader, never a pass)"))
        if scorer.failed:
            return report.TestResult(row, scorer.fraction, report.FAILED, scorer.message())
        return report.TestResult(row, scorer.fraction, report.PASSED, "")

    def skipped(self, test: str, reason: str) -> None:
        """A row that pytest skipped before its procedure ran (a mark): not run, saying why."""
        if test in self.ledger and not self.ledger.filled(test):
            self.ledger.fill(not_run(BY_TEST[test], f"skipped ({reason})"))
            self.rows_done += 1
            self._write_progress()

    def finish(self, why: str = ENDED_EARLY) -> dict:
        """End the grading: rows that never ran say ``why``; returns results.json's data (and
        writes it and the model, with ``results_json``)."""
        self.ledger.close(why)
        return self._write(self.grading())

    def grading(self, status: str = grading_model.GRADED, reason: str = "",
                partial: str = "") -> grading_model.Grading:
        """The ledger as the result model (``grader/model.py``): what every output renders."""
        worker = self.worker
        return grading_model.assemble(
            status, str(self.options.submission),
            [result.record() for result in self.ledger.results], reason=reason,
            seconds=time.monotonic() - self.started,
            notes={"partial": partial or self.ledger.partial, "load_failure": self.load_failure(),
                   "load_warning": worker.load_warning if worker else ""},
            limits=self.limits_record(), reproducibility=self.reproducibility(),
            sandbox=worker.record() if worker else {},
            restarts={"worker": worker.restarts if worker else 0,
                      "isolation": worker.isolation_restarts if worker else 0})

    def _write(self, grading: grading_model.Grading) -> dict:
        """Render ``grading`` as results.json's data; with ``results_json``, write both (the
        model first: a reader that finds results.json finds its model)."""
        data = report.results_json(grading)
        if self.options.results_json:
            grading_model.write(grading_model.grading_path(self.options.results_json), grading)
            report.write_json_atomic(self.options.results_json, data)
        return data

    def limits_record(self) -> dict:
        """The limits this grading ran under, as data (the grading model's ``limits``)."""
        limits, _ = self.limits_and_mode()
        part_budgets, grading_budget = self.budgets()
        return {"worker": dataclasses.asdict(limits), "budget_scale": self.options.budget_scale,
                "part_cpu_budgets_s": {part: seconds for part, seconds in part_budgets.items()
                                       if part in self.options.parts},
                "grading_cpu_budget_s": grading_budget}

    def budgets(self) -> tuple[dict[str, float], float]:
        """The CPU budgets of each part and of the whole grading, scaled (``budget_scale``)."""
        scale = self.options.budget_scale
        return ({part: scale * seconds for part, seconds in tolerances.PART_CPU_BUDGET_S.items()},
                scale * tolerances.grading_cpu_budget(self.options.parts))

    def could_not_grade(self, reason: str) -> dict:
        """Nothing is scored: the environment could not grade (never a 0 for the student)."""
        self.could_not_grade_reason = reason
        return self._write(grading_model.could_not_grade(
            reason, str(self.options.submission), reproducibility=self.reproducibility()))

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()

    # ---- what the procedures are given --------------------------------------------------

    def limits_and_mode(self) -> tuple[Limits, sandbox.Mode]:
        options = self.options
        overrides = {"call_timeout_s": options.call_timeout_s, "load_timeout_s": options.load_timeout_s}
        limits = Limits(**{k: v for k, v in overrides.items() if v})
        if options.budget_scale != 1.0:
            # The allowance for waiting scales with the CPU budgets: a platform whose cap is
            # small fits both under it (tolerances.budget_scale_for_cap).
            idle = options.budget_scale * limits.idle_budget_s
            limits = dataclasses.replace(limits, idle_budget_s=idle,
                                         call_idle_s=min(limits.call_idle_s, idle))
        try:
            mode = sandbox.choose_mode(options.sandbox)
        except ValueError as error:
            # A sandbox mode the grader does not know (--sandbox, NNGRADE_SANDBOX_MODE) is the
            # grading machine's configuration, never the student's: could not grade, no score.
            raise CouldNotGrade(f"the grader's configuration is invalid: {error}") from None
        except RuntimeError as error:  # the requested sandbox cannot run here
            raise CouldNotGrade(str(error)) from None
        return limits, mode

    def worker_session(self) -> Session:
        """The student's code in its own process, shared by the rows of this grading (restarted
        after a crash); made at the first row that calls into it."""
        if self.worker is None:
            limits, mode = self.limits_and_mode()
            worker = Session(self.options.submission, self.callback_log, limits, mode)
            worker.adapt = self.style().adapt
            worker.preloads = warm.preloads_for(self.options.parts)
            worker.part_budgets, worker.grading_budget_s = self.budgets()
            # An interactive grading's trainings run side by side, one core each (each still
            # single-threaded: the same numbers and charges as one at a time).
            worker.ahead_lanes = min(AHEAD_LANES, len(os.sched_getaffinity(0)))
            self.worker = worker
        return self.worker

    def style(self) -> styles.Style:
        """The template the submission was written for, read from its source (never run)."""
        if self._style is None:
            try:
                self._style = styles.detect(read_source(self.options.submission))
            except (OSError, ValueError):
                self._style = styles.Style()
        return self._style

    def numpy_only_verdicts(self) -> dict[str, str]:
        """``{part: message}`` for the numpy parts whose code reaches an automatic-differentiation
        framework (``grader/verdicts/numpy_only.py``), read once from the submission's source,
        here in the trusted process: what the worker says about itself is no evidence. A source
        that cannot be read or parsed breaks no rule here (the worker's load failure says what
        is wrong with it)."""
        if self._numpy_only is None:
            try:
                found = numpy_only.reaches(read_source(self.options.submission))
            except (OSError, SourceError):
                found = {}
            self._numpy_only = {part: numpy_only.verdict(reaches) for part, reaches in found.items()}
        return self._numpy_only

    # ---- what the outputs say ------------------------------------------------------------

    def reproducibility(self) -> dict:
        """The seeds, the suite's hash and the versions (computed once)."""
        if self._reproducibility is None:
            self._reproducibility = report.reproducibility()
        return self._reproducibility

    def load_failure(self) -> str:
        """One message for a submission that could not be imported at all (else "")."""
        failure = self.worker.load_failure if self.worker else None
        if failure is None:
            return ""
        # Only the grader's own "no submission at ..." is said bare; an error the submission
        # raised (a FileNotFoundError of a data file included) keeps its traceback, which shows
        # the line.
        missing = not self.worker.submission.is_file()
        return f"{self.worker.submission.name} could not be loaded, so nothing was graded: " + (
            failure.error_message if missing else failure.failure_text())

    def score_table(self) -> str:
        return report.score_table(self.grading())

    def sandbox_lines(self) -> list[str]:
        """What the table's reader should know of the sandbox that ran the code."""
        if self.worker is None:
            return []
        lines = [f"sandbox: {self.worker.mode.name}"]
        if self.worker.mode.warning:
            lines.append(f"WARNING: {self.worker.mode.warning}")
        return lines

    def _write_progress(self) -> None:
        """After each row, with ``results_json``: the results so far, so that a grading killed
        midway (a platform's time or memory limit) still leaves a valid file in which the
        finished rows keep their scores. It says ``status: "incomplete"``, which no reader takes
        for a finished grading (the batch treats it as not graded); ``finish`` replaces it."""
        if not self.options.results_json:
            return
        total = sum(1 for result in self.ledger.results if result.status != report.NOT_SELECTED)
        reason = (f"the grading process ended before it finished: {self.rows_done} of the {total} "
                  "tests had run; the others did not run and count 0")
        self._write(self.grading(grading_model.INCOMPLETE, reason,
                                 partial="; ".join(filter(None, [self.ledger.partial, reason]))))


def grader_error(row, error: BaseException) -> report.TestResult:
    """A row lost to a fault of the grader: one line for the student, the traceback for staff."""
    first_line = (str(error).strip().splitlines() or [""])[0][:300]
    summary = f"{type(error).__name__}{': ' + first_line if first_line else ''}"
    details = "".join(traceback.format_exception(error))
    return report.TestResult(row, 0.0, report.ERROR, summary, details=details,
                             causes=[(causes.GRADER_ERROR.id, str(causes.GRADER_ERROR))])


def not_run(row, why: str) -> report.TestResult:
    return report.TestResult(row, 0.0, report.NOT_RUN, why,
                             causes=[(causes.NOT_RUN.id, str(causes.NOT_RUN))])


@dataclass
class Graded:
    """What ``grade`` returns: the exit code (0 full marks, 1 points lost, 2 could not grade),
    the staff's score table and results.json's data."""
    code: int
    table: str
    results: dict


def grade(options: GradingOptions) -> Graded:
    """Grade every row of ``options.parts`` of ``options.submission``."""
    session = GradingSession(options)
    try:
        try:
            session.open()
            for row in session.rows:
                session.run(row.test)
        except CouldNotGrade as error:
            data = session.could_not_grade(str(error))
            table = (f"could not grade: {error}\nThis is a fault of the grading environment, not "
                     "of the submission; nothing was scored.")
            return Graded(2, table, data)
        except KeyboardInterrupt:
            # Rows that ran keep their scores; a grading stopped before its first row writes
            # nothing, so whoever stopped it says why no result came (never a 0 for the student).
            if session.ledger is not None and session.rows_done:
                session.finish("the run was interrupted before this test")
            raise
        data = session.finish()
        table = "\n".join([session.score_table(), "", *session.sandbox_lines()]).rstrip()
        return Graded(0 if session.ledger.complete_and_full else 1, table, data)
    finally:
        session.close()
