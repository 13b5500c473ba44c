"""``brainbench experiment``: studies run end to end from one command. ``experiment neural-tuning`` tunes a model
toward a region with Learning without Forgetting and with lambda = 0, and reports for the parent and both children
the held-out score, the original-task cost and the interpretability index with its tests
(:mod:`brainbench.tuning.experiment`)."""

from __future__ import annotations

import json
from typing import Any

import click

from .output import console, file_to_write, handle_errors, rich_table
from .tuners import BATCHNORM_OPTION, DROPOUT_OPTION, HEAD_OPTION

__all__ = ["experiment", "print_report"]


@click.group()
def experiment() -> None:
    """Studies run end to end (neural-tuning)."""


@experiment.command("neural-tuning")
@click.option("--model", "-m", required=True, help="the parent: a registered model or package.module:factory")
@click.option("--benchmark", "-b", required=True, help="a benchmark of responses (e.g. cowley2023.V4)")
@click.option("--layer", "-l", required=True, help="the readout layer, whose units' II is measured")
@click.option("--lambda", "lambda_", default=1.0, show_default=True, type=float,
              help="the LwF child's distillation weight (the control is lambda 0)")
@click.option("--epochs", default=20, show_default=True)
@click.option("--batch-size", default=32, show_default=True)
@click.option("--lr", default=1e-3, show_default=True, type=float, help="the optimiser's learning rate")
@click.option("--optimizer", type=click.Choice(["adam", "sgd"]), default="adam", show_default=True,
              help="Adam, or SGD with momentum 0.9 (Li & Hoiem 2017's)")
@click.option("--patience", default=5, show_default=True, help="epochs without a better validation loss")
@click.option("--keep", type=click.Choice(["best", "last"]), default="best", show_default=True,
              help="each child's weights: the lowest validation loss, the start included (a child no epoch beat "
                   "keeps its parent's weights, and the report says so), or the last epoch's")
@BATCHNORM_OPTION
@DROPOUT_OPTION
@HEAD_OPTION
@click.option("--neural-loss", type=click.Choice(["mse", "pearson"]), default="mse", show_default=True)
@click.option("--pool", type=click.Choice(["flatten", "mean"]), default="flatten", show_default=True,
              help="readout features: every unit of the layer, or a map's spatial mean")
@click.option("--split", default=0, show_default=True, help="which benchmark split gives the held-out stimuli")
@click.option("--task", type=click.Choice(["agreement", "digits", "cifar10"]), default="agreement",
              show_default=True,
              help="the original-task measure: accuracy on digits or CIFAR-10 (a model with their 10 classes), or "
                   "top-1 agreement with the parent on the held-out stimuli")
@click.option("--task-root", default=None, type=click.Path(), help="the folder holding cifar-10-batches-py/")
@click.option("--task-n", default=None, type=int, help="score the task on the first N images only")
@click.option("--probe", "-p", "probe", multiple=True,
              help="II's probe set: image files/folders, a table, or a benchmark or dataset name (default: the "
                   "benchmark's stimuli)")
@click.option("--distance", default="efficientnet_lite0-perceptual", show_default=True,
              help="II's image distance (brainbench list image-distances)")
@click.option("--k", default=9, show_default=True, help="top images per unit")
@click.option("--n-units", default=None, type=int, help="a seeded sample of this many units (default: all)")
@click.option("--baseline-sets", default=100, show_default=True, help="random k-image sets for II's baseline")
@click.option("--permutations", default=10_000, show_default=True, help="permutations of each pair's test")
@click.option("--weights", default=None, help="the parent's weights tag")
@click.option("--seed", default=0, show_default=True, help="seeds training, the unit sample and the tests")
@click.option("--device", default=None, help="cpu, cuda, cuda:N, mps or auto (default)")
@click.option("--save", "save", default=None, help="store the children as PREFIX-lwf and PREFIX-control")
@click.option("--plot", "plot_path", default=None, type=click.Path(), help="a figure of the three models (.png/.svg)")
@click.option("--json", "as_json", is_flag=True, help="every number as JSON")
@click.option("--quiet", "-q", is_flag=True, help="no progress bars")
@handle_errors
def neural_tuning(model: str, benchmark: str, layer: str, lambda_: float, epochs: int, batch_size: int, lr: float,
                  optimizer: str, patience: int, keep: str, batchnorm: str, dropout: str, head: str, neural_loss: str,
                  pool: str, split: int, task: str, task_root: str | None,
                  task_n: int | None, probe: tuple[str, ...], distance: str, k: int, n_units: int | None,
                  baseline_sets: int, permutations: int, weights: str | None, seed: int, device: str | None,
                  save: str | None, plot_path: str | None, as_json: bool, quiet: bool) -> None:
    """Tune MODEL toward BENCHMARK with LwF (--lambda) and with lambda 0; report the held-out score, the
    original-task accuracy (or top-1 agreement with the parent, stated) and LAYER's interpretability index of the
    parent and both children, with Welch's t, permutation p, Cohen's d per pair and an ANOVA across the three."""
    from ..registry.entries import get_model
    from ..tuning.experiment import neural_tuning as run
    from ..tuning.train import TrainConfig
    from .stimuli import probe_stimuli

    if plot_path is not None:
        file_to_write(plot_path, "--plot", {"png": "Portable Network Graphics", "svg": "Scalable Vector Graphics"})
    train = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,  # type: ignore[arg-type]
                        patience=patience, seed=seed, keep=keep, batchnorm=batchnorm,  # type: ignore[arg-type]
                        dropout=dropout)  # type: ignore[arg-type]
    probe_set = probe_stimuli(probe) if probe else None
    net = get_model(model, weights=weights, seed=seed)
    result = run(net, benchmark, layer, lambda_=lambda_, train=train,
                 lwf={"neural": neural_loss, "pool": pool, "split": split, "head": head}, task=task, task_root=task_root,
                 task_n=task_n, probe=probe_set, distance=distance, k=k, n_units=n_units, baseline_sets=baseline_sets,
                 n_permutations=permutations, seed=seed, save=save, device=device, progress=not quiet and not as_json)
    if plot_path is not None:
        import matplotlib.pyplot as plt

        plt.close(result.plot(plot_path))
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    print_report(result)
    if save:
        click.echo(f"saved {save}-lwf and {save}-control")
    if plot_path is not None:
        click.echo(f"wrote {plot_path}")


def print_report(result: Any) -> None:
    """The experiment's table (held-out r, the task measure, II mean ± sd and units per model), each pair's test and
    the ANOVA, to standard output."""
    measure = result.task[1]["measure"]
    rows = [[row["model"], f"{row['held_out_score']:.4f}", f"{row['task_value']:.4f}",
             f"{row['ii_mean']:.4f} ± {row['ii_sd']:.4f}", row["units"]] for row in result.rows()]
    console().print(rich_table(f"{result.model} tuned toward {result.benchmark} ({result.layer})",
                               ["model", "held-out r", f"{measure} ({result.task[1]['dataset']})",
                                f"II ({result.distance})", "units"], rows))
    for (i, j), p in result.pairs.items():
        click.echo(f"II {result.labels[i]} - {result.labels[j]}: {p.difference:+.4f}, Welch t = {p.welch_t:.3f} "
                   f"(df {p.welch_df:.1f}, p = {p.welch_p:.3g}), permutation p = {p.permutation_p:.3g}, "
                   f"Cohen's d = {p.cohens_d:+.3f}")
    click.echo(f"ANOVA across the three: F = {result.anova.f:.3f}, p = {result.anova.p:.3g}, "
               f"eta² = {result.anova.eta_squared:.3f}")
    for child in result.tuned:
        note = kept_start(child.record)
        if note:
            click.echo(note)


def kept_start(record: dict[str, Any]) -> str | None:
    """A line saying that a child kept its parent's weights (early stopping chose the start, epoch 0), with the
    validation losses that decided it; None when an epoch was kept."""
    if record.get("best_epoch") != 0 or record.get("config", {}).get("train", {}).get("keep") == "last":
        return None
    start = record.get("initial_val_loss")
    losses = record.get("curves", {}).get("val_loss", [])
    best = f"; the best epoch's {min(losses):.4g}" if losses else ""
    before = f" ({start:.4g}{best})" if start is not None else ""
    lam = record.get("config", {}).get("lambda_")
    return (f"the lambda {lam:g} child kept its parent's weights: no epoch beat the starting validation loss{before}; "
            "its numbers are the parent's (try another --lr, more --epochs, or --keep last)")
