"""Benchmark (not a test): one training epoch of the worked numpy NN against the same network in
PyTorch on the CPU, in float32 and float64, one thread each.

Run: ``python benchmarks/numpy_vs_torch.py [--repeats 5] [--dtypes float32 float64]
[--submission solution.py]``.

The network is 784-512-256-10 with relu, trained by plain SGD (lr 0.01, batch 64) for one epoch
over 50,000 random samples shaped like MNIST (pixels in [0, 1), one-hot labels), both in the
dtype of the run. The numpy side is the submission's ``NN``: ``initialize_weights`` (glorot),
its weights cast to the run's dtype, then ``forward``, ``backward`` and ``update`` per minibatch
(the body of ``train_loop``, without its end-of-epoch evaluation). The torch side is
``nn.Sequential`` of ``nn.Linear`` layers holding a copy of the same initial weights,
``F.cross_entropy`` and ``torch.optim.SGD``, fed the same minibatches in the same order by slicing
one tensor (no DataLoader). Each repeat times numpy then torch on fresh copies of one init.
The report gives, for wall-clock and for CPU seconds, the median of each side and the ratio
numpy / torch, and how far the two sets of weights ended apart after one step and after the
epoch (relative to the largest entry of each array: a check that both ran the same computation),
and last the time of one step's matrix products alone on each side: most of the work, done by
numpy's BLAS and by torch's, so a gap there is one that no change to the numpy code can close.

BLAS and OpenMP are limited to one thread through the environment before numpy is imported,
and ``torch.set_num_threads(1)``. The machine may be shared: the medians over repeats are the
numbers to read, not a single epoch.
"""
from __future__ import annotations

import os

# Before numpy (or torch) is imported: the BLAS libraries read these once, when they load.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

REPOSITORY = Path(__file__).resolve().parent.parent
DIMS = (784, 512, 256, 10)
N_SAMPLES, BATCH_SIZE, LR = 50_000, 64, 0.01


def load_submission(path: str):
    spec = importlib.util.spec_from_file_location("submission", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def blas_description() -> str:
    """Which BLAS numpy calls (threadpoolctl when installed, else numpy.show_config) and torch's."""
    lines = []
    try:
        import threadpoolctl
    except ImportError:
        lines.append("numpy BLAS (threadpoolctl not installed; numpy.show_config follows):")
        np.show_config()
    else:
        for pool in threadpoolctl.threadpool_info():
            lines.append(f"threadpool: {pool.get('internal_api')} {pool.get('version') or ''} "
                         f"architecture={pool.get('architecture', '-')} "
                         f"threads={pool.get('num_threads')} ({Path(pool['filepath']).name})")
    blas = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
    lines.append(f"torch {torch.__version__}: BLAS_INFO={blas.group(1) if blas else '?'}, "
                 f"CPU capability {torch.backends.cpu.get_cpu_capability()}, "
                 f"{torch.get_num_threads()} thread(s)")
    lines.append(f"numpy {np.__version__}; OPENBLAS_CORETYPE="
                 f"{os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    return "\n".join(lines)


def random_mnist_like(dtype, seed: int = 0):
    """``(X (N, 784), Y one-hot (N, 10), y (N,) int)`` with X in [0, 1), X and Y of ``dtype``."""
    rng = np.random.default_rng(seed)
    x = rng.random((N_SAMPLES, DIMS[0]), dtype=np.float32).astype(dtype)
    y = rng.integers(0, DIMS[-1], size=N_SAMPLES)
    return x, np.eye(DIMS[-1], dtype=dtype)[y], y


def initial_weights(submission, data, seed: int, dtype) -> dict:
    """The submission's glorot init for ``DIMS``, cast to ``dtype``."""
    network = submission.NN(hidden_dims=DIMS[1:-1], lr=LR, batch_size=BATCH_SIZE, seed=seed,
                            activation="relu", init_method="glorot", data=data)
    network.initialize_weights([DIMS[0], DIMS[-1]])
    return {k: v.astype(dtype) for k, v in network.weights.items()}


class Stopwatch:
    """Wall-clock and CPU seconds (of this process, all threads) of a ``with`` block. On a shared
    machine the CPU seconds are the steadier measure: time spent waiting for a core is not in
    them, and with one BLAS thread they are the work itself."""

    def __enter__(self):
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def numpy_epoch(submission, data, weights: dict, n_batches: int) -> tuple[Stopwatch, dict]:
    """Times ``n_batches`` minibatch steps of the submission's NN from a copy of ``weights``;
    returns the times and the final weights."""
    network = submission.NN(hidden_dims=DIMS[1:-1], lr=LR, batch_size=BATCH_SIZE, data=data)
    network.weights = {k: v.copy() for k, v in weights.items()}
    x, y = data[0]
    with Stopwatch() as clock:
        for batch in range(n_batches):
            rows = slice(BATCH_SIZE * batch, BATCH_SIZE * (batch + 1))
            cache = network.forward(x[rows])
            grads = network.backward(cache, y[rows])
            network.update(grads)
    return clock, network.weights


def torch_epoch(x: torch.Tensor, y: torch.Tensor, weights: dict, n_batches: int) -> tuple[Stopwatch, dict]:
    """The same steps in torch from a copy of ``weights`` (W{l} is (d_in, d_out), torch's is its
    transpose); returns the times and the final weights in the numpy layout."""
    layers = [torch.nn.Linear(d_in, d_out, dtype=x.dtype)
              for d_in, d_out in zip(DIMS[:-1], DIMS[1:], strict=True)]
    with torch.no_grad():
        for number, layer in enumerate(layers, start=1):
            layer.weight.copy_(torch.from_numpy(weights[f"W{number}"].T))
            layer.bias.copy_(torch.from_numpy(weights[f"b{number}"][0]))
    model = torch.nn.Sequential(layers[0], torch.nn.ReLU(), layers[1], torch.nn.ReLU(), layers[2])
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    with Stopwatch() as clock:
        for batch in range(n_batches):
            rows = slice(BATCH_SIZE * batch, BATCH_SIZE * (batch + 1))
            optimizer.zero_grad()
            F.cross_entropy(model(x[rows]), y[rows]).backward()
            optimizer.step()
    final = {}
    for number, layer in enumerate(layers, start=1):
        final[f"W{number}"] = layer.weight.detach().numpy().T
        final[f"b{number}"] = layer.bias.detach().numpy()[None, :]
    return clock, final


def max_relative_difference(a: dict, b: dict) -> float:
    """Largest ``|a - b| / max|b|`` over the weight matrices and biases."""
    return max(float(np.max(np.abs(a[k].astype(np.float64) - b[k])) / np.max(np.abs(b[k])))
               for k in b)


def matrix_products(dtype, calls: int = 200) -> tuple[float, float]:
    """CPU microseconds of the matrix products of one training step alone, numpy then torch.

    Each side's products in its own layout: numpy's W{l} is (d_in, d_out) (``Z @ W``,
    ``Z.T @ dA``, ``dA @ W.T``), torch's weight is (d_out, d_in) (``addmm`` forward, then
    ``dA.T @ Z`` and ``dA @ weight``); no input gradient for the first layer on either side.
    The products are most of an epoch's work and depend only on the two BLAS libraries."""
    rng = np.random.default_rng(0)
    z = [rng.random((BATCH_SIZE, d), dtype=np.float32).astype(dtype) for d in DIMS]  # Z0.. and dA..
    w = [rng.random((d_in, d_out), dtype=np.float32).astype(dtype)
         for d_in, d_out in zip(DIMS[:-1], DIMS[1:], strict=True)]
    t_z = [torch.from_numpy(a) for a in z]
    t_w = [torch.from_numpy(np.ascontiguousarray(a.T)) for a in w]
    t_b = [torch.zeros(d, dtype=t_z[0].dtype) for d in DIMS[1:]]
    numpy_products, torch_products = [], []
    for layer in range(len(w)):
        numpy_products += [lambda i=layer: z[i] @ w[i], lambda i=layer: z[i].T @ z[i + 1]]
        torch_products += [lambda i=layer: torch.addmm(t_b[i], t_z[i], t_w[i].t()),
                           lambda i=layer: t_z[i + 1].t() @ t_z[i]]
        if layer > 0:
            numpy_products.append(lambda i=layer: z[i + 1] @ w[i].T)
            torch_products.append(lambda i=layer: t_z[i + 1] @ t_w[i])
    seconds = []
    for products in (numpy_products, torch_products):
        for product in products:
            product()
        start = time.process_time()
        for _ in range(calls):
            for product in products:
                product()
        seconds.append((time.process_time() - start) / calls * 1e6)
    return seconds[0], seconds[1]


def run(submission, dtype, repeats: int) -> dict:
    """Times ``repeats`` epochs of each side in ``dtype``; returns medians, ratios and checks."""
    x, onehot, labels = random_mnist_like(dtype)
    data = ((x, onehot), (x[:BATCH_SIZE], onehot[:BATCH_SIZE]), (x[:BATCH_SIZE], onehot[:BATCH_SIZE]))
    x_torch, y_torch = torch.from_numpy(x), torch.from_numpy(labels)
    n_batches = -(-N_SAMPLES // BATCH_SIZE)
    # Warm-up: loads the BLAS kernels and lets the allocators settle before anything is timed.
    warm = initial_weights(submission, data, seed=0, dtype=dtype)
    numpy_epoch(submission, data, warm, 20)
    torch_epoch(x_torch, y_torch, warm, 20)
    # One step from the same init: both sides must agree to rounding. Over a whole epoch float32
    # runs drift further apart (relu units near 0 flip on one side and not the other).
    one_step = max_relative_difference(numpy_epoch(submission, data, warm, 1)[1],
                                       torch_epoch(x_torch, y_torch, warm, 1)[1])
    times = {"numpy": [], "torch": []}
    differences, dtypes = [], set()
    for repeat in range(repeats):
        weights = initial_weights(submission, data, seed=repeat, dtype=dtype)
        clock_np, final_np = numpy_epoch(submission, data, weights, n_batches)
        clock_torch, final_torch = torch_epoch(x_torch, y_torch, weights, n_batches)
        times["numpy"].append(clock_np)
        times["torch"].append(clock_torch)
        differences.append(max_relative_difference(final_np, final_torch))
        dtypes |= {str(v.dtype) for v in final_np.values()}
        print(f"  {np.dtype(dtype).name} repeat {repeat + 1}: numpy {clock_np.wall:.3f} s "
              f"(CPU {clock_np.cpu:.3f}), torch {clock_torch.wall:.3f} s (CPU {clock_torch.cpu:.3f}), "
              f"ratio {clock_np.wall / clock_torch.wall:.2f} (CPU {clock_np.cpu / clock_torch.cpu:.2f})",
              flush=True)
    result = {"products": matrix_products(dtype), "one_step": one_step, "epoch": max(differences),
              "weights": "/".join(sorted(dtypes))}
    for kind in ("wall", "cpu"):
        numpy_s = [getattr(clock, kind) for clock in times["numpy"]]
        torch_s = [getattr(clock, kind) for clock in times["torch"]]
        result[kind] = (statistics.median(numpy_s), statistics.median(torch_s),
                        statistics.median(n / t for n, t in zip(numpy_s, torch_s, strict=True)))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"],
                        choices=["float32", "float64"])
    parser.add_argument("--submission", default=str(REPOSITORY / "solution.py"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    submission = load_submission(args.submission)
    print(blas_description())
    print(f"one epoch: {N_SAMPLES} samples, batch {BATCH_SIZE}, {'-'.join(map(str, DIMS))} relu, "
          f"SGD lr {LR}; {args.repeats} repeats; submission {args.submission}", flush=True)
    results = {name: run(submission, np.dtype(name).type, args.repeats) for name in args.dtypes}
    # Two ratios: of the medians, and the median of each repeat's own ratio ("paired": numpy and
    # torch run back to back there, so a neighbour's load on the shared machine hits both alike).
    print(f"medians over {args.repeats} repeats; wall-clock and CPU seconds of one epoch")
    print(f"{'dtype':8} {'clock':5} {'numpy s':>8} {'torch s':>8} {'numpy/torch':>11} {'paired':>7}  "
          f"{'numpy weights':13} {'diff 1 step':>11} {'diff epoch':>10}")
    for name, result in results.items():
        for kind in ("wall", "cpu"):
            numpy_s, torch_s, paired = result[kind]
            checks = (f"{result['weights']:13} {result['one_step']:11.1e} {result['epoch']:10.1e}"
                      if kind == "wall" else "")
            print(f"{name:8} {kind:5} {numpy_s:8.3f} {torch_s:8.3f} {numpy_s / torch_s:11.2f} "
                  f"{paired:7.2f}  {checks}")
    for name, result in results.items():
        numpy_us, torch_us = result["products"]
        print(f"{name}: the matrix products of one step alone take {numpy_us:.0f} us in numpy, "
              f"{torch_us:.0f} us in torch (ratio {numpy_us / torch_us:.2f}; CPU time)")


if __name__ == "__main__":
    main()
