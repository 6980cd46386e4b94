"""What ``run_autograder`` does on Gradescope: grade the submission, and leave a valid
results.json whatever happens.

Gradescope's autograder specification (https://gradescope-autograders.readthedocs.io/en/latest/specs/)
runs ``/autograder/run_autograder`` as root, in ``/autograder``, once per submission, with the
student's files in ``/autograder/submission``, and reads ``/autograder/results/results.json``.
Without a valid file there the student sees only "The autograder failed to execute correctly".
Its defaults (its troubleshooting page): 768 MB of memory, half a virtual CPU, and a 10-minute
timeout past which the run is killed and the student gets 0 with no test shown.

So results.json is valid at every moment from the first lines on:

1. a fallback first: "could not grade: stopped before any result" (what Gradescope reads if it
   kills the run before the grader has written anything);
2. the submission is found as a batch finds one student's (``grader.batch.layouts``):
   ``solution.py``, or its one copy under another name (``Solution.py``, ``solution (1).py``)
   or one folder down, which is graded with a note. No such file, a notebook, two candidates, an
   empty or binary file, or a link: every row scores 0 and the output says what to fix
   (``grader.model.invalid``);
3. ``python -m grader grade`` grades it and writes results.json itself: after every test the file
   holds the results so far (status "incomplete"), at the end the whole ledger;
4. the grading has a wall-clock cap below Gradescope's timeout. At the cap pytest gets SIGINT (it
   ends the run and writes its ledger; the test that was running counts as not run); if it has
   not ended within the grace period, its whole process group is killed;
5. ``finish``: a grading that did not end normally (the cap, or a process killed, e.g. by the
   memory limit) keeps the scores of the tests that finished, and its top-level output and each
   test that did not run say what happened.

The student's code never runs in this process or in the grading process: the grader's sandbox
runs it under a user id of its own when the grader is root (``grader.isolation.sandbox``).

Environment, for the project's tests (Gradescope sets none of these): ``NNGRADE_AUTOGRADER_ROOT``
replaces ``/autograder``; ``NNGRADE_PARTS`` (``softmax,loss``) grades only those parts;
``NNGRADE_TIMEOUT_S`` replaces the timeout the zip was built for.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from grader import model
from grader.batch.engine import SINGLE_THREAD
from grader.batch.engine import budget_options as engine_budget_options
from grader.batch.student_files import SOURCE_NAME, examine_folder, misnamed_note
from grader.isolation.lifeline import die_with_parent
from grader.outputs import report
from grader.parts import UnknownParts, select_parts

ROOT_VARIABLE = "NNGRADE_AUTOGRADER_ROOT"
PARTS_VARIABLE = "NNGRADE_PARTS"
TIMEOUT_VARIABLE = "NNGRADE_TIMEOUT_S"
DEFAULT_ROOT = "/autograder"
GRADESCOPE_TIMEOUT_S = 600.0
"""Gradescope's default timeout of one run (10 minutes)."""

RESERVE_SHARE, RESERVE_MAX_S = 0.1, 60.0
"""Of the timeout, ``min(RESERVE_SHARE * timeout, RESERVE_MAX_S)`` is kept back from the grading:
half of it for pytest to write its ledger after SIGINT, the rest for this script's start and end
(a second or two) and Gradescope's own overhead. A 600 s timeout leaves the grading 540 s."""

ECHO_CHARS = 200_000
"""Characters of the grading's output echoed to stdout (Gradescope shows it to the staff only)."""

_SOURCE_ROOT = Path(__file__).resolve().parents[2]   # where ``python -m grader`` is this grader

# The ledger's words for a row whose test never started (grader/ledger.py, plugin._why_rows_did_not_run):
# those rows, and the table, get the cause this script knows instead.
_NEVER_STARTED = ("the run ended before this test", "the run was interrupted before this test")


@dataclass
class Ending:
    """How the grading process ended: ``returncode`` (negative: killed by that signal),
    ``timed_out`` (stopped at the cap, ``cap_s`` seconds), ``oom_kills`` (processes the kernel
    killed for memory in this machine's memory cgroup meanwhile)."""
    returncode: int
    timed_out: bool
    cap_s: float
    oom_kills: int = 0

    @property
    def normal(self) -> bool:
        """Whether the grader ended on its own with a verdict (0: full marks, 1: points lost)."""
        return not self.timed_out and self.returncode in (0, 1)

    def describe(self) -> str:
        if self.timed_out:
            return f"the grading ran past its time limit of {self.cap_s:.0f} s and was stopped"
        if self.oom_kills:
            return ("the grading machine ran out of memory: its memory limit killed a process of "
                    "the grading")
        if self.returncode < 0:
            try:
                name = signal.Signals(-self.returncode).name
            except ValueError:
                name = f"signal {-self.returncode}"
            cause = " (most likely the platform's memory limit)" if name == "SIGKILL" else ""
            return f"the grading process was killed by {name}{cause}"
        return f"the grading process ended with exit code {self.returncode}"


def grading_cap(timeout_s: float, elapsed_s: float) -> tuple[float, float]:
    """(the grading's wall-clock cap, the grace period after it) for a run of ``timeout_s`` of
    which ``elapsed_s`` are spent (see ``RESERVE_SHARE``)."""
    reserve = min(RESERVE_SHARE * timeout_s, RESERVE_MAX_S)
    return max(1.0, timeout_s - reserve - elapsed_s), reserve / 2


def find_submission(folder: Path) -> tuple[Path | None, str]:
    """(the file to grade, "") or (None, why the submission scores 0, for the student)."""
    if not folder.is_dir():
        return None, f"Your submission is empty: submit your code as {SOURCE_NAME}."
    source, problem = examine_folder(folder)
    if source is None:
        return None, problem
    relative = source.relative_to(folder)
    # A link could name one of the grader's own files, which this script (root) would grade and
    # quote in its diagnoses; Gradescope's uploads are plain files.
    steps = [folder.joinpath(*relative.parts[:i + 1]) for i in range(len(relative.parts))]
    if any(step.is_symlink() for step in steps):
        return None, (f"{relative.as_posix()} is a link, not a file: submit the file itself as "
                      f"{SOURCE_NAME}.")
    return source, ""


def oom_kills() -> int | None:
    """How many processes the kernel has killed for memory in this process's memory cgroup (a
    Docker container's, on Gradescope), or None where that cannot be read. cgroup v2 counts them
    in ``memory.events``, v1 in ``memory.oom_control`` (Linux 4.13 and later)."""
    candidates = []
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            candidates.append(Path("/sys/fs/cgroup") / path.lstrip("/") / "memory.events")
        elif "memory" in controllers.split(","):
            candidates.append(Path("/sys/fs/cgroup/memory") / path.lstrip("/") / "memory.oom_control")
    # In a container the mounts are often the container's own cgroup, whatever the path says.
    candidates += [Path("/sys/fs/cgroup/memory.events"), Path("/sys/fs/cgroup/memory/memory.oom_control")]
    for candidate in candidates:
        try:
            for entry in candidate.read_text().splitlines():
                key, _, value = entry.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            continue
    return None


def grading_command(source: Path, results: Path, parts: list[str], cap_s: float) -> list[str]:
    """``python -m grader grade`` of ``source``, writing ``results``: nothing reused from an
    earlier grading (``grader/reuse.py``), the CNN trainings one at a time."""
    command = [sys.executable, "-m", "grader", "grade", str(source), "--results-json", str(results)]
    if parts:
        command += ["--parts", ",".join(parts)]
    # The CPU budgets must run out before the cap does: a submission's slowness is its verdict.
    command += engine_budget_options(parts, cap_s)
    # Half a CPU has no second core for the CNN trainings to overlap the numpy parts on.
    command.append("--one-at-a-time")
    return command


def run_grading(source: Path, results: Path, parts: list[str], cap_s: float, grace_s: float,
                log_path: Path) -> Ending:
    """Run ``python -m grader grade`` on ``source`` with its output in ``log_path``, stopping it at
    ``cap_s`` seconds: SIGINT to the grading (so that it writes its ledger), then after ``grace_s``
    SIGKILL to the whole process group."""
    command = grading_command(source, results, parts, cap_s)
    # Half a virtual CPU: one thread each for torch, BLAS and OpenMP, as in a batch.
    environment = {**os.environ, **SINGLE_THREAD}
    timed_out = False
    kills_before = oom_kills()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=_SOURCE_ROOT, env=environment, stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                   preexec_fn=die_with_parent())
        try:
            process.wait(timeout=cap_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            # `python -m grader grade` grades in its own process (grader/session.py): SIGINT ends
            # the grading there, and the rows that had not run are written as not run.
            try:
                os.kill(process.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
            try:
                process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                pass
        finally:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            process.wait()
    kills_after = oom_kills()
    killed = kills_after - kills_before if None not in (kills_before, kills_after) else 0
    return Ending(process.returncode, timed_out, cap_s, killed)


def fallback_results(submission: str) -> dict:
    """What results.json says until the grader writes: nothing was graded, through no fault of the
    student's (no score, like any "could not grade")."""
    return report.could_not_grade_results(
        "the grading was stopped before it wrote any result (by the platform's time or memory "
        "limit, or a fault of the grading machine)", submission, {"stage": "run_autograder fallback"})


def finish(grading: model.Grading | None, ending: Ending, *, submission: str, seconds: float,
           note: str, log_tail: str) -> model.Grading:
    """The grading to leave, from the model the grader wrote (None when it wrote none) and how
    the grading process ended."""
    if grading is None:
        # The grading's output is the staff's (it may name hidden tests): the runner's data only.
        return model.could_not_grade(f"{ending.describe()} before any test had finished", submission,
                                     platform={"stage": "run_autograder", "output_tail": log_tail})
    if grading.status == model.COULD_NOT_GRADE:
        return grading   # the grader's own verdict on the environment, with its reason
    headlines = [note] if note else []
    if not ending.normal or grading.status != model.GRADED:
        cause = ending.describe()
        stopped = 0
        for test in grading.tests():
            if test.status == model.NOT_RUN and test.message in _NEVER_STARTED:
                test.message = f"{cause} before this test"
                stopped += 1
        # A grading stopped after its last test (the ledger written, every test run) is whole.
        if stopped or grading.status != model.GRADED:
            finished = len(grading.tests()) - stopped
            headlines.append(f"The grading did not finish: {cause}. The {finished} tests that had "
                             f"finished keep their scores; the {stopped} that did not run count 0.")
            grading.status, grading.reason = model.INCOMPLETE, cause
    if ending.normal and ending.oom_kills:
        # The sandbox's own memory limits are above a small platform's: the kernel killed a
        # worker for memory, which its test reports as the submission's process being killed.
        headlines.insert(1 if note else 0, (
            f"Note: the grading machine ran out of memory during this grading ({ending.oom_kills} "
            "process(es) killed for memory); a test that says your code's process was killed may "
            "have hit that limit. Please tell the course staff."))
        grading.platform["oom_kills"] = ending.oom_kills
    if headlines:
        grading.notes["headline"] = "\n\n".join(headlines)
    grading.seconds = seconds
    return grading


def write(results: Path, grading: model.Grading) -> dict:
    """Write ``grading`` and its rendering, results.json (the model first); return the latter."""
    data = report.results_json(grading)
    model.write(model.grading_path(results), grading)
    report.write_json_atomic(results, data)
    return data


def _echo(log_path: Path) -> str:
    """Print the grading's output (the staff's score table), at most ``ECHO_CHARS`` of it; return
    its last lines for a reason."""
    try:
        text = log_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    if len(text) > ECHO_CHARS:
        half = ECHO_CHARS // 2
        text = f"{text[:half]}\n... ({len(text) - ECHO_CHARS} characters left out) ...\n{text[-half:]}"
    print(text, flush=True)
    return " ".join(text.split())[-1500:] or "(no output)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run_autograder", description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=GRADESCOPE_TIMEOUT_S,
                        help="the assignment's Gradescope timeout, seconds")
    args = parser.parse_args(argv)
    started = time.monotonic()
    timeout_s = float(os.environ.get(TIMEOUT_VARIABLE) or args.timeout)
    root = Path(os.environ.get(ROOT_VARIABLE) or DEFAULT_ROOT)
    folder, results = root / "submission", root / "results" / "results.json"
    report.write_json_atomic(results, fallback_results(str(folder / SOURCE_NAME)))
    try:
        named = os.environ.get(PARTS_VARIABLE, "")
        parts = list(select_parts(named)) if named.strip() else []
    except UnknownParts as error:   # the course's configuration, never the student's
        report.write_json_atomic(results, report.could_not_grade_results(
            f"{PARTS_VARIABLE}: {error}", str(folder / SOURCE_NAME), {"stage": "run_autograder"}))
        print(f"nngrade: could not grade: {PARTS_VARIABLE}: {error}")
        return 0
    source, problem = find_submission(folder)
    if source is None:
        write(results, model.invalid(problem, parts, str(folder / SOURCE_NAME)))
        print(f"nngrade: not graded, scored 0: {problem}")
        return 0
    shown = source.relative_to(folder).as_posix()
    note = misnamed_note(shown)
    cap_s, grace_s = grading_cap(timeout_s, time.monotonic() - started)
    with tempfile.TemporaryDirectory(prefix="nngrade-gradescope-") as scratch:
        log_path = Path(scratch) / "grading.log"
        ending = run_grading(source, results, parts, cap_s, grace_s, log_path)
        tail = _echo(log_path)
    grading = finish(model.read(model.grading_path(results)), ending, submission=str(source),
                     seconds=time.monotonic() - started, note=note, log_tail=tail)
    data = write(results, grading)
    print(f"nngrade: {grading.status}; score {data.get('score', '-')} / {data.get('max_score', '-')}; "
          f"{ending.describe() if not ending.normal else 'the grading ended normally'}; "
          f"grader in {_SOURCE_ROOT}; wall-clock cap {cap_s:.0f} s of a {timeout_s:g} s timeout")
    return 0


if __name__ == "__main__":
    sys.exit(main())
