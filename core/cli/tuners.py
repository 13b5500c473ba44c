"""``brainbench tune lwf`` and ``brainbench tune fastfood``: tune a model toward a benchmark's region and save it as a
new model (a tuned model is a model: scored, interpreted and listed by name in later processes).

A run writes a checkpoint after every epoch under ``<data home>/tuning-runs/<name>.pt`` (or ``--checkpoint``); the
same command run again after an interruption resumes from it. A run that fails (a non-finite loss, an error) saves
no model; the checkpoint of its last good epoch stays for a look, and is removed once the model is saved."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..errors import ConfigError
from .output import console, handle_errors

__all__ = ["BATCHNORM_OPTION", "DROPOUT_OPTION", "HEAD_OPTION", "fastfood_command", "lwf_command"]

# The training loop's modes (brainbench.tuning.train.TrainConfig), shared by tune, warp and experiment neural-tuning.
BATCHNORM_OPTION = click.option(
    "--batchnorm", type=click.Choice(["frozen", "train"]), default="frozen", show_default=True,
    help="keep batch-norm running statistics (fine-tuning a pretrained network) or train them")
DROPOUT_OPTION = click.option(
    "--dropout", type=click.Choice(["off", "train"]), default="off", show_default=True,
    help="dropout and stochastic depth while tuning: off (the network that is scored; a loss zero at the parent, "
         "such as LwF's term, has zero gradient there) or train (torch's train mode, as Li & Hoiem 2017)")
HEAD_OPTION = click.option(
    "--head", type=click.Choice(["train", "frozen"]), default="train", show_default=True,
    help="the layers after --layer, which only the distillation term reaches: train them too when lambda > 0 (Li & "
         "Hoiem) or keep them frozen (both settings of lambda then train the same parameters)")


def _training_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--model", "-m", required=True, help="the parent: a registered model or package.module:factory"),
        click.option("--benchmark", "-b", required=True, help="a benchmark of responses (e.g. cowley2023.V4)"),
        click.option("--layer", "-l", required=True, help="the readout layer"),
        click.option("--name", "-n", required=True, help="the tuned model's name (a new model)"),
        click.option("--neural-loss", type=click.Choice(["mse", "pearson"]), default="mse", show_default=True),
        click.option("--pool", type=click.Choice(["flatten", "mean"]), default="flatten", show_default=True,
                     help="readout features: every unit of the layer, or a map's spatial mean"),
        click.option("--train-parameters", default=None,
                     help="fnmatch patterns of the parameters that train, comma-separated (default: those the loss "
                          "reaches)"),
        click.option("--epochs", default=20, show_default=True),
        click.option("--batch-size", default=32, show_default=True),
        click.option("--lr", default=None, type=float, help="learning rate (default: 1e-3 LwF, 1e-2 Fastfood)"),
        click.option("--optimizer", type=click.Choice(["adam", "sgd"]), default="adam", show_default=True),
        click.option("--schedule", type=click.Choice(["constant", "cosine"]), default="constant", show_default=True),
        click.option("--patience", default=5, show_default=True, help="epochs without a better validation loss"),
        BATCHNORM_OPTION,
        DROPOUT_OPTION,
        click.option("--keep", type=click.Choice(["best", "last"]), default="best", show_default=True,
                     help="end with the weights of the lowest validation loss (the start included) or the last epoch's"),
        click.option("--split", default=0, show_default=True, help="which benchmark split gives held-out stimuli"),
        click.option("--weights", default=None, help="the parent's weights tag"),
        click.option("--seed", default=0, show_default=True),
        click.option("--device", default=None, help="cpu, cuda, cuda:N, mps or auto (default)"),
        click.option("--checkpoint", default=None, type=click.Path(),
                     help="checkpoint file (default: <data home>/tuning-runs/NAME.pt); an existing one is resumed"),
        click.option("--folder", default=None, type=click.Path(file_okay=False),
                     help="save the tuned model here instead of the data home"),
        click.option("--json", "as_json", is_flag=True, help="the training record as JSON"),
        click.option("--quiet", "-q", is_flag=True, help="no progress bars"),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _checkpoint(name: str, given: str | None) -> Path:
    from ..data.home import data_home

    path = Path(given) if given else data_home() / "tuning-runs" / f"{name}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _train_config(epochs: int, batch_size: int, lr: float, optimizer: str, schedule: str, patience: int,
                  seed: int, keep: str = "best", batchnorm: str = "frozen", dropout: str = "off") -> Any:
    from ..tuning.train import TrainConfig

    return TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,  # type: ignore[arg-type]
                       schedule=schedule, patience=patience, seed=seed, keep=keep,  # type: ignore[arg-type]
                       batchnorm=batchnorm, dropout=dropout)  # type: ignore[arg-type]


def _patterns(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    patterns = tuple(p.strip() for p in text.split(",") if p.strip())
    if not patterns:
        raise ConfigError("--train-parameters is empty; give fnmatch patterns such as 'block1.*,block2.*'")
    return patterns


def _finish(result: Any, name: str, folder: str | None, checkpoint: Path, as_json: bool) -> None:
    """Save the tuned model (only now: a failed run never does), drop the finished run's checkpoint, report."""
    path = result.save(name, folder=folder)
    checkpoint.unlink(missing_ok=True)
    record = result.record
    if as_json:
        click.echo(json.dumps({"name": name, "path": str(path), "record": record}, indent=2, default=str))
        return
    held = record["held_out"]
    parts = [f"held-out readout r {held['score']:.4f}"]
    if "parent_score" in held:
        parts.append(f"parent {held['parent_score']:.4f}")
    if "readout_score" in held:
        parts.append(f"frozen readout {held['readout_score']:.4f}")
    if "top1_agreement" in held:
        parts.append(f"top-1 agreement with the parent {held['top1_agreement']:.3f}, KL {held['kl_from_parent']:.4g}")
    if record.get("resumed_from"):
        parts.append(f"resumed from epoch {record['resumed_from']}")
    console().print(f"{name}: {record['tuner']} from {record['parent']} toward {record['data']}, "
                    f"{record['epochs_run']} epochs (best {record['best_epoch']}); " + "; ".join(parts),
                    highlight=False)
    click.echo(f"saved {name} in {path}: score it with `brainbench score -m {name} -b {record['data']}`")


@click.command("lwf")
@_training_options
@click.option("--lambda", "lambda_", default=1.0, show_default=True,
              help="weight of the distillation loss (0: plain neural fine-tuning, the control)")
@click.option("--temperature", "-T", "T", default=2.0, show_default=True)
@click.option("--distillation", type=click.Choice(["kl", "ce"]), default="kl", show_default=True,
              help="KL (zero at the parent) or the paper's cross-entropy (same gradient)")
@click.option("--no-t-squared", is_flag=True, help="do not multiply the distillation loss by T^2 (Hinton et al.)")
@click.option("--warmup", type=click.Choice(["ridge", "none"]), default="ridge", show_default=True,
              help="fit the readout by ridge on the frozen network first")
@click.option("--augment", is_flag=True, help="random flips and small translations (torch ops)")
@HEAD_OPTION
@handle_errors
def lwf_command(model: str, benchmark: str, layer: str, name: str, neural_loss: str, pool: str,
                train_parameters: str | None, epochs: int, batch_size: int, lr: float | None, optimizer: str,
                schedule: str, patience: int, batchnorm: str, dropout: str, keep: str, split: int,
                weights: str | None, seed: int, device: str | None,
                checkpoint: str | None, folder: str | None, as_json: bool, quiet: bool, lambda_: float, T: float,
                distillation: str, no_t_squared: bool, warmup: str, augment: bool, head: str) -> None:
    """Learning without Forgetting (Li & Hoiem 2017): fine-tune MODEL so a readout from LAYER predicts BENCHMARK's
    responses while its outputs stay near the parent's; saved as NAME."""
    from ..registry.entries import get_model
    from ..tuning.lwf import LwFConfig, tune_lwf

    config = LwFConfig(layer=layer, lambda_=lambda_, T=T, distillation=distillation,  # type: ignore[arg-type]
                       t_squared=not no_t_squared, neural=neural_loss, pool=pool,  # type: ignore[arg-type]
                       train_parameters=_patterns(train_parameters), warmup=warmup,  # type: ignore[arg-type]
                       augment=augment, split=split, head=head,  # type: ignore[arg-type]
                       train=_train_config(epochs, batch_size, lr or 1e-3, optimizer, schedule, patience, seed, keep,
                                           batchnorm, dropout))
    path = _checkpoint(name, checkpoint)
    result = tune_lwf(get_model(model, weights=weights, seed=seed), benchmark, config, name=name, device=device,
                      checkpoint=str(path), progress=not quiet)
    _finish(result, name, folder, path, as_json)


@click.command("fastfood")
@_training_options
@click.option("--d", "d", required=True, type=int, help="the subspace dimension")
@click.option("--said", is_flag=True, help="one learned scale per top-level block, counted in d")
@click.option("--projection-seed", default=0, show_default=True, help="seeds the Fastfood transform P")
@handle_errors
def fastfood_command(model: str, benchmark: str, layer: str, name: str, neural_loss: str, pool: str,
                     train_parameters: str | None, epochs: int, batch_size: int, lr: float | None, optimizer: str,
                     schedule: str, patience: int, batchnorm: str, dropout: str, keep: str, split: int,
                     weights: str | None, seed: int, device: str | None,
                     checkpoint: str | None, folder: str | None, as_json: bool, quiet: bool, d: int, said: bool,
                     projection_seed: int) -> None:
    """Tune MODEL toward BENCHMARK through a D-dimensional Fastfood subspace of its parameters (theta_0 + P z);
    saved as NAME."""
    from ..registry.entries import get_model
    from ..tuning.warp import FastfoodConfig, tune_fastfood

    config = FastfoodConfig(layer=layer, neural=neural_loss, pool=pool,  # type: ignore[arg-type]
                            train_parameters=_patterns(train_parameters), said=said, projection_seed=projection_seed,
                            split=split,
                            train=_train_config(epochs, batch_size, lr or 1e-2, optimizer, schedule, patience, seed, keep,
                                                batchnorm, dropout))
    path = _checkpoint(name, checkpoint)
    result = tune_fastfood(get_model(model, weights=weights, seed=seed), benchmark, d, config, name=name,
                           device=device, checkpoint=str(path), progress=not quiet)
    _finish(result, name, folder, path, as_json)
