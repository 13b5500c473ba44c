"""The training loop both tuners share: seeded minibatches, Adam or SGD, a learning-rate schedule, early stopping on a
validation loss, checkpoints that a killed run resumes from, and a stop at the first non-finite loss.

Determinism: epoch ``e`` visits the training items in ``torch.randperm(n, generator=seed_of(seed, e))`` order,
independent of what ran before, and torch's global random state (dropout, augmentation) is seeded at the start and
saved in every checkpoint; so on CPU a run resumed from the checkpoint of epoch ``e`` ends with the same weights,
bit for bit, as one never interrupted. The caller's own random state is left as it was (``torch.random.fork_rng``).

Checkpoints (``checkpoint=path``): written atomically after every epoch (module state, optimiser and schedule
state, the epoch, the best validation loss with its weights, the curves, the random state, the run's config and a
caller ``fingerprint`` of its data and model); a run started with an existing checkpoint resumes from it, and a
checkpoint of another run (different config or fingerprint) is refused rather than silently continued.

A non-finite loss stops the run at once with a :class:`~brainbench.errors.TrainingError` naming the step, the epoch
and the loss; the checkpoint of the last finished epoch (the last good state) is left as it was.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from ..checks import check_count, check_seed
from ..errors import ConfigError, TrainingError

__all__ = ["TrainConfig", "TrainResult", "train", "training_mode"]


@dataclass(frozen=True)
class TrainConfig:
    """How to train: ``epochs`` (at most), ``batch_size`` (training items per step), ``lr`` and ``weight_decay``
    for the ``optimizer`` (``"adam"``, torch's Adam; ``"sgd"``, with momentum 0.9), ``schedule`` (``"constant"``, or
    ``"cosine"``: annealed to 0 over all steps), ``patience`` (epochs without a better validation loss before
    stopping; None: never stop early), ``keep`` (the weights the module ends with: ``"best"``, those of the
    lowest validation loss, the start included; ``"last"``, the last epoch's), ``batchnorm`` (``"frozen"``, the
    default: batch-norm layers keep the running statistics they start with and normalise with them during training,
    as when fine-tuning a pretrained network on few images, whose small batches' statistics would replace the
    pretrained ones; ``"train"``: torch's train mode, batch statistics and updated running ones), ``dropout``
    (``"off"``, the default: dropout, stochastic depth and every other train-mode behaviour but batch norm's stay
    off, so the network computes during training what it computes when scored, and a loss that is zero at the
    parent's weights, such as LwF's distillation term, has a zero gradient there; ``"train"``: torch's train mode for
    them, as Li & Hoiem 2017 trained; their noise alone moves the network: 12 SGD steps distilling efficientnet_lite0
    onto its own outputs drifted it to a KL of 0.25 from the parent with dropout, 1e-8 without, ``tools/lwf_drift.py``),
    ``seed``."""

    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: Literal["adam", "sgd"] = "adam"
    schedule: Literal["constant", "cosine"] = "constant"
    patience: int | None = 5
    keep: Literal["best", "last"] = "best"
    batchnorm: Literal["frozen", "train"] = "frozen"
    dropout: Literal["off", "train"] = "off"
    seed: int = 0

    def __post_init__(self) -> None:
        check_count(self.epochs, "epochs")
        check_count(self.batch_size, "batch size")
        check_seed(self.seed)
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"the learning rate must be a positive number; got {self.lr!r}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ConfigError(f"weight decay must be >= 0; got {self.weight_decay!r}")
        if self.optimizer not in ("adam", "sgd"):
            raise ConfigError(f"optimizer {self.optimizer!r} is not 'adam' or 'sgd'")
        if self.schedule not in ("constant", "cosine"):
            raise ConfigError(f"schedule {self.schedule!r} is not 'constant' or 'cosine'")
        if self.patience is not None:
            check_count(self.patience, "patience (epochs)")
        if self.batchnorm not in ("frozen", "train"):
            raise ConfigError(f"batchnorm {self.batchnorm!r} is not 'frozen' (keep the running statistics) or 'train'")
        if self.dropout not in ("off", "train"):
            raise ConfigError(f"dropout {self.dropout!r} is not 'off' (the scoring-time network) or 'train' (torch's "
                              "train mode: dropout and stochastic depth active)")
        if self.keep not in ("best", "last"):
            raise ConfigError(f"keep {self.keep!r} is not 'best' (lowest validation loss) or 'last'")


@dataclass
class TrainResult:
    """What a run did: ``curves`` (per epoch: ``train_loss``, the mean over its steps, and ``val_loss`` when there
    is a validation loss), ``best_epoch`` (1-based; its weights are the module's at the end when early stopping
    watched a validation loss, else the last epoch), ``epochs_run``, ``steps``, ``stopped_early``, and
    ``resumed_from`` (the epoch a checkpoint resumed from, 0 for a fresh run). ``initial_val_loss`` is the
    validation loss before any step: the start competes with every epoch, so ``best_epoch`` 0 means no epoch beat
    the starting weights, which the module then keeps (a warm-started readout is never left worse)."""

    curves: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int = 0
    epochs_run: int = 0
    steps: int = 0
    stopped_early: bool = False
    resumed_from: int = 0
    initial_val_loss: float | None = None


def _optimiser(parameters: list[torch.nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(parameters, lr=config.lr, momentum=0.9, weight_decay=config.weight_decay)


def _schedule(optimiser: torch.optim.Optimizer, config: TrainConfig, total_steps: int) -> Any:
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(total_steps, 1))
    return torch.optim.lr_scheduler.LambdaLR(optimiser, lambda _step: 1.0)


def _order(n: int, seed: int, epoch: int) -> np.ndarray:
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=generator).numpy()


def train(module: torch.nn.Module, batch_loss: Callable[[np.ndarray], torch.Tensor], n_train: int, *,
          config: TrainConfig = TrainConfig(), val_loss: Callable[[], float] | None = None,
          checkpoint: str | Path | None = None, fingerprint: str = "", progress: bool = False,
          description: str = "training") -> TrainResult:
    """Train ``module``'s parameters that require grad to minimise ``batch_loss(indices)`` (a scalar tensor for a
    minibatch of training items ``indices``, an int array into ``range(n_train)``), epoch by epoch (module
    docstring). ``val_loss()`` (no gradient) is read after each epoch for early stopping; at the end the module holds
    the weights of the best validation epoch. Raises ConfigError (no trainable parameter, fewer items than 1, a
    checkpoint of another run) and TrainingError (a non-finite loss)."""
    parameters = [p for p in module.parameters() if p.requires_grad]
    if not parameters:
        raise ConfigError("the module has no parameter that requires grad: nothing to train")
    n_train = check_count(n_train, "training items")
    steps_per_epoch = -(-n_train // config.batch_size)
    optimiser = _optimiser(parameters, config)
    schedule = _schedule(optimiser, config, steps_per_epoch * config.epochs)
    path = Path(checkpoint) if checkpoint is not None else None
    settings = {"config": dataclasses.asdict(config), "fingerprint": fingerprint, "n_train": n_train}
    result = TrainResult(curves={"train_loss": [], **({"val_loss": []} if val_loss is not None else {})})
    best: dict[str, Any] = {"loss": math.inf, "epoch": 0, "state": None}
    bad_epochs = 0
    with torch.random.fork_rng(devices=_devices(parameters)):
        torch.manual_seed(config.seed)
        if path is not None and path.exists():
            state = _load(path, settings)
            module.load_state_dict(state["module"])
            optimiser.load_state_dict(state["optimizer"])
            schedule.load_state_dict(state["schedule"])
            result.curves, best, bad_epochs = state["curves"], state["best"], state["bad_epochs"]
            result.resumed_from = result.epochs_run = state["epoch"]
            result.steps, result.stopped_early = state["steps"], state["stopped_early"]
            result.initial_val_loss = state.get("initial_val_loss")
            torch.set_rng_state(state["rng"])
        elif val_loss is not None:  # the starting weights are the first candidate
            module.eval()
            with torch.no_grad():
                start = float(val_loss())
            if not math.isfinite(start):
                raise TrainingError(f"the validation loss is {start} before any training step: check the data and "
                                    "the starting weights")
            result.initial_val_loss = start
            best = {"loss": start, "epoch": 0,
                    "state": {k: v.detach().clone() for k, v in module.state_dict().items()}}
        from ..progress import progress as progress_bar

        while result.epochs_run < config.epochs and not result.stopped_early:
            epoch = result.epochs_run + 1
            training_mode(module, config)
            order = _order(n_train, config.seed, epoch)
            total = 0.0
            batches = range(steps_per_epoch)
            for b in progress_bar(batches, total=steps_per_epoch, enabled=progress,
                                  description=f"{description}: epoch {epoch}/{config.epochs}"):
                indices = order[b * config.batch_size:(b + 1) * config.batch_size]
                optimiser.zero_grad(set_to_none=True)
                loss = batch_loss(indices)
                value = float(loss.detach())
                result.steps += 1
                if not math.isfinite(value):
                    kept = (f"the checkpoint of epoch {result.epochs_run} (the last good state) is kept at {path}"
                            if path is not None and path.exists() else "no checkpoint was written")
                    raise TrainingError(f"the loss became {value} at step {result.steps} (epoch {epoch}, batch "
                                        f"{b + 1} of {steps_per_epoch}); {kept}; lower the learning rate (now "
                                        f"{config.lr:g}) or check the data")
                loss.backward()
                optimiser.step()
                schedule.step()
                total += value * len(indices)
            result.curves["train_loss"].append(total / n_train)
            result.epochs_run = epoch
            if val_loss is not None:
                module.eval()
                with torch.no_grad():
                    current = float(val_loss())
                if not math.isfinite(current):
                    kept = (f"the checkpoint of epoch {result.epochs_run - 1} (the last good state) is kept at {path}"
                            if path is not None and path.exists() else "no checkpoint was written")
                    raise TrainingError(f"the validation loss became {current} after epoch {epoch} (step "
                                        f"{result.steps}); {kept}; lower the learning rate (now {config.lr:g})")
                result.curves["val_loss"].append(current)
                if current < best["loss"]:
                    best = {"loss": current, "epoch": epoch,
                            "state": {k: v.detach().clone() for k, v in module.state_dict().items()}}
                    bad_epochs = 0
                else:
                    bad_epochs += 1
                    if config.patience is not None and bad_epochs >= config.patience:
                        result.stopped_early = True
            if progress:
                from rich.console import Console

                line = f"{description}: epoch {epoch}: train loss {result.curves['train_loss'][-1]:.5g}"
                if val_loss is not None:
                    line += f", validation loss {result.curves['val_loss'][-1]:.5g}"
                Console(stderr=True).print(line, highlight=False)
            if path is not None:
                _save(path, {**settings, "module": module.state_dict(), "optimizer": optimiser.state_dict(),
                             "schedule": schedule.state_dict(), "curves": result.curves, "best": best,
                             "bad_epochs": bad_epochs, "epoch": epoch, "steps": result.steps,
                             "stopped_early": result.stopped_early, "rng": torch.get_rng_state(),
                             "initial_val_loss": result.initial_val_loss})
    if best["state"] is not None and config.keep == "best":
        module.load_state_dict(best["state"])
    result.best_epoch = best["epoch"] if best["state"] is not None else result.epochs_run
    module.eval()
    return result


def training_mode(module: torch.nn.Module, config: TrainConfig) -> None:
    """Put ``module`` in the mode its training steps run in (:class:`TrainConfig`'s ``batchnorm`` and ``dropout``)."""
    module.train(config.dropout == "train")
    for sub in module.modules():
        if isinstance(sub, torch.nn.modules.batchnorm._BatchNorm):
            sub.train(config.batchnorm == "train")


def _devices(parameters: list[torch.nn.Parameter]) -> list[int]:
    return sorted({p.device.index or 0 for p in parameters if p.device.type == "cuda"})


def _save(path: Path, state: dict[str, Any]) -> None:
    from ..data.files import atomic_path

    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _load(path: Path, settings: dict[str, Any]) -> dict[str, Any]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file: say which
        raise ConfigError(f"the checkpoint {path} cannot be read ({type(exc).__name__}: {exc}); delete it to start "
                          "again") from None
    theirs = {k: state.get(k) for k in settings}
    if theirs != settings:
        changed = sorted(k for k in settings if theirs[k] != settings[k])
        raise ConfigError(f"the checkpoint {path} belongs to another run (its {', '.join(changed)} differ); "
                          "delete it, or give this run another checkpoint path")
    return state
