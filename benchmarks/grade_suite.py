"""Benchmark (not a test): what a student waits for, and what a batch pays, per grading of the
worked solution (issue 26's figures).

Run: ``python benchmarks/grade_suite.py [--runs 5] [--only full,one_part] [--before DIR]``. Each
scenario runs ``--runs`` times, one after the other (with ``--before``, a checkout of an earlier
nngrade, the two alternate run by run, so that both see the same machine), and prints the median
wall time (the whole command: interpreter, imports, sandbox starts, as a student experiences
``pytest grader``) and the median
CPU seconds of every process the command started and waited for (the grading process, its
sandboxed workers, the metered child), read with ``getrusage(RUSAGE_CHILDREN)``. Scenarios:

- ``full``: a full default grading (``python -m grader grade solution.py``);
- ``full_one_at_a_time``: the same with ``--one-at-a-time``, as the batch's grading processes and
  Gradescope grade (nothing started ahead): what a batch pays per student;
- ``part4``: Part 4 only (``mnist_cnn,cats_dogs_cnn,kaggle_submission``);
- ``numpy``: the 13 numpy parts and ``batchnorm2d``;
- ``one_part``: one numpy part (``backward``);
- ``edited``: ``pytest grader`` (the student's own command) on a copy of the solution whose
  ``NN.backward`` was just edited, after one ``pytest grader`` of the unedited copy (what a
  student's second run costs; each run has a verdict cache of its own, ``grader/reuse.py``);
- ``import``: ``python -c "import numpy, torch"``, what every worker start pays;
- ``gradescope_half_cpu``: the built autograder zip's ``run_autograder`` on the worked solution
  in a cgroup limited to half a CPU, as Gradescope's default machine (needs root and a writable
  cgroup ``cpu`` controller; skipped, saying why, otherwise).

The header says which machine ran it (CPU model, cores, load average before the first run,
torch's BLAS and threads), so that figures are compared only between runs on the same machine.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
PART4 = "mnist_cnn,cats_dogs_cnn,kaggle_submission"
NUMPY = ("init,activations,softmax,forward,loss,backward,update,train_loop,finite_difference,"
         "optimizers,batchnorm,dropout,batchnorm2d")
EDIT = ("    def backward(self, cache, labels):\n",
        "    def backward(self, cache, labels):\n        _edited = True  # a student's edit\n")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


CPUACCT = Path("/sys/fs/cgroup/cpuacct")


def _cpu_group() -> Path | None:
    """A fresh cgroup v1 ``cpuacct`` group, where this machine lets us make one (root): it counts
    the CPU of every process the command starts, also those killed before anyone reaped them (a
    sandbox closed with SIGKILL: ``getrusage`` never sees its workers' CPU)."""
    if os.geteuid() != 0 or not (CPUACCT / "cpuacct.usage").is_file():
        return None
    group = CPUACCT / f"nngrade-bench-{os.getpid()}-{time.monotonic_ns()}"
    try:
        group.mkdir()
    except OSError:
        return None
    return group


def cpu_counter() -> str:
    """How CPU seconds are counted on this machine (printed in the header)."""
    group = _cpu_group()
    if group is None:
        return ("CPU: getrusage(RUSAGE_CHILDREN), reaped processes only (undercounts sandboxes "
                "killed with their workers)")
    group.rmdir()
    return "CPU: a cgroup cpuacct group per command (every process it started, reaped or not)"


def _timed(command: list[str], *, cwd: Path = REPOSITORY, env=None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and every process it started)."""
    group = _cpu_group()
    if group is not None:
        # The command enters the group before it execs, so that everything it starts is in it.
        command = ["sh", "-c", f'echo $$ > {group / "cgroup.procs"} && exec "$@"', "sh", *command]
    cpu, started = _children_cpu(), time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=False)
    wall = time.perf_counter() - started
    if group is None:
        return wall, _children_cpu() - cpu
    used = int((group / "cpuacct.usage").read_text()) / 1e9
    for _ in range(50):   # a killed sandbox's last processes may take a moment to leave
        try:
            group.rmdir()
            break
        except OSError:
            time.sleep(0.1)
    return wall, used


def _grade(submission: Path, results: Path, *parts: str) -> list[str]:
    """The command grading ``submission`` (run with the checkout as its current folder, so
    that ``python -m grader`` is that checkout's)."""
    selection = ["--parts", ",".join(parts)] if parts else []
    return [sys.executable, "-m", "grader", "grade", str(submission), "--results-json",
            str(results), *selection]


def machine() -> str:
    import torch

    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                  .splitlines() if line.startswith("model name")), platform.processor())
    settings = torch.__config__.show().replace(",", " ").split()
    blas = next((word.replace("_INFO=", " ") for word in settings if word.startswith("BLAS_INFO=")),
                "BLAS unknown")
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    return (f"{model}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; torch "
            f"{torch.__version__} ({blas}{', OPENBLAS_CORETYPE=' + coretype if coretype else ''}, "
            f"{torch.get_num_threads()} threads); Python {platform.python_version()}")


def scenario_run(name: str, folder: Path, run: int, repository: Path) -> tuple[float, float]:
    """One run of scenario ``name`` with the checkout ``repository``: (wall s, CPU s)."""
    results = folder / "results.json"
    solution = REPOSITORY / "solution.py"
    if name == "full":
        return _timed(_grade(solution, results), cwd=repository)
    if name == "full_one_at_a_time":
        return _timed(_grade(solution, results) + ["--one-at-a-time"], cwd=repository)
    if name == "part4":
        return _timed(_grade(solution, results, PART4), cwd=repository)
    if name == "numpy":
        return _timed(_grade(solution, results, NUMPY), cwd=repository)
    if name == "one_part":
        return _timed(_grade(solution, results, "backward"), cwd=repository)
    if name == "edited":
        # The student's own command, with a cache of its own (grader/reuse.py).
        copy = folder / f"edited{run}" / "solution.py"
        copy.parent.mkdir()
        text = solution.read_text()
        copy.write_text(text)
        command = [sys.executable, "-m", "pytest", "grader", "-q", "-p", "no:cacheprovider",
                   "--submission", str(copy)]
        environment = {**os.environ, "NNGRADE_CACHE_DIR": str(folder / "cache")}
        _timed(command, cwd=repository, env=environment)             # the first run of the evening
        assert EDIT[0] in text, "NN.backward's signature changed: update EDIT"
        copy.write_text(text.replace(EDIT[0], EDIT[1], 1))
        return _timed(command, cwd=repository, env=environment)
    if name == "import":
        return _timed([sys.executable, "-c", "import numpy, torch"])
    if name == "gradescope_half_cpu":
        return gradescope_half_cpu(folder, run, repository)
    raise ValueError(name)


class Skipped(RuntimeError):
    """A scenario this machine cannot run; the message says why."""


def _half_cpu_group() -> Path:
    """A cgroup (v1 ``cpu`` or v2) limited to half a CPU, made for this run."""
    v2 = Path("/sys/fs/cgroup/cgroup.controllers")
    if v2.is_file() and "cpu" in v2.read_text().split():
        group = Path(f"/sys/fs/cgroup/nngrade-bench-{os.getpid()}")
        group.mkdir()
        (group / "cpu.max").write_text("50000 100000")
        return group
    v1 = Path("/sys/fs/cgroup/cpu")
    if (v1 / "cpu.cfs_quota_us").is_file():
        group = v1 / f"nngrade-bench-{os.getpid()}"
        group.mkdir()
        (group / "cpu.cfs_period_us").write_text("100000")
        (group / "cpu.cfs_quota_us").write_text("50000")
        return group
    raise Skipped("no cgroup cpu controller found")


def gradescope_half_cpu(folder: Path, run: int, repository: Path) -> tuple[float, float]:
    if os.geteuid() != 0:
        raise Skipped("needs root to make a cgroup limited to half a CPU")
    archive = folder / f"autograder-{run}.zip"
    subprocess.run([sys.executable, "-m", "grader", "gradescope", str(archive)], cwd=repository,
                   check=True, capture_output=True)
    try:
        group = _half_cpu_group()
    except OSError as error:
        raise Skipped(f"cannot make a cgroup: {error}") from None
    procs = group / ("cgroup.procs" if (group / "cgroup.procs").exists() else "tasks")
    try:
        for _ in range(1):
            root = folder / f"autograder{run}"
            with zipfile.ZipFile(archive) as opened:
                for info in opened.infolist():
                    path = Path(opened.extract(info, root / "source"))
                    path.chmod((info.external_attr >> 16) & 0o777)
            shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
            (root / "run_autograder").chmod(0o755)
            (root / "submission").mkdir()
            (root / "results").mkdir()
            shutil.copy(REPOSITORY / "solution.py", root / "submission" / "solution.py")
            environment = {**os.environ, "NNGRADE_AUTOGRADER_ROOT": str(root),
                           "NNGRADE_PYTHON": sys.executable}
            # The command enters the group itself (its pid is written to the group before it
            # execs run_autograder), so that everything it starts is limited too.
            entering = (f"echo $$ > {procs} && exec {root / 'run_autograder'}")
            measured = _timed(["sh", "-c", entering], cwd=root, env=environment)
            data = json.loads((root / "results" / "results.json").read_text())
            if data.get("score") is None:
                raise Skipped(f"the run did not grade: {str(data.get('output'))[:200]}")
    finally:
        try:
            group.rmdir()
        except OSError:
            pass
    return measured


SCENARIOS = ("full", "full_one_at_a_time", "edited", "numpy", "part4", "one_part", "import",
             "gradescope_half_cpu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", default=",".join(SCENARIOS),
                        help=f"comma-separated scenarios among {', '.join(SCENARIOS)}")
    parser.add_argument("--before", type=Path, default=None,
                        help="a checkout of an earlier nngrade (git worktree add DIR COMMIT): each "
                             "scenario runs with it and with this one, alternately")
    args = parser.parse_args()
    checkouts = [("before", args.before.resolve())] if args.before else []
    checkouts.append(("after" if args.before else "this", REPOSITORY))
    print(machine())
    print(cpu_counter())
    for label, checkout in checkouts:
        print(f"{label}: {checkout} ({_commit(checkout)})")
    print(f"median of {args.runs} runs each; the checkouts alternate run by run")
    print(f"{'scenario':<22}{'code':<8}{'wall s':>9}{'(min-max)':>16}{'CPU s':>9}")
    for name in args.only.split(","):
        measured = {label: [] for label, _ in checkouts}
        with tempfile.TemporaryDirectory(prefix="nngrade-bench-") as folder:
            try:
                for run in range(args.runs):
                    for label, checkout in checkouts:
                        place = Path(folder) / f"{label}{run}"
                        place.mkdir()
                        measured[label].append(scenario_run(name, place, run, checkout))
            except Skipped as why:
                print(f"{name:<22}  skipped: {why}")
                continue
        for label, _ in checkouts:
            walls, cpus = [m[0] for m in measured[label]], [m[1] for m in measured[label]]
            print(f"{name:<22}{label:<8}{statistics.median(walls):>9.2f}"
                  f"{f'({min(walls):.2f}-{max(walls):.2f})':>16}{statistics.median(cpus):>9.2f}",
                  flush=True)


def _commit(checkout: Path) -> str:
    found = subprocess.run(["git", "-C", str(checkout), "log", "-1", "--format=%h %s"],
                           capture_output=True, text=True)
    return found.stdout.strip()[:70] or "not a git checkout"


if __name__ == "__main__":
    main()
