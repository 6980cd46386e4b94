"""Behaviour unchanged? Grade a fixed set of files with one checkout of nngrade, then diff two such
captures (issue 25's proof for a refactor).

    python benchmarks/compare_results.py capture OUTDIR [--repo CHECKOUT] [--only NAME ...]
    python benchmarks/compare_results.py diff BEFORE AFTER

The subjects: the worked solution (every default part, and the experiments part on its own),
the template, every entry of the bug bank (``tests/bugs.py``: the patched solution, graded on
its own part and the parts its entry says it also costs) and every file of
``tests/submissions/`` (every default part). Each is graded by ``python -m grader grade`` of
``CHECKOUT`` (default: this one), run from that checkout so that its own ``grader`` package is
the one imported.

A capture keeps each results.json with what may differ between two runs of the same code taken
out (``normalized``): timings, CPU figures, paths, the suite's hash and the sandbox record.
``diff`` prints each subject whose normalized results differ, and the first differing lines.
Exit status of ``diff``: 0 when every subject common to both captures is the same, 1 otherwise.
"""
from __future__ import annotations

import argparse
import difflib
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent

# Keys whose values are timings, machine figures or paths: never part of a verdict.
DROPPED_KEYS = {"execution_time", "seconds", "reproducibility", "sandbox", "submission",
                "worker_restarts", "isolation_restarts", "details", "cpu_s", "wall_s",
                "charged_cpu_s", "elapsed_s"}
# Fields issue 25 added to results.json (the causes as data, the load failure as a field): new
# information, not a changed verdict, so a capture of the code before it compares with one after.
ADDED_KEYS = {"causes", "load_failure"}
DROPPED_KEYS |= ADDED_KEYS
# Figures inside messages that depend on the machine's speed, not on the submission's code.
TIMING_PATTERNS = (re.compile(r"\d+(\.\d+)? ?(CPU )?s\b"), re.compile(r"\d+(\.\d+)? seconds"))


def normalized(data, repo: Path, path: str = ""):
    """``data`` without the keys and figures that differ between two runs of the same code."""
    if isinstance(data, dict):
        return {key: normalized(value, repo, f"{path}.{key}") for key, value in data.items()
                if key not in DROPPED_KEYS and not key.endswith("_seconds")}
    if isinstance(data, list):
        return [normalized(value, repo, path) for value in data]
    if isinstance(data, str):
        text = data.replace(str(repo), "<repo>")
        text = re.sub(r"/tmp/[^\s'\"]*/", "<tmp>/", text)
        for pattern in TIMING_PATTERNS:
            text = pattern.sub("<time>", text)
        return text
    if isinstance(data, float) and "experiment" in path:
        return round(data, 3)
    return data


def subjects(repo: Path) -> list[tuple[str, str, tuple[str, ...]]]:
    """``(name, source text, grade options)`` of every subject, built from ``repo``'s files."""
    sys.path.insert(0, str(repo / "tests"))
    from bugs import BUGS   # noqa: E402 - the bank of the checkout being captured

    solution = (repo / "solution.py").read_text()
    found = [("solution", solution, ()),
             ("solution_experiments", solution, ("--parts", "experiments")),
             ("template", (repo / "template" / "solution.py").read_text(), ())]
    part_of = json.loads(subprocess.run(
        [sys.executable, "-c", "import json; from grader.rubric import RUBRIC; "
         "print(json.dumps({row.test: row.part for row in RUBRIC}))"],
        cwd=repo, capture_output=True, text=True, check=True).stdout)
    for bug in BUGS:
        text = solution
        for old, new in bug.replacements:
            text = text.replace(old, new, 1)
        parts = [bug.part] + [part_of[test] for test, _ in bug.also if part_of[test] != bug.part]
        found.append((f"bug_{bug.name}", text, ("--parts", ",".join(dict.fromkeys(parts)))))
    for path in sorted((repo / "tests" / "submissions").rglob("*.py")):
        relative = path.relative_to(repo / "tests" / "submissions").with_suffix("")
        name = "submission_" + "_".join(relative.parts)
        found.append((name, path.read_text(), ()))
    return found


def capture(out: Path, repo: Path, only: list[str]) -> int:
    out.mkdir(parents=True, exist_ok=True)
    todo = [s for s in subjects(repo) if not only or any(word in s[0] for word in only)]
    with tempfile.TemporaryDirectory() as scratch:
        for number, (name, text, options) in enumerate(todo, start=1):
            target = out / f"{name}.json"
            if target.is_file():
                continue
            folder = Path(scratch) / name
            folder.mkdir()
            (folder / "solution.py").write_text(text)
            results = folder / "results.json"
            started = time.monotonic()
            process = subprocess.run(
                [sys.executable, "-m", "grader", "grade", str(folder / "solution.py"),
                 "--results-json", str(results), *options],
                cwd=repo, capture_output=True, text=True)
            data = json.loads(results.read_text()) if results.is_file() else {
                "no results.json": process.stdout[-2000:] + process.stderr[-2000:]}
            record = {"exit": process.returncode, "results": normalized(data, repo)}
            target.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
            print(f"[{number}/{len(todo)}] {name}: exit {process.returncode}, score "
                  f"{data.get('score')} / {data.get('max_score')} "
                  f"({time.monotonic() - started:.0f} s)", flush=True)
    return 0


RANDOM_SUBJECTS = ("solution_experiments",)
"""Subjects whose gradings draw fresh seeds each run (the experiments part: its checks are
statistics chosen to hold over seeds, its figures and noted values are not): compared by their
scores and statuses only."""


FRESH_SEED_TESTS = ("test_mnist_cnn_learns", "test_cats_dogs_learns")
"""Rows that draw fresh seeds every grading (held-out perturbations, images, initial weights):
their scores and statuses are compared, their messages with every number replaced by N. The
top-level output, the score table, repeats the rows' messages, so it is compared the same way
(every row's own score and message are compared above it)."""
_NUMBER = re.compile(r"\d+(\.\d+)?")


def without_fresh_seeds(record: dict) -> dict:
    results = record["results"]
    if "output" in results:
        results["output"] = _NUMBER.sub("N", results["output"])
    for test in results.get("tests", []):
        if test.get("extra_data", {}).get("test") in FRESH_SEED_TESTS:
            test["output"] = _NUMBER.sub("N", test["output"])
    return record


def verdicts_only(record: dict) -> dict:
    results = record["results"]
    return {"exit": record["exit"], "score": results.get("score"),
            "tests": [(t["name"], t["score"], t["extra_data"].get("status"))
                      for t in results.get("tests", [])]}


def diff(before: Path, after: Path, context_lines: int = 12) -> int:
    names = sorted({p.name for p in before.glob("*.json")} & {p.name for p in after.glob("*.json")})
    changed = 0
    for name in names:
        a = json.loads((before / name).read_text())
        b = json.loads((after / name).read_text())
        if name.removesuffix(".json") in RANDOM_SUBJECTS:
            a, b = verdicts_only(a), verdicts_only(b)
        else:
            a, b = without_fresh_seeds(a), without_fresh_seeds(b)
        if a == b:
            continue
        changed += 1
        lines = list(difflib.unified_diff(json.dumps(a, indent=1, sort_keys=True).splitlines(),
                                          json.dumps(b, indent=1, sort_keys=True).splitlines(),
                                          "before", "after", lineterm="", n=1))
        print(f"== {name}: differs")
        print("\n".join(line[:300] for line in lines[:context_lines]))
    only = sorted({p.name for p in before.glob("*.json")} ^ {p.name for p in after.glob("*.json")})
    print(f"{len(names)} subjects compared, {changed} differ"
          + (f"; in one capture only: {', '.join(only)}" if only else ""))
    return 1 if changed else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    take = commands.add_parser("capture")
    take.add_argument("out")
    take.add_argument("--repo", default=str(HERE))
    take.add_argument("--only", nargs="*", default=[])
    compare = commands.add_parser("diff")
    compare.add_argument("before")
    compare.add_argument("after")
    args = parser.parse_args(argv)
    if args.command == "capture":
        return capture(Path(args.out).resolve(), Path(args.repo).resolve(), args.only)
    return diff(Path(args.before), Path(args.after))


if __name__ == "__main__":
    sys.exit(main())
