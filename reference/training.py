"""A plain PyTorch training loop for the CNN experiments and benchmarks: GPU when present,
a progress bar per epoch, and a history of loss, accuracy and speed.

(The grader trains students' networks with its own short loop inside the worker process,
``grader/isolation/inside/worker_cnn.py``, which cannot import this package.)
"""
from __future__ import annotations

import time

import torch


def pick_device() -> torch.device:
    """The first GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def train_epoch(model, loader, optimizer, device=None, progress: bool = True,
                description: str = "train") -> dict:
    """One pass over ``loader`` (batches of ``(images (B, ...), labels (B,))``) with
    cross-entropy. Returns ``{"loss", "accuracy", "images", "seconds", "images_per_second"}``."""
    device = device or pick_device()
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    batches = loader
    if progress:
        from tqdm import tqdm

        batches = tqdm(loader, desc=description, unit="batch", leave=False)
    started = time.perf_counter()
    for images, labels in batches:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        logits = model(images)
        loss = torch.nn.functional.cross_entropy(logits, labels)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(labels)
        correct += int((logits.argmax(dim=1) == labels).sum())
        seen += len(labels)
        if progress:
            batches.set_postfix(loss=f"{total_loss / seen:.3f}")
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - started
    return {"loss": total_loss / max(seen, 1), "accuracy": correct / max(seen, 1), "images": seen,
            "seconds": seconds, "images_per_second": seen / seconds if seconds > 0 else float("inf")}


def evaluate(model, loader, device=None) -> dict:
    """``{"loss", "accuracy"}`` of ``model`` in evaluation mode over ``loader``."""
    device = device or pick_device()
    model.eval()
    total_loss, correct, seen = 0.0, 0, 0
    with torch.no_grad():
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            logits = model(images)
            total_loss += float(torch.nn.functional.cross_entropy(logits, labels, reduction="sum"))
            correct += int((logits.argmax(dim=1) == labels).sum())
            seen += len(labels)
    return {"loss": total_loss / max(seen, 1), "accuracy": correct / max(seen, 1)}


def fit(model, train_loader, optimizer, epochs: int, valid_loader=None, device=None,
        progress: bool = True) -> list[dict]:
    """Train for ``epochs`` epochs; one history entry per epoch (training figures, plus
    ``valid_loss`` / ``valid_accuracy`` when a validation loader is given)."""
    device = device or pick_device()
    model.to(device)
    history = []
    for epoch in range(1, epochs + 1):
        entry = {"epoch": epoch, **train_epoch(model, train_loader, optimizer, device, progress,
                                               f"epoch {epoch}/{epochs}")}
        if valid_loader is not None:
            entry.update({f"valid_{k}": v for k, v in evaluate(model, valid_loader, device).items()})
        history.append(entry)
    return history
