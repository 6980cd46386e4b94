"""Study 5, dogs vs. cats: the student's ``CatsDogsCNN`` trained with their optimizer, and with two
others for comparison, then their Kaggle submission file.

Three settings train the same network from the same initial weights on the same batches in the
same order, so only the optimizer differs:

- ``yours``: ``make_cats_dogs_optimizer(model)`` as written;
- ``yours, lr / 10``: the same optimizer with every parameter group's learning rate divided by 10
  (is the student's rate larger than it needs to be, or is it what makes the network learn?);
- ``plain SGD``: ``torch.optim.SGD`` at a fixed learning rate, no momentum, no weight decay.

After each epoch the network is evaluated on the whole training and validation sets (evaluation
mode, no gradients). The network trained with the student's optimizer is then looked at: its first
convolution's kernels, that layer's feature maps for one image, the validation images it gets
most confidently wrong and those it is least sure of, and the Kaggle CSV that the student's
``write_kaggle_submission`` writes with it (``kaggle_submission.csv`` beside the logs).

Data: Kaggle's images under ``--data-root`` (``train/cat.0.jpg ...``, or ``Cat/`` and ``Dog/``);
without them, generated striped images (horizontal stripes for cats, vertical for dogs).
"""
from __future__ import annotations

import csv
import inspect
import time
from dataclasses import dataclass

import numpy as np

NAME = "cats_dogs"
TITLE = "5. Dogs vs. cats"
QUESTION = ("How does CatsDogsCNN learn with your optimizer, with a 10x smaller learning rate and with "
            "plain SGD, and what has it learned?")
SETTINGS = ("yours", "yours, lr / 10", "plain SGD")
SUBMISSION = "kaggle_submission.csv"


@dataclass
class Config:
    epochs: int = 10
    batch_size: int = 64
    baseline_lr: float = 0.1                  # plain SGD's learning rate
    generated: tuple = (5000, 1000, 1000)     # striped images (train, validation, CSV) without real data
    real_images: int | None = None            # labelled real images used (None: all)
    real_test_images: int | None = None       # Kaggle test images in the CSV (None: all)
    val_fraction: float = 0.2
    image_size: int = 64                      # CatsDogsCNN's input
    examples: int = 6                         # images per row of the misclassified / uncertain figure
    feature_maps: int = 11                    # channels shown beside the input image
    kernels: int = 32                         # first-layer kernels shown at most
    thumbnail: int = 32                       # images are stored in the logs at this size
    seed: int = 0

    @classmethod
    def at_scale(cls, scale: str) -> Config:
        if scale == "smoke":
            return cls(epochs=3, batch_size=16, generated=(128, 64, 32), real_images=400,
                       real_test_images=100)
        if scale == "default":
            return cls(epochs=4, batch_size=32, generated=(800, 200, 200), real_images=2000)
        return cls()


# ---- training ----------------------------------------------------------------------------------

def _optimizer(setting: str, model, solution, config: Config):
    import torch

    if setting == "plain SGD":
        return torch.optim.SGD(model.parameters(), lr=config.baseline_lr)
    optimizer = solution.make_cats_dogs_optimizer(model)
    if setting == "yours, lr / 10":
        for group in optimizer.param_groups:
            group["lr"] = group["lr"] / 10
    return optimizer


def describe_optimizer(optimizer) -> str:
    """``SGD(lr=0.05, momentum=0.9, weight_decay=0.0005)``: the class and the hyper-parameters of
    its first parameter group that differ from the class's defaults (the learning rate always)."""
    signature = inspect.signature(type(optimizer).__init__).parameters
    group = optimizer.param_groups[0]
    shown = []
    for key, value in group.items():
        default = signature[key].default if key in signature else inspect.Parameter.empty
        if key == "params" or (key != "lr" and _same(value, default)):
            continue
        shown.append(f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}")
    return f"{type(optimizer).__name__}({', '.join(shown)})"


def _same(value, default) -> bool:
    try:
        return bool(value == default)
    except (TypeError, RuntimeError, ValueError):   # tensors and other values without a plain ==
        return False


def _train(setting: str, data, config: Config, context, device):
    """Train a fresh CatsDogsCNN (initial weights fixed by the seed) with ``setting``; returns
    ``(model, record)``, the record holding the per-epoch curves."""
    import torch

    from reference.training import evaluate, train_epoch

    torch.manual_seed(config.seed)
    model = context.solution.CatsDogsCNN().to(device)
    optimizer = _optimizer(setting, model, context.solution, config)
    train = data.train.loader(config.batch_size, shuffle=True, seed=config.seed)
    measured_on = {"train": data.train.loader(256), "validation": data.valid.loader(256)}
    record = {"optimizer": describe_optimizer(optimizer),
              "learning_rates": sorted({float(group["lr"]) for group in optimizer.param_groups})}
    record.update({f"{split}_{quantity}": [] for split in measured_on for quantity in ("loss", "accuracy")})
    started = time.perf_counter()
    for _epoch in context.progress(range(config.epochs), desc=f"{setting}: epochs"):
        train_epoch(model, train, optimizer, device, progress=False)
        for split, loader in measured_on.items():
            measured = evaluate(model, loader, device)
            record[f"{split}_loss"].append(float(measured["loss"]))
            record[f"{split}_accuracy"].append(float(measured["accuracy"]))
    record["seconds"] = time.perf_counter() - started
    return model, record


# ---- what the trained network shows ------------------------------------------------------------

def _rounded(array, digits: int = 2) -> list:
    return np.round(np.asarray(array, dtype=float), digits).tolist()


def _scaled(array: np.ndarray) -> np.ndarray:
    """``array`` mapped to [0, 1] by its own minimum and maximum (a constant one to 0.5)."""
    low, high = float(array.min()), float(array.max())
    return (array - low) / (high - low) if high > low else np.full_like(array, 0.5)


def _thumbnail(image, size: int) -> list:
    """An image ``(3, S, S)`` tensor in [0, 1] as ``(size, size, 3)`` nested lists."""
    import torch

    small = torch.nn.functional.interpolate(image[None].float(), size=(size, size), mode="area")[0]
    return _rounded(small.permute(1, 2, 0).clamp(0, 1).cpu().numpy())


def _first_convolution(model):
    """``(name, module)`` of the first ``torch.nn.Conv2d`` registered in ``model``, or None."""
    import torch

    return next(((name, module) for name, module in model.named_modules()
                 if isinstance(module, torch.nn.Conv2d)), None)


def _kernels(convolution, initial, count: int) -> dict:
    """The first ``count`` kernels, each scaled to [0, 1]: RGB when the layer reads 3 channels,
    else the mean over its input channels; and how far training moved the layer's weights from
    ``initial`` (``|W - W0| / |W0|``, Frobenius norms)."""
    name, layer = convolution
    weights = layer.weight.detach().cpu().numpy()
    shown = []
    for kernel in weights[:count]:
        picture = kernel.transpose(1, 2, 0) if kernel.shape[0] == 3 else kernel.mean(axis=0)
        shown.append(_rounded(_scaled(picture)))
    change = float(np.linalg.norm(weights - initial) / max(np.linalg.norm(initial), 1e-12))
    return {"layer": name, "shape": list(weights.shape), "images": shown, "relative_change": change}


def _initial_weights(context, config: Config, name: str) -> np.ndarray:
    """The weights of module ``name`` in a fresh CatsDogsCNN: those every setting started from
    (the seed fixes them)."""
    import torch

    torch.manual_seed(config.seed)
    return dict(context.solution.CatsDogsCNN().named_modules())[name].weight.detach().cpu().numpy()


def _feature_maps(model, convolution, image, label: int, p_dog: float, config: Config) -> dict:
    """The first convolution's output for ``image`` (3, S, S): its ``config.feature_maps``
    channels of largest spread, each scaled to [0, 1] and shrunk to the thumbnail size."""
    import torch

    name, layer = convolution
    captured = []
    hook = layer.register_forward_hook(lambda module, inputs, output: captured.append(output.detach()))
    try:
        model.eval()
        with torch.no_grad():
            model(image[None].to(next(model.parameters()).device))
    finally:
        hook.remove()
    maps = captured[0][0]                                     # (C, H, W)
    channels = torch.argsort(maps.flatten(1).std(dim=1), descending=True)[:config.feature_maps]
    shrunk = torch.nn.functional.interpolate(maps[channels][None], size=(config.thumbnail,) * 2,
                                             mode="area")[0].cpu().numpy()
    return {"layer": name, "channels": [int(c) for c in channels], "count": int(maps.shape[0]),
            "size": list(maps.shape[1:]), "input": _thumbnail(image, config.thumbnail),
            "label": label, "p_dog": p_dog, "maps": [_rounded(_scaled(m)) for m in shrunk]}


def _p_dog(model, images, device) -> np.ndarray:
    """P(dog) (softmax of the logits, class 1) for each of ``images`` (an ``Images``)."""
    import torch

    model.eval()
    chances = []
    with torch.no_grad():
        for batch, _ in images.loader(256):
            chances.append(torch.softmax(model(batch.to(device)), dim=1)[:, 1].cpu())
    return torch.cat(chances).numpy().astype(float)


def _examples(images, p_dog: np.ndarray, config: Config) -> dict:
    """The validation images misclassified with the highest confidence, and those nearest 50 %."""
    labels = images.targets.numpy()
    wrong = np.flatnonzero((p_dog > 0.5) != (labels == 1))
    confidently_wrong = wrong[np.argsort(-np.abs(p_dog[wrong] - 0.5), kind="stable")][:config.examples]
    uncertain = np.argsort(np.abs(p_dog - 0.5), kind="stable")[:config.examples]

    def entries(indices):
        return [{"image": _thumbnail(images.floats(int(i)), config.thumbnail), "label": int(labels[i]),
                 "p_dog": float(p_dog[i])} for i in indices]

    return {"misclassified": entries(confidently_wrong), "uncertain": entries(uncertain),
            "wrong": int(len(wrong)), "count": int(len(labels))}


# ---- the Kaggle CSV ----------------------------------------------------------------------------

def _read_submission(path, expected: int, labels: dict | None) -> dict:
    """What the student's CSV holds: its header, rows, whether ids are sorted, the range of the
    probabilities and (when the images' labels are known) the accuracy of ``label > 0.5``."""
    with open(path, newline="") as file:
        rows = list(csv.reader(file))
    header, body = (rows[0], rows[1:]) if rows else ([], [])
    ids, chances = [], []
    for row in body:
        try:
            ids.append(int(row[0]))
            chances.append(float(row[1]))
        except (ValueError, IndexError):
            continue   # counted below as a row that is not "id,probability"
    summary = {"file": path.name, "header": ",".join(header), "rows": len(body), "expected_rows": expected,
               "malformed_rows": len(body) - len(ids), "sorted": ids == sorted(ids),
               "p_min": min(chances) if chances else None, "p_max": max(chances) if chances else None,
               "accuracy": None}
    if labels and chances:
        right = [(p > 0.5) == (labels.get(i) == 1) for i, p in zip(ids, chances, strict=True) if i in labels]
        summary["accuracy"] = float(np.mean(right)) if right else None
    return summary


def _write_submission(model, data, context) -> dict:
    path = context.folder / SUBMISSION
    context.folder.mkdir(parents=True, exist_ok=True)
    context.solution.write_kaggle_submission(model, data.test, str(path))
    return _read_submission(path, data.test_count, data.test_labels)


# ---- the study ---------------------------------------------------------------------------------

def _data(config: Config, context):
    from report.studies.cats_dogs_data import find_root, generated, real

    root, why = find_root(context.data_root)
    if root is not None:
        data = real(root, config.real_images, config.real_test_images, config.val_fraction,
                    config.image_size, config.seed, config.batch_size, context.progress)
    else:
        data = generated(tuple(config.generated), config.image_size, config.seed, config.batch_size)
        context.notes.append(f"Data: {why}; so these are generated striped images, not cats and dogs "
                             "(pass --data-root with Kaggle's train/cat.0.jpg ... and test1/1.jpg ... "
                             "for the real ones).")
    context.notes.append(f"Data: {data.description}.")
    return data


def _parts_written(data, config: Config, context) -> None:
    """Call every part the study needs once, on an untrained network and two images, so that a
    part not written yet stops the study before minutes of training rather than after."""
    import torch

    from report.studies.cats_dogs_data import Images

    model = context.solution.CatsDogsCNN()
    context.solution.make_cats_dogs_optimizer(model)
    probe = Images(data.valid.images[:2], torch.arange(1, 3), labelled=False).loader(2)
    context.folder.mkdir(parents=True, exist_ok=True)
    context.solution.write_kaggle_submission(model, probe, str(context.folder / SUBMISSION))


def run(config: Config, context) -> dict:
    from reference.training import pick_device

    device = pick_device()
    data = _data(config, context)
    _parts_written(data, config, context)
    runs = {}
    for setting in SETTINGS:
        trained, runs[setting] = _train(setting, data, config, context, device)
        if setting == "yours":
            model = trained   # the network the figures and the CSV show
    parameters = int(sum(p.numel() for p in model.parameters() if p.requires_grad))
    submission = _write_submission(model, data, context)
    p_dog = _p_dog(model, data.valid, device)
    convolution = _first_convolution(model)
    logs = {"runs": runs, "parameters": parameters, "epochs": config.epochs, "batch_size": config.batch_size,
            "baseline_lr": config.baseline_lr, "seed": config.seed, "device": str(device),
            "data": {"source": data.source, "short": data.short, "train": len(data.train),
                     "validation": len(data.valid)},
            "submission": submission, "examples": _examples(data.valid, p_dog, config),
            "kernels": None, "feature_maps": None}
    if convolution is None:
        context.notes.append("CatsDogsCNN registers no torch.nn.Conv2d module, so its first layer's "
                             "kernels and feature maps are not shown.")
    else:
        initial = _initial_weights(context, config, convolution[0])
        logs["kernels"] = _kernels(convolution, initial, config.kernels)
        first = 0   # the feature maps' image: the first validation image
        logs["feature_maps"] = _feature_maps(model, convolution, data.valid.floats(first),
                                             int(data.valid.targets[first]), float(p_dog[first]), config)
    context.notes.append(_submission_note(submission))
    return logs


def _submission_note(summary: dict) -> str:
    note = (f"Kaggle CSV: {summary['file']} (beside the logs) has the header '{summary['header']}' and "
            f"{summary['rows']:,} rows for {summary['expected_rows']:,} images")
    if summary["p_min"] is not None:
        note += f"; P(dog) from {summary['p_min']:.3f} to {summary['p_max']:.3f}"
    if summary["accuracy"] is not None:
        note += f"; {summary['accuracy']:.1%} of its rows on the right side of 0.5"
    if summary["malformed_rows"]:
        note += f"; {summary['malformed_rows']} rows are not 'id,probability'"
    if not summary["sorted"]:
        note += "; its ids are not sorted"
    return note + "."


# ---- the section -------------------------------------------------------------------------------

CLASS_NAMES = ("cat", "dog")


def plot(logs: dict) -> dict:
    from report import plots

    figures = {}
    for quantity, unit in (("loss", "mean cross-entropy, nats"), ("accuracy", "fraction correct")):
        panels = [{"series": {setting: (list(range(1, len(run[f"{split}_{quantity}"]) + 1)),
                                        run[f"{split}_{quantity}"]) for setting, run in logs["runs"].items()},
                   "xlabel": "epoch", "ylabel": f"{quantity} ({unit})", "title": f"{name} set"}
                  for split, name in (("train", "training"), ("validation", "validation"))]
        # Log scale for the loss: once the stripes are learnt, the settings differ by orders of magnitude.
        title = f"CatsDogsCNN by optimizer: {quantity} per epoch"
        figures[quantity] = plots.panels_figure(panels, title=title, logy=quantity == "loss")
    kernels = logs["kernels"]
    if kernels:
        count, (out, inputs, height, width) = len(kernels["images"]), kernels["shape"]
        which = "RGB" if inputs == 3 else f"mean of {inputs} input channels"
        shown = f"the first {count} of {out}" if count < out else f"all {out}"
        figures["first_layer_kernels"] = plots.image_grid(
            [np.asarray(k) for k in kernels["images"]], [f"#{i + 1}" for i in range(count)], columns=8,
            title=f"Kernels of the first convolution ({kernels['layer']}): {shown}, {height}x{width}, "
                  f"{which}\neach scaled to its own range; training moved the layer's weights "
                  f"{100 * kernels['relative_change']:.0f} % from their initial values")
    maps = logs["feature_maps"]
    if maps:
        images = [np.asarray(maps["input"])] + [np.asarray(m) for m in maps["maps"]]
        captions = [f"a {CLASS_NAMES[maps['label']]}: P(dog) {maps['p_dog']:.2f}"]
        captions += [f"channel {c}" for c in maps["channels"]]
        figures["feature_maps"] = plots.image_grid(
            images, captions, columns=6,
            title=f"Feature maps of the first convolution ({maps['layer']}) for one validation image\n"
                  f"the {len(maps['channels'])} most varied of its {maps['count']} channels, each scaled "
                  "to its range")
    examples = logs["examples"]
    for key, title in (("misclassified", f"Misclassified with the highest confidence ({examples['wrong']} of "
                                         f"{examples['count']} validation images are wrong)"),
                       ("uncertain", "Validation images nearest P(dog) = 50 %")):
        if examples[key]:
            figures[key] = plots.image_grid(
                [np.asarray(e["image"]) for e in examples[key]],
                [f"a {CLASS_NAMES[e['label']]}: P(dog) {e['p_dog']:.2f}" for e in examples[key]],
                columns=len(examples[key]), title=title)
    return figures


def table(logs: dict) -> tuple:
    rows = []
    for setting, run in logs["runs"].items():
        best = int(np.argmax(run["validation_accuracy"]))
        percent = {key: f"{100 * run[key][-1]:.1f} %" for key in ("train_accuracy", "validation_accuracy")}
        rows.append((setting, f"{run['train_loss'][-1]:.3g}", f"{run['validation_loss'][-1]:.3g}",
                     percent["train_accuracy"], percent["validation_accuracy"],
                     f"{100 * run['validation_accuracy'][best]:.1f} % (epoch {best + 1})",
                     f"{run['seconds']:.1f} s"))
    headers = ("setting", "train loss", "valid loss", "train acc.", "valid acc.", "best valid acc.", "time")
    return headers, rows


def describe(logs: dict) -> dict:
    submission, runs = logs["submission"], logs["runs"]
    csv_text = f"{submission['rows']:,} rows for {submission['expected_rows']:,} images"
    if submission["accuracy"] is not None:
        csv_text += f"; {100 * submission['accuracy']:.1f} % correct (known labels)"
    return {"network": "your CatsDogsCNN, the same initial weights in every setting",
            "parameters": f"{logs['parameters']:,}",
            **{f"optimizer: {setting}": run["optimizer"] for setting, run in runs.items()},
            "batch size": logs["batch_size"], "epochs": logs["epochs"], "seed": logs["seed"],
            "device": logs["device"], "data": logs["data"]["short"], "Kaggle CSV": csv_text,
            "misclassified (yours)": f"{logs['examples']['wrong']} of {logs['examples']['count']} "
                                     "validation images"}
