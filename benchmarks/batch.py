"""Benchmark (not a test): batch grading throughput, with 1 and 2 jobs, locally and on Dask.

Run: ``python benchmarks/batch.py [--students 50] [--parts softmax,loss,forward,backward]``.

It writes a mixed class of ``--students`` submissions: the worked solution (each copy with its own
comment line, so that no two files are the same and every one is graded), buggy ones from the
bug bank of the selected parts, and 3 that hang (a CPU-bound infinite loop in a method the
selected parts call; ``--hangs``, default 3). Then it grades the class four times, each into a
fresh OUTDIR, with ``python -m grader batch``: ``--jobs 1`` and ``--jobs 2``, with the local
engine and with Dask's ``LocalCluster``. It prints submissions per minute for each, the speed-up
from 1 to 2 jobs, the time the hanging submissions took, and the fixed cost per submission: what
the batch spent on each submission outside its grading session (the batch's seconds for it less
the session's own ``execution_time``: a grading process's start and imports, where each
submission pays one, and the hand-over of files and replies), the median over the non-hanging
submissions. Last, what every grading session pays whatever it grades (the sandbox preflight and
the sandboxed worker's import of solution.py, which a fresh sandbox per submission keeps) and, for
comparison, the imports of a grading process.
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

from tests.bugs import BUGS  # noqa: E402

HANG_IN = {"softmax": "    def softmax(self, x):\n", "loss": "    def loss(self, prediction, labels):\n",
           "forward": "    def forward(self, x):\n", "backward": "    def backward(self, cache, labels):\n"}


def make_class(folder: Path, students: int, parts: list[str], hangs: int = 3) -> dict[str, str]:
    """Write the class; return ``{student: kind}`` (correct, bug name, or hang)."""
    worked = (REPOSITORY / "solution.py").read_text()
    bugs = [bug for bug in BUGS if bug.part in parts]
    hang_at = next(HANG_IN[p] for p in parts if p in HANG_IN)
    folder.mkdir(parents=True)
    kinds = {}
    for number in range(students):
        student = f"student{number:03d}"
        if number < hangs:
            # the first occurrence is the NN class's method (BatchNorm and the CNNs come later)
            text = worked.replace(hang_at, hang_at + "        while True:\n            pass\n", 1)
            kind = "hang"
        elif number % 2 and bugs:
            bug = bugs[number % len(bugs)]
            text, kind = worked, bug.name
            for old, new in bug.replacements:
                text = text.replace(old, new)
        else:
            text, kind = worked, "correct"
        (folder / f"{student}.py").write_text(f"{text}\n# {student}\n")
        kinds[student] = kind
    return kinds


def grade_class(folder: Path, out: Path, jobs: int, engine: str, parts: list[str]) -> float:
    started = time.monotonic()
    process = subprocess.run(
        [sys.executable, "-m", "grader", "batch", str(folder), "--out", str(out), "--jobs", str(jobs),
         "--engine", engine, "--parts", ",".join(parts), "--no-progress"],
        cwd=REPOSITORY, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if process.returncode != 0:
        raise SystemExit(f"the batch failed ({process.returncode}):\n{process.stderr[-3000:]}")
    return elapsed


def seconds_by_student(out: Path) -> dict[str, float]:
    return {path.stem: json.loads(path.read_text())["extra_data"]["nngrade"]["batch"]["seconds"]
            for path in (out / "results").glob("*.json")}


def outside_session_by_student(out: Path) -> dict[str, float]:
    """Each student's batch seconds less the grading session's own (``execution_time``)."""
    found = {}
    for path in (out / "results").glob("*.json"):
        results = json.loads(path.read_text())
        found[path.stem] = (results["extra_data"]["nngrade"]["batch"]["seconds"]
                            - results["execution_time"])
    return found


def fixed_cost(repeats: int = 3) -> dict[str, float]:
    """Median wall times of what every grading pays whatever it grades: the grading process's
    imports (torch, numpy, the grader), the sandbox preflight, and the sandboxed worker's import
    of the submission (which imports torch)."""
    imports, preflight, load = [], [], []
    code = "import torch, numpy, grader.plugin, grader.networks.rebuild"
    probe = ("import time, pathlib\n"
             "from grader.isolation.worker import Session\n"
             "from grader.verdicts.substitutes import CallbackLog\n"
             "t = time.monotonic(); s = Session(pathlib.Path('solution.py'), CallbackLog())\n"
             "s.preflight(); t1 = time.monotonic(); s._ensure_loaded(); t2 = time.monotonic()\n"
             "s.close(); print(t1 - t, t2 - t1)\n")
    for _ in range(repeats):
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", code], cwd=REPOSITORY, check=True)
        imports.append(time.monotonic() - started)
        out = subprocess.run([sys.executable, "-c", probe], cwd=REPOSITORY, check=True,
                             capture_output=True, text=True).stdout.split()
        preflight.append(float(out[0]))
        load.append(float(out[1]))
    return {"grader imports": statistics.median(imports), "preflight": statistics.median(preflight),
            "worker loads solution.py": statistics.median(load)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=50)
    parser.add_argument("--parts", default="softmax,loss,forward,backward")
    parser.add_argument("--engines", default="local,dask")
    parser.add_argument("--hangs", type=int, default=3, help="submissions that hang (default 3)")
    args = parser.parse_args()
    parts = [p for p in args.parts.split(",") if p]
    with tempfile.TemporaryDirectory(prefix="nngrade-bench-") as scratch:
        scratch = Path(scratch)
        kinds = make_class(scratch / "class", args.students, parts, args.hangs)
        print(f"class: {args.students} submissions ({sum(k == 'correct' for k in kinds.values())} "
              f"correct, {sum(k not in ('correct', 'hang') for k in kinds.values())} buggy, "
              f"{sum(k == 'hang' for k in kinds.values())} hanging); parts {','.join(parts)}")
        rates = {}
        for engine in args.engines.split(","):
            for jobs in (1, 2):
                out = scratch / f"out-{engine}-{jobs}"
                elapsed = grade_class(scratch / "class", out, jobs, engine, parts)
                seconds = seconds_by_student(out)
                outside = outside_session_by_student(out)
                hangs = [seconds[s] for s, kind in kinds.items() if kind == "hang"]
                others = [seconds[s] for s, kind in kinds.items() if kind != "hang"]
                fixed = sorted(outside[s] for s, kind in kinds.items() if kind != "hang")
                rates[engine, jobs] = 60 * args.students / elapsed
                with open(out / "grades.csv", newline="") as handle:
                    full = sum(row["total"] == row["max"] for row in csv.DictReader(handle))
                print(f"{engine:5s} --jobs {jobs}: {elapsed:6.1f} s, {rates[engine, jobs]:5.1f} "
                      f"submissions/min; one grading: median {statistics.median(others):.2f} s, "
                      f"hanging ones {', '.join(f'{h:.0f}' for h in hangs) or '-'} s; {full} full "
                      f"marks; fixed cost per submission (outside its grading session): median "
                      f"{statistics.median(fixed):.2f} s, mean {statistics.mean(fixed):.2f} s, "
                      f"max {fixed[-1]:.2f} s")
            print(f"{engine:5s} speed-up from 1 to 2 jobs: {rates[engine, 2] / rates[engine, 1]:.2f}x")
        parts_of_cost = fixed_cost()
        print("inside every grading session: " + ", ".join(
            f"{k} {parts_of_cost[k]:.2f} s" for k in ("preflight", "worker loads solution.py"))
            + f"; a grading process's imports (once per process): {parts_of_cost['grader imports']:.2f} s")

if __name__ == "__main__":
    main()
