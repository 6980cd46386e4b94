"""Benchmark (not a test): wall time of grading the worked solution with the full suite.

Run: ``python benchmarks/grade_suite.py [--runs 5]``. Reports the whole command (interpreter and
torch start-up included, as a student experiences ``pytest grader``) and the time pytest spends
in the tests themselves (from results.json's execution_time).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--submission", default=str(REPOSITORY / "solution.py"))
    parser.add_argument("--parts", default=None,
                        help="only these parts, e.g. the NN part: init,activations,softmax,forward,"
                             "loss,backward,update,train_loop,finite_difference")
    args = parser.parse_args()
    selection = ["--parts", args.parts] if args.parts else []
    walls, inside = [], []
    with tempfile.TemporaryDirectory() as folder:
        results = Path(folder) / "results.json"
        for _ in range(args.runs):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "grader", "grade", args.submission,
                            "--results-json", str(results), *selection], cwd=REPOSITORY,
                           stdout=subprocess.DEVNULL, check=False)
            walls.append(time.perf_counter() - started)
            data = json.loads(results.read_text())
            inside.append(data["execution_time"])
    what = f"parts {args.parts}" if args.parts else "the full suite"
    print(f"{what} on {args.submission} ({len(data['tests'])} tests, {args.runs} runs)")
    print(f"  command wall time: median {statistics.median(walls):.2f} s "
          f"(min {min(walls):.2f}, max {max(walls):.2f})")
    print(f"  inside pytest:     median {statistics.median(inside):.2f} s")


if __name__ == "__main__":
    main()
