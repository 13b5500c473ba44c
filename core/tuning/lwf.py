r"""Learning without Forgetting toward the brain (Li & Hoiem 2017, arXiv 1606.09282; the neural-tuning study):
fine-tune a network so that a linear readout from one of its layers predicts a region's responses, while a
distillation term keeps its outputs near the frozen parent's on the same images, so the original task is kept
without its labels.

.. math::

    \mathcal L = \mathcal L_{neural}\big(W f_\ell(x) + b,\ y\big) + \lambda\,\mathcal L_{distill}\big(z(x),\ z_0(x);\ T\big)

with :math:`f_\ell` the tuned network's layer ``layer`` (flattened, or its spatial mean), :math:`z` its outputs and
:math:`z_0` the parent's (:mod:`.losses`: MSE or negative Pearson per neuroid; KL or the paper's cross-entropy,
T = 2, T² optional). ``lambda_ = 0`` is plain neural fine-tuning, the control.

Steps: the benchmark's training stimuli (split ``split``), a validation part of them for early stopping on the
neural validation loss (:mod:`.data`); the readout warmed up by ridge on the frozen network's features (``warmup
="ridge"``; ``"none"`` starts it at zero); the parent's outputs on the training images computed once (without
augmentation; with ``augment``, on the same augmented images at every step); then :func:`~.train.train`. The
parameters that train are those whose names match ``train_parameters`` (fnmatch; default: every parameter of
the modules that run before and at the readout layer, i.e. those the neural loss reaches, plus all the rest when
λ > 0 and ``head`` is ``"train"``). Reported on the held-out stimuli: the readout's mean Pearson r of the tuned
network and of the parent (with its warm-up readout), and the cost on the original task measured without labels: the distillation KL
(T = 1) of the tuned outputs from the parent's and the fraction of images whose top-1 class is unchanged.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from .._version import __version__
from ..checks import check_seed
from ..device import pick_device
from ..errors import ConfigError
from .data import (capture, chosen_parameters, layer_info, load_tuning_data, mean_pearson, model_inputs,
                   modules_run_before, readout_features, ridge_readout)
from .losses import distillation_loss, label_free_cost, neural_loss
from .train import TrainConfig, train

__all__ = ["LWF_VERSION", "LwFConfig", "tune_lwf"]

LWF_VERSION = "1"


@dataclass(frozen=True)
class LwFConfig:
    """Learning without Forgetting's settings (module docstring); ``train`` holds the loop's
    (:class:`~.train.TrainConfig`: epochs, batch size, learning rate, optimiser, schedule, patience, seed).
    ``head``: the parameters after the readout layer, which only the distillation term reaches (the original task's
    head), ``"train"`` with the rest when lambda > 0 (Li & Hoiem; the head can then follow the shared layers'
    changes, which is how LwF keeps the outputs while the representation moves) or stay ``"frozen"``, so that both
    children of the neural-tuning experiment train the same parameters and lambda changes the loss alone. Under
    Adam a trained head drifts from the parent, since Adam rescales the term's near-zero gradients on it to steps of
    about the learning rate (README, "Experiments: neural tuning": use SGD, or ``"frozen"``). ``train_parameters``
    overrides both."""

    layer: str
    lambda_: float = 1.0
    T: float = 2.0
    distillation: Literal["kl", "ce"] = "kl"
    t_squared: bool = True
    neural: Literal["mse", "pearson"] = "mse"
    pool: Literal["flatten", "mean"] = "flatten"
    train_parameters: tuple[str, ...] | None = None
    head: Literal["train", "frozen"] = "train"
    warmup: Literal["ridge", "none"] = "ridge"
    augment: bool = False
    split: int = 0
    val_fraction: float = 0.1
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lambda_) and self.lambda_ >= 0):
            raise ConfigError(f"lambda must be a number >= 0 (0: plain neural fine-tuning); got {self.lambda_!r}")
        if not (math.isfinite(self.T) and self.T > 0):
            raise ConfigError(f"the temperature T must be a positive number; got {self.T!r}")
        for name, value, allowed in (("distillation", self.distillation, ("kl", "ce")),
                                     ("neural loss", self.neural, ("mse", "pearson")),
                                     ("pool", self.pool, ("flatten", "mean")), ("warmup", self.warmup, ("ridge", "none")),
                                     ("head", self.head, ("train", "frozen"))):
            if value not in allowed:
                raise ConfigError(f"{name} {value!r} is not one of {', '.join(allowed)}")

    def as_record(self) -> dict[str, Any]:
        record = dataclasses.asdict(self)
        record["train_parameters"] = list(self.train_parameters) if self.train_parameters else None
        return record


def _augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random horizontal flips and translations by up to 1/16 of the side (reflection padding), torch ops only."""
    n, _, h, w = x.shape
    flip = torch.rand(n, generator=generator) < 0.5
    x = torch.where(flip.view(n, 1, 1, 1).to(x.device), x.flip(-1), x)
    pad = max(1, min(h, w) // 16)
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad), mode="reflect")
    dy, dx = (int(v) for v in torch.randint(0, 2 * pad + 1, (2,), generator=generator))
    return padded[:, :, dy:dy + h, dx:dx + w]


def tune_lwf(model: Any, benchmark: str, config: LwFConfig, *, name: str | None = None, device: str | None = None,
             checkpoint: str | None = None, progress: bool = False) -> Any:
    """Tune ``model`` (a brainbench TorchModel) toward ``benchmark`` with Learning without Forgetting (module
    docstring); returns a :class:`~brainbench.registry.contracts.TuningResult` whose model is a new TorchModel
    (the parent's preprocessing, the tuned module, labelled ``name``) and whose record holds the tuner, the parent,
    the data and exact stimulus ids, the config, the seed, the curves and the held-out scores and costs. The parent
    is never changed. Raises ConfigError (bad settings, an RDM benchmark, a model without a per-stimulus output to
    distil when lambda > 0), UnknownNameError (a layer the model lacks), TrainingError (a non-finite loss)."""
    from ..extraction.torch_model import TorchModel
    from ..registry.contracts import TuningResult

    seed = check_seed(config.train.seed)
    device_name = pick_device(device)
    data = load_tuning_data(benchmark, split=config.split, val_fraction=config.val_fraction, seed=seed)
    info = layer_info(model, config.layer)
    inputs = model_inputs(model, data.stimuli, data.ids)
    responses = torch.from_numpy(data.responses)
    teacher = copy.deepcopy(model.module).eval().to(device_name)
    for p in teacher.parameters():
        p.requires_grad_(False)
    student = copy.deepcopy(model.module).to(device_name)

    def outputs_and_features(net: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with capture(net, info) as captured:
            out = net(x)
        from ..extraction.layers import first_tensor

        return first_tensor(out), readout_features(captured["out"], config.pool)

    def batches(index: np.ndarray, net: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        logits, feats = [], []
        with torch.no_grad():
            for i in range(0, len(index), 64):
                out, f = outputs_and_features(net, inputs[index[i:i + 64]].to(device_name))
                logits.append(out.float().cpu())
                feats.append(f.float().cpu())
        return torch.cat(logits), torch.cat(feats)

    all_index = np.arange(len(data.ids))
    parent_logits, parent_features = batches(all_index, teacher)
    if parent_logits.ndim != 2 and config.lambda_ > 0:
        raise ConfigError(f"{model.label}'s output has shape {tuple(parent_logits.shape[1:])} per stimulus, not class "
                          "logits, so there is nothing to distil; use lambda 0 or a classifier")
    n_units, n_neuroids = parent_features.shape[1], responses.shape[1]
    readout = torch.nn.Linear(n_units, n_neuroids).to(device_name)
    alphas = None
    with torch.no_grad():
        if config.warmup == "ridge":
            weight, bias, alphas = ridge_readout(parent_features[data.train].numpy(), data.responses[data.train])
            readout.weight.copy_(torch.from_numpy(weight))
            readout.bias.copy_(torch.from_numpy(bias))
        else:
            readout.weight.zero_(), readout.bias.zero_()
    parent_test = mean_pearson(readout(parent_features[data.test].to(device_name)).detach().cpu().numpy(),
                               data.responses[data.test])

    reached = modules_run_before(student, info, inputs[:1].to(device_name))
    if config.lambda_ > 0 and config.train_parameters is None and config.head == "train":
        reached = {n for n, _ in student.named_modules()}  # the distillation reaches every parameter
    chosen = set(chosen_parameters(student, config.train_parameters, reached))
    for n, p in student.named_parameters():
        p.requires_grad_(n in chosen)

    class Tuned(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network, self.readout = student, readout

    tuned = Tuned()
    generator = torch.Generator().manual_seed(seed + 1)
    train_index = data.train

    def batch_loss(indices: np.ndarray) -> torch.Tensor:
        rows = train_index[indices]
        x = inputs[rows].to(device_name)
        if config.augment:
            x = _augment(x, generator)
        logits, feats = outputs_and_features(student, x)
        loss = neural_loss(readout(feats), responses[rows].to(device_name), config.neural)
        if config.lambda_ > 0:
            if config.augment:
                with torch.no_grad():
                    parent = teacher(x)
            else:
                parent = parent_logits[rows].to(device_name)
            loss = loss + config.lambda_ * distillation_loss(logits, parent, T=config.T, form=config.distillation,
                                                             t_squared=config.t_squared)
        return loss

    def val_loss() -> float:
        _, feats = batches(data.val, student)
        return float(neural_loss(readout(feats.to(device_name)), responses[data.val].to(device_name), config.neural))

    result = train(tuned, batch_loss, len(train_index), config=config.train, val_loss=val_loss,
                   checkpoint=checkpoint, fingerprint=f"{data.fingerprint()} {model.weights_hash()} {config.as_record()}",
                   progress=progress,
                   description=f"LwF {model.label} -> {data.benchmark}")
    student.eval()
    tuned_logits, tuned_features = batches(data.test, student)
    tuned_test = mean_pearson(readout(tuned_features.to(device_name)).detach().cpu().numpy(), data.responses[data.test])
    cost = {}
    if parent_logits.ndim == 2:
        parent_test_logits = parent_logits[data.test]
        cost = label_free_cost(tuned_logits, parent_test_logits)
    new_model = TorchModel(student.cpu(), model.preprocess, model.card, weights="tuned",
                           default_layers=model.default_layers, seed=model.seed)
    if name:
        new_model.card = model.card.model_copy(update={"name": name})
    record = {
        "tuner": "lwf", "tuner_version": LWF_VERSION, "parent": model.card.name, "parent_weights": model.weights,
        "parent_weights_hash": model.weights_hash(), "data": data.benchmark, "data_version": data.benchmark_version,
        "dataset": data.dataset,
        "stimulus_ids": data.used_ids(), "config": config.as_record(), "seed": seed,
        "curves": result.curves, "initial_val_loss": result.initial_val_loss, "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "stopped_early": result.stopped_early, "resumed_from": result.resumed_from,
        "trained_parameters": sorted(chosen),
        "readout": {"layer": info.name, "pool": config.pool, "units": n_units, "neuroids": n_neuroids,
                    "warmup_alphas": None if alphas is None else [float(a) for a in alphas]},
        "held_out": {"score": tuned_test, "parent_score": parent_test, "metric": "mean Pearson r of the readout",
                     **cost},
        "device": device_name, "brainbench_version": __version__,
    }
    new_model.tuned_on = data.tuned_on()
    return TuningResult(model=new_model, record=record)
