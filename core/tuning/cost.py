"""What tuning costs on the parent's own task: top-1 accuracy on a labelled image set whose classes the model's
logits are (scikit-learn's digits, CIFAR-10), or, for a parent whose classes no labelled set here maps to (an
ImageNet network offline), the top-1 agreement of the tuned model with its parent on the benchmark's held-out
images (:func:`agreement`: from the tuning record, or measured by :func:`top1_agreement` for a record without it),
stated as such.

The labelled sets (:func:`load_task_set`):

- ``"digits"``: scikit-learn's ``load_digits`` (offline; 1797 8x8 grey images of 0-9, values 0-16 scaled to 0-255,
  as RGB). Its split is fixed: a permutation of the 1797 images by ``numpy.random.default_rng(0)``, the first
  :data:`DIGITS_TEST` are ``"test"``, the rest ``"train"``.
- ``"cifar10"``: CIFAR-10's python version (Krizhevsky 2009), the folder ``cifar-10-batches-py`` (``data_batch_1``
  to ``_5`` for ``"train"``, ``test_batch`` for ``"test"``, ``batches.meta`` for the class names) under ``root`` or
  ``<data home>/cifar10``. The pickles are read here as ``torchvision.datasets.CIFAR10`` reads them (latin-1
  pickles, ``data`` ``(n, 3072)`` uint8 in channel-major order, ``labels``, ``label_names``): torchvision's loader
  refuses any file whose md5 is not the published one's (even with ``download=False``), which a copy of a subset
  could not pass.

Images reach a model as PIL images through its own preprocessing (``model.preprocess``), as in scoring.

:func:`digits_network` trains, seeded, a small CNN on the digits training split (32x32 RGB inputs) in seconds on a
CPU: the worked example and the tests' parent with a real original task.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..checks import check_count, check_seed
from ..errors import ConfigError, DataFileError

__all__ = ["AGREEMENT", "DIGITS_TEST", "TASK_SETS", "TaskSet", "agreement", "digits_network", "load_task_set",
           "task_accuracy", "top1_agreement"]

TASK_SETS = ("digits", "cifar10")
AGREEMENT = "top-1 agreement with the parent"
DIGITS_TEST = 360
DIGITS_SIZE = 32
CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


@dataclass(frozen=True)
class TaskSet:
    """A labelled image set: ``images`` uint8 ``(n, height, width, 3)`` RGB, ``labels`` int64 ``(n,)`` indices into
    ``classes``."""

    dataset: str
    split: str
    images: np.ndarray
    labels: np.ndarray
    classes: list[str]

    def pil(self, index: int) -> Any:
        from PIL import Image

        return Image.fromarray(self.images[index], mode="RGB")


def _digits(split: str) -> TaskSet:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    order = np.random.default_rng(0).permutation(len(bunch.target))
    chosen = order[:DIGITS_TEST] if split == "test" else order[DIGITS_TEST:]
    grey = np.rint(bunch.images[chosen] * (255.0 / 16.0)).astype(np.uint8)
    return TaskSet("digits", split, np.repeat(grey[..., None], 3, axis=-1), bunch.target[chosen].astype(np.int64),
                   [str(c) for c in bunch.target_names])


def _cifar_folder(root: str | Path | None) -> Path:
    from ..data.home import data_home

    base = Path(root) if root is not None else data_home() / "cifar10"
    return base if base.name == CIFAR_FOLDER else base / CIFAR_FOLDER


def _unpickle(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            entry = pickle.load(f, encoding="latin1")
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file: say which
        raise DataFileError(f"{path} is not a CIFAR-10 batch (python pickle) file: {type(exc).__name__}: {exc}; "
                            f"extract {CIFAR_URL} again") from None
    if not isinstance(entry, dict):
        raise DataFileError(f"{path} holds a {type(entry).__name__}, not a CIFAR-10 batch (a dict); extract "
                            f"{CIFAR_URL} again")
    return entry


def _cifar10(root: str | Path | None, split: str) -> TaskSet:
    folder = _cifar_folder(root)
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    missing = [n for n in [*names, "batches.meta"] if not (folder / n).is_file()]
    if missing:
        raise DataFileError(f"CIFAR-10's {split} files are not all in {folder} (missing {', '.join(missing)}); "
                            f"download {CIFAR_URL} and extract it under "
                            f"{folder.parent} (it makes {CIFAR_FOLDER}/), or give its root (--task-root, root=)")
    data, labels = [], []
    for name in names:
        entry = _unpickle(folder / name)
        if "data" not in entry or "labels" not in entry:
            raise DataFileError(f"{folder / name} has keys {sorted(entry)}, not CIFAR-10's 'data' and 'labels'")
        array = np.asarray(entry["data"], dtype=np.uint8)
        if array.ndim != 2 or array.shape[1] != 3 * 32 * 32 or len(entry["labels"]) != array.shape[0]:
            raise DataFileError(f"{folder / name}: data of shape {array.shape} with {len(entry['labels'])} labels; "
                                "CIFAR-10 batches hold (n, 3072) uint8 and n labels")
        data.append(array)
        labels.extend(entry["labels"])
    meta = _unpickle(folder / "batches.meta")
    if "label_names" not in meta:
        raise DataFileError(f"{folder / 'batches.meta'} has keys {sorted(meta)}, not CIFAR-10's 'label_names'")
    classes = [str(c) for c in meta["label_names"]]
    images = np.vstack(data).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    target = np.asarray(labels, dtype=np.int64)
    if target.size and (target.min() < 0 or target.max() >= len(classes)):
        raise DataFileError(f"{folder}: labels run from {target.min()} to {target.max()} but batches.meta names "
                            f"{len(classes)} classes")
    return TaskSet("cifar10", split, np.ascontiguousarray(images), target, classes)


def load_task_set(dataset: str, *, root: str | Path | None = None, split: str = "test") -> TaskSet:
    """The labelled set ``dataset`` (``"digits"`` or ``"cifar10"``, module docstring), split ``"test"`` or
    ``"train"``. Raises ConfigError for another name or split, DataFileError for CIFAR-10 files that are missing
    (saying where they were looked for and how to get them) or not CIFAR-10's layout."""
    if dataset not in TASK_SETS:
        raise ConfigError(f"no labelled image set {dataset!r}; there are {', '.join(TASK_SETS)} (or measure top-1 "
                          "agreement with the parent: task 'agreement')")
    if split not in ("test", "train"):
        raise ConfigError(f"split {split!r} is not 'test' or 'train'")
    return _digits(split) if dataset == "digits" else _cifar10(root, split)


def _logits(model: Any, images: list[Any], *, batch_size: int, device: str | None) -> np.ndarray:
    import torch

    from ..device import pick_device
    from ..extraction.layers import first_tensor

    device_name = pick_device(device)
    module = model.module
    was_training = module.training
    module.eval()
    out = []
    try:
        with torch.no_grad():
            for i in range(0, len(images), batch_size):
                x = torch.stack([model.preprocess(im) for im in images[i:i + batch_size]]).float().to(device_name)
                out.append(first_tensor(module.to(device_name)(x)).float().cpu())
    finally:
        module.train(was_training)
    return torch.cat(out).numpy()


def task_accuracy(model: Any, dataset: str = "digits", *, root: str | Path | None = None, n: int | None = None,
                  split: str = "test", batch_size: int = 256, device: str | None = None) -> dict[str, Any]:
    """Top-1 accuracy of ``model`` (a brainbench TorchModel whose output is one logit per class of ``dataset``) on
    the first ``n`` images (all by default) of split ``split`` of ``dataset`` (:func:`load_task_set`):
    ``{"measure": "accuracy", "value", "n", "dataset", "split"}``. Raises ConfigError when the model's logits are
    not the set's classes (another count, or not one vector per image: an ImageNet parent has no mapping to digits
    or CIFAR-10; measure :func:`agreement` with the parent instead), and the errors of :func:`load_task_set`."""
    task = load_task_set(dataset, root=root, split=split)
    count = len(task.labels) if n is None else min(check_count(n, "n (images)"), len(task.labels))
    if count == 0:
        raise DataFileError(f"{dataset}'s {split} split holds no images")
    probe = _logits(model, [task.pil(0)], batch_size=1, device=device)
    if probe.ndim != 2 or probe.shape[1] != len(task.classes):
        raise ConfigError(f"{model.label} gives {tuple(probe.shape[1:])} outputs per image but {dataset} has "
                          f"{len(task.classes)} classes ({', '.join(task.classes[:10])}), so its logits do not map "
                          f"to them; measure {AGREEMENT} on the benchmark's held-out images instead (task "
                          "'agreement')")
    logits = _logits(model, [task.pil(i) for i in range(count)], batch_size=batch_size, device=device)
    value = float((logits.argmax(axis=1) == task.labels[:count]).mean())
    return {"measure": "accuracy", "value": value, "n": count, "dataset": dataset, "split": split}


def top1_agreement(model: Any, parent: Any, stimuli: Any, ids: list[str], *, batch_size: int = 64,
                   device: str | None = None) -> float:
    """The fraction of the stimuli ``ids`` of ``stimuli`` whose top-1 class ``model`` shares with ``parent`` (both
    brainbench TorchModels, each through its own preprocessing). Raises ConfigError when either output is not one
    logit vector per image, or the two differ in classes."""
    images = [stimuli.image(i) for i in ids]
    tuned = _logits(model, images, batch_size=batch_size, device=device)
    original = _logits(parent, images, batch_size=batch_size, device=device)
    if tuned.ndim != 2 or tuned.shape != original.shape:
        raise ConfigError(f"{model.label} gives {tuple(tuned.shape[1:])} outputs per image and {parent.label} "
                          f"{tuple(original.shape[1:])}: top-1 agreement needs the same class logits from both")
    return float((tuned.argmax(axis=1) == original.argmax(axis=1)).mean())


def agreement(record: dict[str, Any] | None, *, model: Any = None, parent: Any = None,
              device: str | None = None) -> dict[str, Any]:
    """The original-task cost of a tuned model without labels here: the fraction of its benchmark's held-out images
    whose top-1 class it shares with its parent, ``{"measure": "top-1 agreement with the parent", "value", "n",
    "dataset"}``; ``record`` is the tuning record (``None``: the parent itself, 1.0). LwF and Fastfood records of a
    classifier hold the value (``held_out.top1_agreement``); for a record without it (another tuner's, or one saved
    before Fastfood records carried it) it is measured here on the record's held-out stimulus ids, given the tuned ``model`` and its ``parent`` (:func:`top1_agreement`). Raises
    ConfigError for a record without it and no models to measure it with, or outputs that are not class logits."""
    if record is None:
        return {"measure": AGREEMENT, "value": 1.0, "n": None, "dataset": "held-out stimuli (the parent itself)"}
    ids = list(record["stimulus_ids"]["test"])
    held_out = record.get("held_out", {})
    if "top1_agreement" in held_out:
        value = float(held_out["top1_agreement"])
    elif model is not None and parent is not None:
        from ..registry.catalog import get_benchmark
        from ..registry.entries import get_dataset

        stimuli = get_dataset(get_benchmark(record["data"]).dataset).stimulus_set()
        value = top1_agreement(model, parent, stimuli, ids, device=device)
    else:
        raise ConfigError(f"this {record.get('tuner')} tuning record of {record.get('parent')!r} holds no top-1 "
                          "agreement with the parent; pass the tuned model and its parent (model=, parent=) to "
                          "measure it")
    return {"measure": AGREEMENT, "value": value, "n": len(ids), "dataset": f"{record['data']} held-out stimuli"}


_TRAINED: dict[tuple[int, int], dict[str, Any]] = {}


def _digits_module() -> Any:
    from torch import nn

    class DigitsNet(nn.Module):
        """Two conv blocks and a linear head: ``(batch, 3, 32, 32)`` -> ``(batch, 10)`` logits."""

        def __init__(self) -> None:
            super().__init__()
            self.block1 = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU())
            self.block2 = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
            self.block3 = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(32 * 4 * 4, 10))

        def forward(self, x: Any) -> Any:
            return self.head(self.block3(self.block2(self.block1(x))))

    return DigitsNet()


def digits_preprocess(image: Any) -> Any:
    """A PIL image -> ``(3, 32, 32)`` float32 tensor in [-1, 1] (RGB, bilinear resize to 32x32, (x / 255 - 0.5) /
    0.5); the synthetic benchmark's 64 px images and digits' 8 px ones alike."""
    import torch
    from PIL import Image

    arr = np.asarray(image.convert("RGB").resize((DIGITS_SIZE, DIGITS_SIZE), Image.BILINEAR), dtype=np.float32)
    return torch.from_numpy((arr / 255.0 - 0.5) / 0.5).permute(2, 0, 1).contiguous()


def digits_network(seed: int = 0, epochs: int = 4) -> Any:
    """A small CNN (three conv blocks ``block1``-``block3``, a linear ``head``; 11k parameters) trained on the digits
    training split (:func:`load_task_set`, 1437 images) for ``epochs`` epochs of Adam (lr 3e-3, batches of 64,
    seeded by ``seed``), wrapped by :func:`brainbench.wrap` as ``digits_cnn`` with :func:`digits_preprocess`; trains in
    a few seconds on a CPU (the weights are kept for the process, each call returns a new module). Test-split
    accuracy at seed 0: 0.97 (:func:`task_accuracy`)."""
    import torch

    from ..extraction.torch_model import wrap

    seed = check_seed(seed)
    epochs = check_count(epochs, "epochs")
    key = (seed, epochs)
    if key not in _TRAINED:
        task = load_task_set("digits", split="train")
        x = torch.stack([digits_preprocess(task.pil(i)) for i in range(len(task.labels))])
        y = torch.from_numpy(task.labels)
        threads = torch.get_num_threads()
        try:
            with torch.random.fork_rng(devices=[]):
                torch.set_num_threads(1)  # a network this small trains fastest on one thread (4 s against 14 s on 2)
                torch.manual_seed(seed)
                net = _digits_module()
                optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
                generator = torch.Generator().manual_seed(seed)
                net.train()
                for _ in range(epochs):
                    order = torch.randperm(len(y), generator=generator)
                    for i in range(0, len(y), 64):
                        rows = order[i:i + 64]
                        optimizer.zero_grad()
                        torch.nn.functional.cross_entropy(net(x[rows]), y[rows]).backward()
                        optimizer.step()
        finally:
            torch.set_num_threads(threads)
        _TRAINED[key] = {k: v.clone() for k, v in net.state_dict().items()}
    module = _digits_module()
    module.load_state_dict(_TRAINED[key])
    return wrap(module, digits_preprocess, name="digits_cnn", weights=f"digits-seed{seed}-epochs{epochs}",
                layers=["block1", "block2", "block3"], task="classification", training_data="sklearn digits",
                architecture="cnn", source="brainbench")
