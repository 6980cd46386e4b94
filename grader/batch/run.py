"""``python -m grader batch``: grade a class, resumably, and write what the TA needs.

The order of work, and why:

1. Read the roster (``layouts``). A folder that is no known layout is an error before anything
   is graded or written.
2. For each student, decide from OUTDIR alone whether a grading is needed: a result on disk whose
   fingerprint (the file's bytes, the parts and the grader's own sources) matches, and that is
   not "not graded", is kept.
   So a re-run after Ctrl-C or SIGKILL grades only what was not finished, and ``--force``
   grades everything again. The scheduler keeps no state that resuming needs.
3. Grade each distinct file once (a Gradescope group's members share one file), on the chosen
   engine. As each grading finishes, its students' ``results/<student>.json`` and feedback are
   written at once, atomically: a killed batch loses only the gradings that were running.
4. Write ``grades.csv`` and ``summary.html`` from the results on disk, atomically, also after an
   interruption (students not reached are listed as not graded).

Exit codes: 0 every student graded (a bad submission counts as graded, with 0); 2 some student
could not be graded (the machine's fault; re-run), or the input is no known layout; 130 when
interrupted.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from grader.batch import engine as grading
from grader.batch.feedback import feedback_html, feedback_markdown
from grader.batch.gradebook import write_grades_csv
from grader import model as result_model
from grader.batch.records import GRADED, INVALID, NOT_GRADED, StudentRecord, invalid_grading
from grader.batch.summary import summary_html
from grader.outputs.report import suite_hash, write_json_atomic, write_text_atomic
from grader.rubric import DEFAULT_PARTS, PARTS

INTERRUPTED = ("the batch was interrupted before this student's grading finished; "
               "run the same command again to grade them")


@dataclass
class BatchOptions:
    submissions: Path
    out: Path
    jobs: int = 0                    # 0: one grading per core
    parts: list = field(default_factory=list)   # [] = every part
    force: bool = False
    engine: str = "local"            # "local" or "dask"
    scheduler: str | None = None     # tcp://host:port of a running Dask scheduler
    assignment: str | None = None    # nbgrader: the assignment to grade when there are several
    cap_s: float | None = None       # None: engine.default_cap_s of the parts
    progress: bool = True


def default_jobs() -> int:
    """One grading per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


class Batch:
    """One batch run: the roster, OUTDIR, and the records as they are decided."""

    def __init__(self, options: BatchOptions, roster):
        self.options = options
        self.roster = roster
        self.out = options.out
        self.parts = [p for p in PARTS if p in options.parts] if options.parts else list(DEFAULT_PARTS)
        self.records: dict[str, StudentRecord] = {}
        self.counts: Counter = Counter()

    def result_path(self, student: str) -> Path:
        return self.out / "results" / f"{student}.json"

    def grading_path(self, student: str) -> Path:
        return self.out / "gradings" / f"{student}.json"

    def saved(self, student: str) -> StudentRecord | None:
        """The record of ``student`` stored in OUTDIR by an earlier run, if any can be read (a
        record without its model, from an older nngrade, is graded again)."""
        try:
            results = json.loads(self.result_path(student).read_text())
            batch = results["extra_data"]["nngrade"]["batch"]
            grading = None
            if batch["status"] != NOT_GRADED:
                grading = json.loads(self.grading_path(student).read_text())
                result_model.Grading.from_json(grading)
            return StudentRecord(student=student, name=batch.get("name", ""), status=batch["status"],
                                 reason=batch.get("reason", ""), grading=grading,
                                 seconds=float(batch.get("seconds", 0.0)),
                                 sha256=batch.get("fingerprint", ""), source=batch.get("source", ""),
                                 parts=list(batch.get("parts", [])))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def store(self, record: StudentRecord, members: list[str]) -> None:
        """Write ``record``'s model, its results.json and its feedback to OUTDIR (each file
        atomically; the model first, since a results file without it is graded again)."""
        if record.grading is not None and record.status != NOT_GRADED:
            write_json_atomic(self.grading_path(record.student), record.grading)
        else:
            self.grading_path(record.student).unlink(missing_ok=True)
        results = record.results()
        extra = dict(results.get("extra_data") or {})
        extra["nngrade"] = {**(extra.get("nngrade") or {}), "batch": {
            "student": record.student, "name": record.name, "status": record.status,
            "reason": record.reason, "fingerprint": record.sha256, "parts": record.parts,
            "source": record.source, "members": members, "seconds": round(record.seconds, 3)}}
        results["extra_data"] = extra
        write_json_atomic(self.result_path(record.student), results)
        self.write_feedback(record)
        self.records[record.student] = record
        self.counts[_kind(record)] += 1

    def write_feedback(self, record: StudentRecord) -> None:
        write_text_atomic(self.out / "feedback" / f"{record.student}.md", feedback_markdown(record))
        write_text_atomic(self.out / "feedback" / f"{record.student}.html", feedback_html(record))

    def finish(self) -> list[StudentRecord]:
        """Every roster student's record (unreached ones as not graded), written to the gradebook
        and the class report."""
        records = []
        for submission in self.roster.submissions:
            record = self.records.get(submission.student) or StudentRecord(
                student=submission.student, name=submission.name, status=NOT_GRADED,
                reason=INTERRUPTED, source=_relative(submission.source, self.roster.root))
            records.append(record)
        write_grades_csv(self.out / "grades.csv", records, self.parts)
        write_text_atomic(self.out / "summary.html",
                          summary_html(records, title=f"nngrade: {self.options.submissions.name}",
                                       layout=self.roster.layout, parts=self.parts))
        return records


def _kind(record: StudentRecord) -> str:
    """The progress bar's class of a record: full, partial, zero or not graded."""
    if record.status == NOT_GRADED:
        return "not graded"
    score, top = record.score or 0.0, record.max_score or 0.0
    return "full" if top and score >= top else ("zero" if score == 0 else "partial")


def _relative(path: Path | None, root: Path) -> str:
    if path is None:
        return ""
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


def run_batch(options: BatchOptions) -> int:
    from grader.batch.layouts import LayoutError, open_roster

    if not options.submissions.exists():
        print(f"nngrade batch: {options.submissions} does not exist", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="nngrade-roster-") as scratch:
        try:
            roster = open_roster(options.submissions, Path(scratch), assignment=options.assignment)
        except LayoutError as error:
            print(f"nngrade batch: {error}", file=sys.stderr)
            return 2
        return _grade_roster(options, roster)


def _grade_roster(options: BatchOptions, roster) -> int:
    batch = Batch(options, roster)
    options.out.mkdir(parents=True, exist_ok=True)
    jobs: dict[str, grading.Job] = {}
    members: dict[str, list] = {}       # fingerprint -> the roster entries graded by that job
    kept = 0
    grader = suite_hash()
    for submission in roster.submissions:
        source = _relative(submission.source, roster.root)
        if submission.source is None:
            record = StudentRecord(student=submission.student, name=submission.name, status=INVALID,
                                   reason=submission.problem,
                                   grading=invalid_grading(submission.problem, batch.parts),
                                   parts=batch.parts, source=source)
            batch.store(record, submission.members)
            continue
        data = Path(submission.source).read_bytes()
        key = grading.fingerprint(data, batch.parts, grader)
        previous = None if options.force else batch.saved(submission.student)
        if previous and previous.sha256 == key and previous.status == GRADED:
            batch.records[submission.student] = previous
            batch.counts[_kind(previous)] += 1
            kept += 1
            continue
        jobs.setdefault(key, grading.Job(key=key, data=data, parts=batch.parts))
        members.setdefault(key, []).append(submission)
    to_grade = sum(len(entries) for entries in members.values())
    print(f"nngrade batch: found {roster.layout} with {len(roster.submissions)} students in "
          f"{roster.root}: {to_grade} to grade ({len(jobs)} distinct files), {kept} unchanged since "
          f"an earlier run, {_invalid(batch)} not gradable "
          f"as code", file=sys.stderr)

    bar = _progress(to_grade, options.progress)

    def done(job: grading.Job, outcome: dict) -> None:
        for submission in members[job.key]:
            batch.store(StudentRecord(
                student=submission.student, name=submission.name, status=outcome["status"],
                reason=outcome["reason"], grading=outcome["grading"], seconds=outcome["seconds"],
                sha256=job.key, source=_relative(submission.source, roster.root),
                parts=batch.parts), submission.members)
        if bar is not None:
            bar.set_postfix({k: batch.counts[k] for k in ("full", "partial", "zero", "not graded")})
            bar.update(len(members[job.key]))

    workers = options.jobs or default_jobs()
    started = time.monotonic()
    interrupted = False
    try:
        if options.engine == "dask":
            from grader.batch.dask_engine import run_dask

            run_dask(list(jobs.values()), workers=workers, cap_s=options.cap_s,
                     scheduler=options.scheduler, on_done=done)
        else:
            grading.run_local(list(jobs.values()), workers=workers, cap_s=options.cap_s, on_done=done)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if bar is not None:
            bar.close()
        records = batch.finish()
    not_graded = [r for r in records if r.status == NOT_GRADED]
    print(f"nngrade batch: {len(records)} students in {time.monotonic() - started:.0f} s: "
          f"{batch.counts['full']} full marks, {batch.counts['partial']} partial, "
          f"{batch.counts['zero']} zero, {len(not_graded)} not graded; wrote {options.out}/grades.csv, "
          "summary.html, results/ and feedback/", file=sys.stderr)
    for record in not_graded:
        print(f"  not graded: {record.student}: {record.reason}", file=sys.stderr)
    if interrupted:
        return 130
    return 2 if not_graded else 0


def _invalid(batch: Batch) -> int:
    return sum(1 for r in batch.records.values() if r.status == INVALID)


def _progress(total: int, enabled: bool):
    if not enabled or total == 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="student", desc="grading", file=sys.stderr, dynamic_ncols=True)
