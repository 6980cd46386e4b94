"""Benchmark (not a test): what the similarity report adds to a batch of 50 (issue 27).

Run: ``python benchmarks/similarity.py [--students 50] [--runs 3]``. It builds the synthetic
class of ``tests/similarity_class.py`` (9 students, a reference) and grows it to ``--students``
with renamed variants of its files (each a copy of one of them, as a class with many copies
would be, which is the slow case: more matching regions to mark). Then it times, median of
``--runs``, what the batch does after grading when the report is on: the comparison of every
pair (``similarity.compare``, the template as boilerplate, the reference against every file)
and the writing of similarity.html, similarity.json and the side-by-side views. It prints the
number of pairs, how many were shown and flagged, and the seconds; the header says which
machine it was.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

from grader.batch import similarity  # noqa: E402
from tests import similarity_class  # noqa: E402


def grown_class(folder: Path, students: int) -> tuple[dict[str, str], dict[str, str]]:
    similarity_class.build(folder)
    base = {path.stem: path.read_text() for path in sorted((folder / "class").glob("*.py"))}
    texts = dict(base)
    names = sorted(base)
    index = 0
    while len(texts) < students:
        source = names[index % len(names)]
        texts[f"{source}_v{index}"] = similarity_class.renamed(base[source], prefix=f"s{index}")
        index += 1
    references = {"github_public.py": (folder / "reference" / "github_public.py").read_text()}
    return texts, references


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                  .splitlines() if line.startswith("model name")), platform.processor())
    print(f"{model}, {len(os.sched_getaffinity(0))} cores, load average "
          f"{os.getloadavg()[0]:.2f}; Python {platform.python_version()}")
    template = similarity_class.TEMPLATE.read_text()
    compared, written = [], []
    with tempfile.TemporaryDirectory(prefix="nngrade-similarity-") as scratch:
        texts, references = grown_class(Path(scratch) / "class", args.students)
        for run in range(args.runs):
            started = time.perf_counter()
            report = similarity.compare(texts, template, references)
            compared.append(time.perf_counter() - started)
            started = time.perf_counter()
            similarity.write(Path(scratch) / f"out{run}", report, "benchmark")
            written.append(time.perf_counter() - started)
    shown = sum(pair.score >= similarity.SHOW_AT for pair in report.pairs)
    print(f"{len(texts)} students ({len(report.texts)} distinct files), {len(report.pairs)} pairs "
          f"(references included), {shown} shown, {len(report.flagged())} flagged")
    print(f"compare: {statistics.median(compared):.2f} s, write: {statistics.median(written):.2f} s "
          f"(median of {args.runs}; min-max compare {min(compared):.2f}-{max(compared):.2f} s)")


if __name__ == "__main__":
    main()
