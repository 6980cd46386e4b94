"""Study 6, diagnostics of a trained ``NN``: what its layers hold, where it errs, what its last
hidden layer separates, and whether it can memorize random labels.

- per-layer histograms of the hidden activations, the weights and the update/weight ratios of one
  SGD step (``|lr * dW| / |W|`` per entry: around 1e-3 is the usual healthy size);
- the confusion matrix on the validation digits;
- a t-SNE (scikit-learn's ``TSNE``) of the last hidden layer's activations, by class;
- a memorization curve: the same network trained on the training digits with shuffled labels,
  whose training accuracy rises above chance only by memorizing (Zhang et al., 2017).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from report.studies.common import as_floats, mlp_parameters, mnist_for

NAME = "diagnostics"
TITLE = "6. Diagnostics"
QUESTION = ("What do the trained network's layers hold, which digits does it confuse, what does its "
            "last hidden layer separate, and can it memorize random labels?")
SMOKE_CAVEAT = ('one epoch on 1,000 digits: the histograms, ratios and confusion matrix are those of '
                'a barely trained network.')
"""What a smoke run of this study cannot show: the report says so beside its figures."""
SAMPLE = 4000   # values per histogram kept in the logs


@dataclass
class Config:
    hidden_dims: tuple = (512, 256)
    lr: float = 0.1
    batch_size: int = 64
    epochs: int = 10
    memorize_epochs: int = 30
    memorize_size: int = 1000
    tsne_points: int = 1000
    train_size: int | None = None
    seed: int = 0

    @classmethod
    def at_scale(cls, scale: str) -> Config:
        if scale == "smoke":
            return cls(epochs=1, memorize_epochs=3, memorize_size=300, tsne_points=200, train_size=1000)
        if scale == "full":
            return cls(memorize_epochs=100, memorize_size=5000, tsne_points=2000)
        return cls()


def _sample(values, rng) -> list[float]:
    values = np.asarray(values, dtype=float).ravel()
    if values.size > SAMPLE:
        values = rng.choice(values, size=SAMPLE, replace=False)
    return as_floats(values)


def run(config: Config, context) -> dict:
    data, source = mnist_for(context, config.train_size)
    rng = np.random.default_rng(config.seed)
    n_layers = len(config.hidden_dims) + 1

    network = context.solution.NN(hidden_dims=tuple(config.hidden_dims), lr=config.lr,
                                  batch_size=config.batch_size, seed=config.seed, activation="relu",
                                  init_method="glorot", data=data)
    network.train_loop(config.epochs)
    x_valid, y_valid = data[1]
    cache = network.forward(x_valid)
    layers = {}
    before = {key: np.array(value, copy=True) for key, value in network.weights.items()}
    x_batch, y_batch = data[0][0][:config.batch_size], data[0][1][:config.batch_size]
    network.update(network.backward(network.forward(x_batch), y_batch))   # one step, to measure it
    for layer in range(1, n_layers + 1):
        weight = before[f"W{layer}"]
        change = np.asarray(network.weights[f"W{layer}"], dtype=float) - weight
        ratio = np.abs(change[weight != 0]) / np.abs(weight[weight != 0])
        layers[f"layer {layer}"] = {
            "weights": _sample(weight, rng), "update_ratio": _sample(ratio[ratio > 0], rng),
            "activations": _sample(cache[f"Z{layer}"], rng) if layer < n_layers else [],
            "dead_fraction": (float(np.mean(np.all(cache[f"Z{layer}"] <= 0, axis=0)))
                              if layer < n_layers else 0.0)}
    network.weights = before

    truth = np.argmax(y_valid, axis=1)
    predicted = np.argmax(cache[f"Z{n_layers}"], axis=1)
    confusion = np.zeros((10, 10), dtype=int)
    np.add.at(confusion, (truth, predicted), 1)

    tsne = None
    chosen = rng.choice(len(truth), size=min(config.tsne_points, len(truth)), replace=False)
    try:
        from sklearn.manifold import TSNE
    except ImportError:
        context.notes.append("No t-SNE: scikit-learn is not installed (pip install 'nngrade[report]').")
    else:
        hidden = np.asarray(cache[f"Z{n_layers - 1}"], dtype=float)[chosen]
        embedded = TSNE(n_components=2, perplexity=min(30.0, (len(chosen) - 1) / 3), init="pca",
                        random_state=config.seed).fit_transform(hidden)
        tsne = {"points": [as_floats(row) for row in embedded], "labels": [int(v) for v in truth[chosen]]}

    memorize = {}
    size = min(config.memorize_size, len(data[0][0]))
    x_small, y_small = data[0][0][:size], data[0][1][:size]
    shuffled = y_small[rng.permutation(size)]
    for name, labels in context.progress((("true labels", y_small), ("random labels", shuffled)),
                                         total=2, desc="memorization"):
        small = context.solution.NN(hidden_dims=tuple(config.hidden_dims), lr=config.lr,
                                    batch_size=config.batch_size, seed=config.seed, activation="relu",
                                    init_method="glorot", data=((x_small, labels), (x_small, labels),
                                                                (x_small, labels)))
        memorize[name] = as_floats(small.train_loop(config.memorize_epochs)["train_accuracy"])
    accuracy = float(np.mean(truth == predicted))
    dims = [x_valid.shape[1], *config.hidden_dims, 10]
    return {"layers": layers, "confusion": confusion.tolist(), "tsne": tsne, "memorize": memorize,
            "validation_accuracy": accuracy, "dims": dims, "parameters": mlp_parameters(dims),
            "lr": config.lr, "batch_size": config.batch_size, "epochs": config.epochs,
            "memorize_epochs": config.memorize_epochs, "memorize_size": size, "seed": config.seed,
            "data": source, "train_size": int(len(data[0][0]))}


def plot(logs: dict) -> dict:
    from report import plots

    layers = logs["layers"]
    activations = {name: {"activation": layer["activations"]} for name, layer in layers.items()
                   if layer["activations"]}
    figures = {
        "activations": plots.histograms(activations,
                                        title="Hidden activations on the validation digits (after relu)",
                                        xlabel="activation"),
        "weights": plots.histograms({name: {"weight": layer["weights"]} for name, layer in layers.items()},
                                    title="Weights after training", xlabel="weight"),
        "update_ratios": plots.histograms(
            {name: {"|lr dW| / |W|": layer["update_ratio"]} for name, layer in layers.items()},
            title="Update/weight ratio of one SGD step, per entry", xlabel="update / weight", logx=True),
        "confusion": plots.heatmap(logs["confusion"], title="Confusion matrix (validation digits)",
                                   xlabel="predicted digit", ylabel="true digit",
                                   ticks=[str(d) for d in range(10)], colorbar_label="digits"),
    }
    if logs["tsne"]:
        figures["tsne"] = plots.scatter_figure(logs["tsne"]["points"], logs["tsne"]["labels"],
                                               title="t-SNE of the last hidden layer (validation digits)",
                                               xlabel="t-SNE 1 (no unit)", ylabel="t-SNE 2 (no unit)")
    epochs = list(range(1, logs["memorize_epochs"] + 1))
    figures["memorization"] = plots.line_figure(
        {name: (epochs, values) for name, values in logs["memorize"].items()},
        title=f"Memorization: training accuracy on {logs['memorize_size']:,} digits",
        xlabel="epoch", ylabel="training accuracy (fraction correct)", hline=(0.1, "chance (1 in 10)"))
    return figures


def table(logs: dict) -> tuple:
    rows = []
    for name, layer in logs["layers"].items():
        ratio = np.median(layer["update_ratio"]) if layer["update_ratio"] else float("nan")
        rows.append((name, f"{np.std(layer['weights']):.4f}", f"{ratio:.2e}",
                     f"{100 * layer['dead_fraction']:.1f} %" if layer["activations"] else "(output)"))
    rows.append(("validation accuracy", f"{100 * logs['validation_accuracy']:.2f} %", "", ""))
    for name, values in logs["memorize"].items():
        rows.append((f"memorization, {name}", f"{100 * values[-1]:.1f} % after {len(values)} epochs", "", ""))
    return ("layer / measure", "weight std / value", "median update/weight", "units never active"), rows


def describe(logs: dict) -> dict:
    return {"architecture": "-".join(map(str, logs["dims"])) + " (relu, Glorot)",
            "parameters": f"{logs['parameters']:,}", "optimizer": f"SGD, learning rate {logs['lr']:g}",
            "batch size": logs["batch_size"], "epochs": logs["epochs"],
            "memorization": f"{logs['memorize_size']:,} digits, {logs['memorize_epochs']} epochs",
            "seed": logs["seed"], "data": f"{logs['data']} ({logs['train_size']:,} training digits)"}
