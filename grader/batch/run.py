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

Before step 2, the roster is checked against the gradebook OUTDIR already holds
(``roster.json``): the same students or more go on; some of them only are graded into it, the
others kept; another class, or other parts, is refused with nothing written. ``--student``
grades only the named students, the others staying as OUTDIR has them.

Exit codes: 0 every student graded (a bad submission counts as graded, with 0); 2 some student
could not be graded (the machine's fault; re-run), or the input is no known layout, or OUTDIR
holds another gradebook; 130 when interrupted (Ctrl-C), 143 and 129 for SIGTERM and SIGHUP,
after step 4 has written every output.
"""
from __future__ import annotations

import difflib
import json
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from grader.batch import engine as grading
from grader.batch.feedback import feedback_html, feedback_markdown
from grader.batch import lms
from grader.batch.gradebook import write_grades_csv
from grader import model as result_model
from grader.batch.records import GRADED, INVALID, NOT_GRADED, StudentRecord, invalid_grading
from grader.batch.summary import summary_html
from grader.outputs.artifacts import write_bytes_atomic
from grader.outputs.report import suite_hash, write_json_atomic, write_text_atomic
from grader.rubric import DEFAULT_PARTS, PARTS

INTERRUPTED = ("the batch was interrupted before this student's grading finished; "
               "run the same command again to grade them")
NOT_SELECTED = ("not graded yet: the run that wrote this gradebook regraded only the students "
                "named with --student; run the batch without --student to grade them")
UNREADABLE = ("this student's result in OUTDIR could not be read; run the batch on their "
              "submission again")
ROSTER_FILE = "roster.json"
"""OUTDIR's list of the students its gradebook holds, with the parts, layout and title: what a
later batch into the same OUTDIR is checked against (merge a subset, refuse another class)."""
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


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
    students: list = field(default_factory=list)   # --student: regrade only these ([] = all)
    exports: list = field(default_factory=list)    # --export: LMS formats (``lms.FORMATS``)
    lms_column: str = ""             # --lms-column: the grade column's title ("": as before)
    similarity: bool = True          # --no-similarity turns the similarity report off
    similarity_reference: Path | None = None   # --similarity-reference: known solutions


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
        self.others: list[StudentRecord] = []
        """Students of OUTDIR's gradebook that this roster does not hold, kept as they are (a
        batch of some students of the class: ``check_roster``)."""
        self.title = f"nngrade: {options.submissions.name}"
        self.layout = roster.layout
        self.teams = {submission.student: list(submission.members or [submission.student])
                      for submission in roster.submissions}
        """Each student's group (a Gradescope group submission: one file for its members)."""

    def graded_texts(self, records: list[StudentRecord]) -> dict[str, str]:
        """``{student: the text of the file graded}`` for every student who has one: this
        roster's from their files (each also kept as ``OUTDIR/files/<student>.py``, so that a
        later batch of some students compares them with the whole class), the kept others'
        from that copy."""
        sources = {s.student: s.source for s in self.roster.submissions if s.source is not None}
        texts = {}
        for record in records:
            kept = self.out / "files" / f"{record.student}.py"
            try:
                if record.student in sources:
                    data = Path(sources[record.student]).read_bytes()
                    if not kept.is_file() or kept.read_bytes() != data:
                        write_bytes_atomic(kept, data)
                elif record.status != INVALID:
                    data = kept.read_bytes()
                else:
                    continue
            except OSError:
                continue
            texts[record.student] = data.decode("utf-8", errors="replace")
        return texts

    def similarity(self, records: list[StudentRecord]) -> str:
        """Write the similarity report of ``records``' files (``grader/batch/similarity.py``)
        and return its section of summary.html. With copydetect missing, or a fault of the
        comparison itself (an unreadable reference, a full disk), the section says so and the
        batch's outputs are written as ever: the similarity report never costs the gradebook."""
        from grader.batch import similarity

        texts = self.graded_texts(records)
        if not self.options.similarity:
            similarity.remove(self.out)   # an earlier report would contradict this gradebook
            return ""
        teams = {record.student: frozenset(self.teams.get(record.student, ())) for record in records}
        try:
            if not TEMPLATE.is_file():
                print(f"nngrade batch: similarity: the template ({TEMPLATE}) is not here, so the "
                      "code every student starts from counts as shared; run the batch from the "
                      "repository", file=sys.stderr)
            template = TEMPLATE.read_text() if TEMPLATE.is_file() else None
            report = similarity.compare(texts, template, read_references(
                self.options.similarity_reference), template_name="template/solution.py",
                teams=teams)
            similarity.write(self.out, report, f"{self.title}: similarity")
        except similarity.SimilarityUnavailable as error:
            print(f"nngrade batch: {error}", file=sys.stderr)
            similarity.remove(self.out)
            return similarity.summary_section(None, str(error),
                                              similarity.identical_files(texts, teams))
        except Exception as error:   # noqa: BLE001 - the report is optional; the grades are not
            print(f"nngrade batch: similarity failed ({type(error).__name__}: {error}); the "
                  "gradebook is written without it", file=sys.stderr)
            similarity.remove(self.out)
            return similarity.summary_section(
                None, f"the comparison failed ({type(error).__name__}: {error})",
                similarity.identical_files(texts, teams))
        flagged = report.flagged()
        twins = "; ".join(", ".join(group) for group in report.identical)
        print(f"nngrade batch: similarity: {len(flagged)} pair(s) at "
              f"{100 * similarity.FLAG_AT:.0f} % or more"
              + (f", identical files: {twins}" if twins else "") + f" ({self.out}/similarity.html)",
              file=sys.stderr)
        return similarity.summary_section(report)

    def manifest(self) -> dict:
        """OUTDIR's ``roster.json`` ({} when there is none or it cannot be read)."""
        try:
            data = json.loads((self.out / ROSTER_FILE).read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) and isinstance(data.get("students"), list) else {}

    def outdir_students(self) -> list[str]:
        """The students OUTDIR's gradebook holds: its roster.json's, else one per result (an
        OUTDIR written before roster.json existed)."""
        manifest = self.manifest()
        if manifest:
            return [str(student) for student in manifest["students"]]
        folder = self.out / "results"
        return sorted(path.stem for path in folder.glob("*.json")) if folder.is_dir() else []

    def check_roster(self, selective: bool = False) -> str:
        """Decide how this roster meets the gradebook already in OUTDIR; "" to go on, else why
        nothing may be written. The same students or more: go on (a re-run grades what changed).
        Some of its students only: grade them and keep the others (``others``), as long as the
        parts are the same. Any other roster is another class: refused, so that no gradebook is
        ever replaced by a smaller one."""
        before = self.outdir_students()
        current = {submission.student for submission in self.roster.submissions}
        others = sorted(set(before) - current)
        manifest = self.manifest()
        if selective and manifest and list(manifest.get("parts") or []) != list(self.parts):
            # --student keeps the others' grades: they must be of the same parts
            return (f"{self.out} holds a gradebook of the parts "
                    f"{', '.join(manifest.get('parts') or []) or 'all'}, and this batch grades "
                    f"{', '.join(self.parts)}: --student would mix the two. Nothing was written. "
                    "Regrade with the same --parts.")
        if not others:
            return ""
        new = sorted(current - set(before))
        if new:
            return (f"{self.out} holds the gradebook of another roster: {_some(others)} "
                    f"({len(others)}) are in it and not in {self.options.submissions}, and "
                    f"{_some(new)} ({len(new)}) are in {self.options.submissions} and not in it. "
                    f"Nothing was written. To grade this class, choose another --out; to regrade "
                    f"some students of that class, pass a folder that holds only them (or the "
                    f"whole class with --student ID...).")
        kept = [self.saved(student) or StudentRecord(student=student, status=NOT_GRADED,
                                                     reason=UNREADABLE) for student in others]
        their_parts = manifest.get("parts") if manifest else next(
            (record.parts for record in kept if record.status != NOT_GRADED), None)
        if their_parts is not None and list(their_parts) != list(self.parts):
            return (f"{self.out} holds a gradebook of the parts {', '.join(their_parts) or 'all'}, "
                    f"and this batch grades {', '.join(self.parts)}: its columns would not agree. "
                    f"Nothing was written. Regrade with the same --parts (or choose another --out).")
        self.others = kept
        self.title = str(manifest.get("title") or self.title)
        self.layout = str(manifest.get("layout") or self.layout)
        return ""

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
                                 parts=list(batch.get("parts", [])), sid=str(batch.get("sid", "")),
                                 email=str(batch.get("email", "")))
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
            "source": record.source, "members": members, "seconds": round(record.seconds, 3),
            "sid": record.sid, "email": record.email}}
        results["extra_data"] = extra
        write_json_atomic(self.result_path(record.student), results)
        self.write_feedback(record)
        self.records[record.student] = record
        self.counts[_kind(record)] += 1

    def write_feedback(self, record: StudentRecord) -> None:
        write_text_atomic(self.out / "feedback" / f"{record.student}.md", feedback_markdown(record))
        write_text_atomic(self.out / "feedback" / f"{record.student}.html", feedback_html(record))

    def all_records(self, chosen: set[str] | None = None) -> list[StudentRecord]:
        """Every student's record, this roster's and the kept ``others``, by student. A student
        of the roster with no record is not graded: interrupted, or (with ``chosen``, the ids
        ``--student`` named) not chosen and not graded by an earlier run."""
        records = list(self.others)
        for submission in self.roster.submissions:
            unreached = INTERRUPTED if chosen is None or submission.student in chosen else NOT_SELECTED
            record = self.records.get(submission.student) or StudentRecord(
                student=submission.student, name=submission.name, status=NOT_GRADED,
                reason=unreached, source=_relative(submission.source, self.roster.root),
                sid=submission.sid, email=submission.email)
            records.append(record)
        return sorted(records, key=lambda record: record.student)

    def finish(self, chosen: set[str] | None = None, similarity: str = "") -> list[StudentRecord]:
        """``all_records`` written to the gradebook, the class report (with ``similarity``, its
        section: ``Batch.similarity``), the LMS exports and roster.json, each file atomically."""
        records = self.all_records(chosen)
        write_grades_csv(self.out / "grades.csv", records, self.parts)
        write_text_atomic(self.out / "summary.html",
                          summary_html(records, title=self.title, layout=self.layout,
                                       parts=self.parts, similarity=similarity))
        # Every output stays true: an LMS file an earlier run wrote is written again.
        before = self.manifest()
        exports = list(dict.fromkeys([*before.get("exports", []), *self.options.exports]))
        exports = [name for name in exports if name in lms.FORMATS]
        column = self.options.lms_column or str(before.get("lms_column") or lms.DEFAULT_COLUMN)
        lms.write_exports(self.out, records, exports, column)
        write_json_atomic(self.out / ROSTER_FILE, {
            "students": [record.student for record in records], "parts": self.parts,
            "layout": self.layout, "title": self.title, "exports": exports, "lms_column": column})
        return records


TEMPLATE = Path(__file__).resolve().parents[2] / "template" / "solution.py"
"""The student template: boilerplate of the similarity report (its code never counts)."""
REFERENCE_SUFFIXES = (".py",)


def read_references(folder: Path | None) -> dict[str, str]:
    """``{relative path: text}`` of the Python files under ``folder`` (known past or public
    solutions, ``--similarity-reference``); {} for none. Raises ValueError for a folder that
    does not exist or holds no Python file."""
    if folder is None:
        return {}
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"--similarity-reference {folder}: not a folder")
    found = {str(path.relative_to(folder)): path.read_text(encoding="utf-8", errors="replace")
             for path in sorted(folder.rglob("*")) if path.suffix in REFERENCE_SUFFIXES
             and path.is_file() and not path.is_symlink()}
    if not found:
        raise ValueError(f"--similarity-reference {folder}: no .py file in it")
    return found


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


class BatchStopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP (a closed terminal, a cluster's job killed): the batch ends as after
    Ctrl-C, with every output complete."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _stop(signum, _frame) -> None:
    raise BatchStopped(signum)


def run_batch(options: BatchOptions) -> int:
    from grader.batch.layouts import LayoutError, open_roster

    if not options.submissions.exists():
        print(f"nngrade batch: {options.submissions} does not exist", file=sys.stderr)
        return 2
    previous = {}
    for number in (signal.SIGTERM, signal.SIGHUP):
        try:
            previous[number] = signal.signal(number, _stop)
        except (ValueError, OSError):   # not the main thread: the caller handles signals
            pass
    try:
        with tempfile.TemporaryDirectory(prefix="nngrade-roster-") as scratch:
            try:
                roster = open_roster(options.submissions, Path(scratch), assignment=options.assignment)
            except LayoutError as error:
                print(f"nngrade batch: {error}", file=sys.stderr)
                return 2
            return _grade_roster(options, roster)
    except BatchStopped as stopped:   # before the grading began: nothing was written
        return 128 + stopped.signum
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _chosen(options: BatchOptions, roster) -> tuple[set[str] | None, str]:
    """The roster ids ``--student`` names (each may be given as the id, the SID or the email),
    or None when it names none; with the error that names the unknown ones ("" if none)."""
    if not options.students:
        return None, ""
    chosen, unknown = set(), []
    for wanted in options.students:
        key = str(wanted).strip().casefold()
        found = {s.student for s in roster.submissions
                 if key in (s.student.casefold(), s.sid.casefold(), s.email.casefold())}
        if found:
            # a group's members share one file: regrading one regrades them all
            chosen |= found | {member for s in roster.submissions if s.student in found
                               for member in s.members}
        else:
            unknown.append(wanted)
    if unknown:
        ids = [s.student for s in roster.submissions]
        hints = sorted({close for name in unknown for close in difflib.get_close_matches(name, ids, 3)})
        hint = f" (close: {', '.join(hints)})" if hints else ""
        return None, (f"--student {' '.join(unknown)}: not in the roster of "
                      f"{options.submissions}{hint}. Its students are {_some(ids, 12)}.")
    return chosen, ""


def _grade_roster(options: BatchOptions, roster) -> int:
    batch = Batch(options, roster)
    chosen, error = _chosen(options, roster)
    try:
        read_references(options.similarity_reference)
    except ValueError as problem:
        error = error or str(problem)
    refusal = error or batch.check_roster(selective=chosen is not None)
    if refusal:
        print(f"nngrade batch: {refusal}", file=sys.stderr)
        return 2
    options.out.mkdir(parents=True, exist_ok=True)
    jobs: dict[str, grading.Job] = {}
    members: dict[str, list] = {}       # fingerprint -> the roster entries graded by that job
    kept = 0
    grader = suite_hash()
    for submission in roster.submissions:
        source = _relative(submission.source, roster.root)
        selected = chosen is None or submission.student in chosen
        if not selected:
            # --student: the others stay as OUTDIR has them (finish says who has no result yet).
            previous = batch.saved(submission.student)
            if previous is not None:
                batch.records[submission.student] = previous
                batch.counts[_kind(previous)] += 1
                kept += 1
            continue
        if submission.source is None:
            record = StudentRecord(student=submission.student, name=submission.name, status=INVALID,
                                   reason=submission.problem,
                                   grading=invalid_grading(submission.problem, batch.parts),
                                   parts=batch.parts, source=source, sid=submission.sid,
                                   email=submission.email)
            batch.store(record, submission.members)
            continue
        data = Path(submission.source).read_bytes()
        key = grading.fingerprint(data, batch.parts, grader)
        previous = None if options.force or chosen is not None else batch.saved(submission.student)
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
    if batch.others:
        whole = len(batch.others) + len(roster.submissions)
        print(f"nngrade batch: {options.out} holds the gradebook of {whole} students: "
              f"{len(roster.submissions)} of them are graded into it here, the other "
              f"{len(batch.others)} kept as they are", file=sys.stderr)

    bar = _progress(to_grade, options.progress)

    def done(job: grading.Job, outcome: dict) -> None:
        for submission in members[job.key]:
            batch.store(StudentRecord(
                student=submission.student, name=submission.name, status=outcome["status"],
                reason=outcome["reason"], grading=outcome["grading"], seconds=outcome["seconds"],
                sha256=job.key, source=_relative(submission.source, roster.root),
                parts=batch.parts, sid=submission.sid, email=submission.email), submission.members)
        if bar is not None:
            bar.set_postfix({k: batch.counts[k] for k in ("full", "partial", "zero", "not graded")})
            bar.update(len(members[job.key]))

    workers = options.jobs or default_jobs()
    started = time.monotonic()
    stopped: KeyboardInterrupt | None = None
    try:
        if options.engine == "dask":
            from grader.batch.dask_engine import run_dask

            run_dask(list(jobs.values()), workers=workers, cap_s=options.cap_s,
                     scheduler=options.scheduler, on_done=done)
        else:
            grading.run_local(list(jobs.values()), workers=workers, cap_s=options.cap_s, on_done=done)
    except KeyboardInterrupt as interruption:   # Ctrl-C, and SIGTERM or SIGHUP (BatchStopped)
        stopped = interruption
    except BaseException:
        # a fault of the batch itself: what was graded is still written whole, then it goes on
        _write_outputs(batch, chosen, NOT_COMPARED)
        raise
    finally:
        if bar is not None:
            bar.close()
    # The similarity report compares every pair of the class (its time grows with the square of
    # the class): only after a batch that was not stopped, and a signal still stops it.
    similarity = ""
    if stopped is None:
        try:
            similarity = batch.similarity(batch.all_records(chosen))
        except KeyboardInterrupt as interruption:
            stopped = interruption
    if stopped is not None and options.similarity:
        similarity = NOT_COMPARED
        from grader.batch import similarity as similarity_report

        similarity_report.remove(options.out)
    records = _write_outputs(batch, chosen, similarity)
    not_graded = [r for r in records if r.status == NOT_GRADED]
    exports = "".join(f", {name}.csv" for name in batch.manifest().get("exports", []))
    print(f"nngrade batch: {len(records)} students in {time.monotonic() - started:.0f} s: "
          f"{batch.counts['full']} full marks, {batch.counts['partial']} partial, "
          f"{batch.counts['zero']} zero, {len(not_graded)} not graded; wrote {options.out}/grades.csv, "
          f"summary.html{exports}, results/ and feedback/", file=sys.stderr)
    for record in not_graded:
        print(f"  not graded: {record.student}: {record.reason}", file=sys.stderr)
    if stopped is not None:
        return 128 + stopped.signum if isinstance(stopped, BatchStopped) else 130
    return 2 if not_graded else 0


NOT_COMPARED = ('<h2>Similarity</h2><p class="muted">Not compared: the batch was stopped; run it '
                "again to compare the class.</p>")


def _write_outputs(batch: Batch, chosen, similarity: str) -> list[StudentRecord]:
    """``batch.finish``: a second signal must not cut the outputs short, so they are written
    whole with the stop signals ignored, and only then does the batch end."""
    ignored = {number: signal.signal(number, signal.SIG_IGN) for number in STOP_SIGNALS
               if _main_thread()}
    try:
        return batch.finish(chosen, similarity)
    finally:
        for number, handler in ignored.items():
            signal.signal(number, handler)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _some(names: list[str], shown: int = 5) -> str:
    """``a, b, c and 4 more``."""
    names = list(names)
    if len(names) <= shown:
        return ", ".join(names)
    return f"{', '.join(names[:shown])} and {len(names) - shown} more"


def _invalid(batch: Batch) -> int:
    return sum(1 for r in batch.records.values() if r.status == INVALID)


def _progress(total: int, enabled: bool):
    if not enabled or total == 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="student", desc="grading", file=sys.stderr, dynamic_ncols=True)
