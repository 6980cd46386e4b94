"""Benchmark (not a test): images per second of one MnistCNN training epoch on the bundled MNIST
digits (4,000 training images, batch 64, Adam), on the CPU unless --device says otherwise.

Run: ``python benchmarks/cnn_epoch.py [--runs 3] [--threads 1]``. Uses the worked solution's
MnistCNN (or --submission's) and ``reference.training.train_epoch``.
"""
from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))


def main() -> None:
    import torch

    from reference.data.mnist import load_mnist
    from reference.training import train_epoch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--submission", default=str(REPOSITORY / "solution.py"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = importlib.util.spec_from_file_location("submission", args.submission)
    submission = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(submission)
    train = load_mnist(seed=0).tensors("train")
    device = torch.device(args.device)
    rates = []
    for run in range(args.runs):
        torch.manual_seed(run)
        model = submission.MnistCNN().to(device)
        loader = torch.utils.data.DataLoader(train, batch_size=64, shuffle=True,
                                             generator=torch.Generator().manual_seed(run))
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        result = train_epoch(model, loader, optimizer, device, progress=False)
        rates.append(result["images_per_second"])
        print(f"  run {run + 1}: {result['images']} images in {result['seconds']:.2f} s, "
              f"{result['images_per_second']:.0f} images/s, loss {result['loss']:.3f}")
    print(f"MnistCNN, one epoch on {device} with {torch.get_num_threads()} thread(s): median "
          f"{statistics.median(rates):.0f} images/s over {args.runs} runs")


if __name__ == "__main__":
    main()
