"""``brainbench warp``: how complex a warp of a network's parameters (a d-dimensional Fastfood subspace) it needs to
predict a region: the held-out score against d, and d_warp under an explicit threshold rule
(:mod:`brainbench.tuning.warp`)."""

from __future__ import annotations

import json

import click

from ..errors import ConfigError
from .output import console, file_to_write, handle_errors, rich_table

__all__ = ["warp"]


def _grid(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"--d takes whole numbers separated by commas (e.g. 10,100,1000); got {text!r}") from None
    if not values:
        raise ConfigError("--d is empty; give one or more d, e.g. 10,100,1000")
    return values


@click.command()
@click.option("--model", "-m", required=True, help="registered model or package.module:factory")
@click.option("--benchmark", "-b", required=True, help="a benchmark of responses (e.g. cowley2023.V4)")
@click.option("--layer", "-l", required=True, help="the readout layer; the parameters that run up to it warp")
@click.option("--d", "d_grid", default=None, help="d values, comma-separated (default: 8 log-spaced from 1 to D)")
@click.option("--threshold", default=0.9, show_default=True,
              help="the score d_warp must reach: a fraction of the reference (relative) or the score itself (absolute)")
@click.option("--rule", type=click.Choice(["relative", "absolute"]), default="relative", show_default=True)
@click.option("--reference", type=click.Choice(["full", "readout"]), default="full", show_default=True,
              help="relative to the full fine-tune's held-out score, or to the frozen network's linear readout")
@click.option("--said", is_flag=True, help="one learned scale per top-level block (Aghajanyan et al.), counted in d")
@click.option("--neural-loss", type=click.Choice(["mse", "pearson"]), default="mse", show_default=True)
@click.option("--pool", type=click.Choice(["flatten", "mean"]), default="flatten", show_default=True,
              help="readout features: every unit of the layer, or a map's spatial mean")
@click.option("--epochs", default=20, show_default=True)
@click.option("--batch-size", default=32, show_default=True)
@click.option("--lr", default=1e-2, show_default=True, help="Adam's learning rate for z, the scales and the readout")
@click.option("--patience", default=5, show_default=True, help="epochs without a better validation loss")
@click.option("--split", default=0, show_default=True, help="which of the benchmark's splits gives the held-out stimuli")
@click.option("--weights", default=None, help="weights tag; 'random' for a seeded random initialisation")
@click.option("--seed", default=0, show_default=True, help="seeds the minibatches and the validation split")
@click.option("--projection-seed", default=0, show_default=True, help="seeds the Fastfood transform P")
@click.option("--device", default=None, help="cpu, cuda, cuda:N, mps or auto (default)")
@click.option("--plot", "plot_path", default=None, type=click.Path(), help="the score against d (.png or .svg)")
@click.option("--json", "as_json", is_flag=True)
@click.option("--quiet", "-q", is_flag=True, help="no progress bars")
@handle_errors
def warp(model: str, benchmark: str, layer: str, d_grid: str | None, threshold: float, rule: str, reference: str,
         said: bool, neural_loss: str, pool: str, epochs: int, batch_size: int, lr: float, patience: int, split: int,
         weights: str | None, seed: int, projection_seed: int, device: str | None, plot_path: str | None,
         as_json: bool, quiet: bool) -> None:
    """Fit MODEL to BENCHMARK through d-dimensional Fastfood subspaces for each d, and report d_warp: the smallest d
    whose held-out score reaches the threshold."""
    from ..registry.entries import get_model
    from ..tuning.train import TrainConfig
    from ..tuning.warp import FastfoodConfig, ThresholdRule
    from ..tuning.warp import warp as run_warp

    grid = _grid(d_grid)
    if plot_path is not None:
        file_to_write(plot_path, "--plot", {"png": "Portable Network Graphics", "svg": "Scalable Vector Graphics"})
    threshold_rule = ThresholdRule(rule, threshold, reference)  # type: ignore[arg-type]
    config = FastfoodConfig(layer=layer, neural=neural_loss, pool=pool, said=said,  # type: ignore[arg-type]
                            projection_seed=projection_seed, split=split,
                            train=TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, patience=patience,
                                              seed=seed))
    net = get_model(model, weights=weights, seed=seed)

    def report(d: int, score: float) -> None:
        if not quiet and not as_json:
            console().print(f"d = {d}: held-out score {score:.4f}", highlight=False)

    result = run_warp(net, benchmark, config, ds=grid, rule=threshold_rule, device=device, progress=not quiet,
                      on_fit=report)
    if plot_path is not None:
        import matplotlib.pyplot as plt

        plt.close(result.plot(plot_path))
    if as_json:
        click.echo(json.dumps({"model": result.model, "benchmark": result.benchmark, "layer": result.layer,
                               "D": result.D, "d_warp": result.d_warp, "threshold": result.threshold,
                               "rule": result.record["rule"], "reference_score": result.reference_score,
                               "readout_score": result.readout_score, "curve": result.curve,
                               "record": result.record}, indent=2))
        return
    console().print(rich_table(f"held-out score against d (D = {result.D})", ["d", "score", "val loss", "epochs"],
                               [[row["d"], f"{row['score']:.4f}", f"{row['val_loss']:.4f}", row["epochs"]]
                                for row in result.curve]))
    click.echo(result.summary())
    if plot_path is not None:
        click.echo(f"wrote {plot_path}")
