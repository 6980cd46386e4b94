"""Run the studies, keep their logs, and hand the report its sections.

A study is a module of ``report.studies`` with:

- ``NAME`` (its folder), ``TITLE``, ``QUESTION`` (one line);
- ``Config``: a dataclass whose defaults are the assignment's; ``Config.at_scale(scale)`` gives
  the configuration of ``smoke`` (CI: seconds), ``default`` (minutes on a laptop) or ``full``
  (the assignment's own scale, on the GPU when there is one);
- ``run(config, context) -> logs``: JSON-able, written to ``<out>/<study>/logs.json``;
- ``plot(logs) -> {name: figure}``, ``table(logs) -> (headers, rows)`` and
  ``describe(logs) -> {setting: value}``, which read only the logs.

Re-plotting never re-runs: a study whose ``logs.json`` holds the same configuration, data and
solution file (by SHA-256) is skipped unless ``force``. A study that fails (an exception, or a
part of the solution not written yet) never stops the others; its section says what happened.
"""
from __future__ import annotations

import dataclasses
import json
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from grader.outputs.artifacts import write_json_atomic
from report import plots
from report.student import Missing, sha256_of  # noqa: F401 (sha256_of: the CLI)

OK, NEEDS, FAILED = "ok", "needs", "failed"
SCALES = ("smoke", "default", "full")


@dataclass
class Context:
    """What a study's ``run`` gets: the student's module, the data (``reference.data``), where
    to write extra files, and ``progress(iterable, total, desc)`` (a tqdm bar)."""
    solution: ModuleType
    solution_path: Path
    data_root: Path | None
    folder: Path
    scale: str
    progress: object
    notes: list = field(default_factory=list)   # sentences the section shows (e.g. the data used)


@dataclass
class Section:
    """One study's part of the report."""
    name: str
    title: str
    question: str
    status: str                                  # OK, NEEDS or FAILED
    message: str = ""                            # why NEEDS or FAILED
    figures: dict = field(default_factory=dict)  # {name: {"png": path, "pdf": path}}
    table: tuple = ((), ())                      # (headers, rows)
    settings: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    skipped: bool = False                        # logs reused, not re-run
    scale: str = ""                              # smoke, default or full: said under every figure
    live: dict = field(default_factory=dict, repr=False)   # {name: open matplotlib figure}


def _progress_factory(enabled: bool):
    def progress(iterable=None, total=None, desc=""):
        from tqdm import tqdm
        return tqdm(iterable, total=total, desc=f"  {desc}", leave=False, disable=not enabled,
                    unit="step", dynamic_ncols=True)
    return progress


def _fingerprint(study: ModuleType, config, solution_sha: str, data_root) -> dict:
    return {"config": json.loads(json.dumps(dataclasses.asdict(config))), "solution_sha256": solution_sha,
            "data_root": str(data_root) if data_root else None, "study": study.NAME}


def run_study(study: ModuleType, *, solution, solution_path: Path, out: Path, scale: str,
              data_root: Path | None, force: bool, progress: bool, say=print) -> Section:
    """Run (or reuse) one study and plot it; never raises for the study's own failures."""
    folder = out / study.NAME
    section = Section(study.NAME, study.TITLE, study.QUESTION, OK, scale=scale)
    config = study.Config.at_scale(scale)
    fingerprint = _fingerprint(study, config, sha256_of(solution_path), data_root)
    logs_path = folder / "logs.json"
    saved = None
    if not force and logs_path.is_file():
        try:
            saved = json.loads(logs_path.read_text())
        except ValueError:
            saved = None
        if saved is not None and saved.get("fingerprint") != fingerprint:
            saved = None
    if saved is not None:
        say(f"{study.NAME}: logs match its configuration and solution.py: re-plotting only "
            "(--force runs it again)")
        section.skipped = True
        record = saved
    else:
        say(f"{study.NAME}: {study.QUESTION}")
        context = Context(solution, solution_path, data_root, folder, scale, _progress_factory(progress))
        started = time.perf_counter()
        record = {"fingerprint": fingerprint, "status": OK, "message": "", "logs": None}
        try:
            if solution is None:
                raise RuntimeError("the solution file could not be loaded")
            record["logs"] = study.run(config, context)
        except NotImplementedError as error:
            missing = Missing.from_error(error, str(solution_path))
            record.update(status=NEEDS, message=str(missing))
        except Exception as error:   # a study's failure is its section's, never the report's
            record.update(status=FAILED, message=f"{type(error).__name__}: {error}",
                          traceback=traceback.format_exc(limit=-6))
        record["seconds"] = round(time.perf_counter() - started, 2)
        record["notes"] = context.notes
        folder.mkdir(parents=True, exist_ok=True)
        if record["status"] == OK:
            write_json_atomic(logs_path, record)
        elif logs_path.exists():
            logs_path.unlink()   # stale logs of another configuration or solution
        say(f"{study.NAME}: {record['status']} in {record['seconds']:.1f} s"
            + (f" ({record['message']})" if record["message"] else ""))
    section.status, section.message = record["status"], record["message"]
    section.notes = list(record.get("notes") or [])
    caveat = getattr(study, "SMOKE_CAVEAT", "")
    if scale == "smoke" and caveat:
        # what this study shows at default scale that a smoke run is too short to show
        section.notes.append(f"At smoke scale: {caveat}")
    if section.status != OK:
        return section
    logs = record["logs"]
    try:
        section.live = study.plot(logs)
        for figure in section.live.values():
            plots.mark_scale(figure, scale)
        section.figures = {name: plots.save(figure, folder, name, close=False)
                           for name, figure in section.live.items()}
        section.table = study.table(logs)
        section.settings = {**study.describe(logs), "wall time": f"{record.get('seconds', 0):.1f} s"}
    except Exception as error:
        section.status, section.message = FAILED, f"plotting failed: {type(error).__name__}: {error}"
    return section
