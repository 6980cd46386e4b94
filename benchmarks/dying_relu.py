"""Benchmark (not a test): the dying-ReLU study's batched training of 1,000 networks, on one thread.

Run: ``python benchmarks/dying_relu.py [--runs 1000] [--epochs 20] [--slope 0] [--seed 0]``.

Trains ``--runs`` networks 1-2x10-1 (relu, or leaky relu with ``--slope``) at once, as the study
does at its default scale (``report.studies.dying_relu``: He-normal weights, Adam, batch 64, 3,000
points, float64), and prints the CPU seconds (``time.process_time``) and the wall-clock seconds of
the whole thing (data, initialization, minibatch orders, training, evaluation) and the fraction of
runs that collapsed. The target: 1,000 runs in at most 60 CPU seconds.
"""
from __future__ import annotations

import os

# Before torch is imported: the BLAS and OpenMP libraries read these once, when they load.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))   # run as a script from anywhere: this checkout's report package

from report.studies import dying_relu  # noqa: E402


def main() -> None:
    defaults = dying_relu.Config.at_scale("default")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=defaults.runs)
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--slope", type=float, default=0.0, help="negative slope (0: relu)")
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    torch.set_num_threads(1)
    config = dataclasses.replace(defaults, runs=arguments.runs, epochs=arguments.epochs)
    cpu, wall = time.process_time(), time.perf_counter()
    result = dying_relu.run_activation(config, arguments.slope, arguments.seed)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"{config.runs} runs x {config.epochs} epochs (slope {arguments.slope:g}, {config.dtype}, "
          "1 thread): "
          f"{cpu:.1f} CPU s, {wall:.1f} wall s; collapsed {float(result['collapsed'].double().mean()):.3f}, "
          f"constant at initialization {float(result['dead_at_start'].double().mean()):.3f}")
    print("within the 60 CPU s budget" if cpu <= 60 else "OVER the 60 CPU s budget")


if __name__ == "__main__":
    main()
