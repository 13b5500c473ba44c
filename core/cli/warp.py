"""``brainbench warp``: how complex a warp of a network's parameters (a d-dimensional Fastfood subspace) it needs to
predict a region: the held-out score against d, and d_warp under an explicit threshold rule
(:mod:`brainbench.tuning.warp`)."""

from __future__ import annotations

import json

import click

from ..errors import ConfigError
from .output import console, file_to_write, handle_errors, rich_table
from .tuners import BATCHNORM_OPTION, DROPOUT_OPTION

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


def _rates(text: str) -> list[float]:
    """``--lr``: one learning rate, or several separated by commas (each d keeps the best on the validation loss)."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"--lr takes a learning rate or several separated by commas (e.g. 1e-4,3e-4,1e-3); "
                          f"got {text!r}") from None
    if not values:
        raise ConfigError("--lr is empty; give a learning rate, e.g. 1e-3")
    return values


def _own_weights(name: str) -> str | None:
    """The weights tag ``-m NAME`` names itself (``family.tag`` of a registered family that is not itself a registered
    name), else None."""
    from ..names import parse_name
    from ..registry.entries import get_registry

    registry = get_registry("model")
    if ":" in name or name in registry:
        return None
    try:
        family, variant = parse_name(name)
    except ValueError:
        return None  # get_model says what is wrong with the name
    return variant if variant and family in registry else None


def _build_models(names: tuple[str, ...], weights: str | None, seed: int) -> list:
    """Every ``-m`` built before any fit (an unknown name fails before a long sweep): ``--weights`` gives the
    weights of each model that names none; a model naming its own (``NAME.TAG``) beside a different ``--weights``,
    or the same model given twice, is a ConfigError."""
    from ..registry.entries import get_model

    models, seen = [], {}
    for name in names:
        own = _own_weights(name)
        if own is not None and weights is not None and own != weights:
            raise ConfigError(f"-m {name} names its weights ({own}) and --weights gives {weights}; give one (e.g. "
                              f"-m {name.rsplit('.', 1)[0]}.{weights}, or leave --weights out)")
        model = get_model(name, weights=None if own is not None else weights, seed=seed)
        if model.label in seen:
            raise ConfigError(f"-m {seen[model.label]} and -m {name} are the same model ({model.label}); give each "
                              "model once (another weights tag: -m NAME.TAG, e.g. NAME.random)")
        seen[model.label] = name
        models.append(model)
    return models


def _side_by_side(results: list) -> list[list]:
    """Rows of the several-model table: one per d of any grid (a model's score and, when several rates were tried, the
    one chosen; empty where its grid lacks that d),
    then each model's D, threshold and d_warp."""
    scores = [{row["d"]: f"{row['score']:.4f}" + (f" (lr {row['lr']:g})" if len(row.get("lr_val_loss", {})) > 1
                                                   else "") for row in r.curve} for r in results]
    rows: list[list] = [[d, *(s.get(d) for s in scores)] for d in sorted(set().union(*scores))]
    rows.append(["D", *(r.D for r in results)])
    rows.append(["threshold", *(f"{r.threshold:.4f}" for r in results)])
    rows.append(["d_warp", *(r.d_warp if r.d_warp is not None else "not reached" for r in results)])
    return rows


@click.command()
@click.option("--model", "-m", "models", required=True, multiple=True,
              help="registered model (NAME.TAG picks its weights, e.g. efficientnet_lite0.random) or "
                   "package.module:factory; repeat -m to sweep several models side by side on the same grid and rule")
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
@click.option("--lr", "lr_text", default="1e-2", show_default=True,
              help="Adam's learning rate for z, the scales and the readout; several, comma-separated (e.g. "
                   "1e-4,3e-4,1e-3), fit each d at every rate and keep the lowest validation loss")
@click.option("--full-lr", type=float, default=None,
              help="Adam's learning rate of the full fine-tune (--reference full: every parameter trains directly; "
                   "default: the first --lr); a pretrained network usually wants ~1e-4")
@click.option("--patience", default=5, show_default=True, help="epochs without a better validation loss")
@click.option("--keep", type=click.Choice(["best", "last"]), default="best", show_default=True,
              help="each fit's weights: the lowest validation loss, the start included (a fit no epoch beat scores "
                   "as the frozen readout), or the last epoch's")
@BATCHNORM_OPTION
@DROPOUT_OPTION
@click.option("--split", default=0, show_default=True, help="which of the benchmark's splits gives the held-out stimuli")
@click.option("--weights", default=None,
              help="weights tag of every -m that names none; 'random' for a seeded random initialisation")
@click.option("--seed", default=0, show_default=True, help="seeds the minibatches and the validation split")
@click.option("--projection-seed", default=0, show_default=True, help="seeds the Fastfood transform P")
@click.option("--device", default=None, help="cpu, cuda, cuda:N, mps or auto (default)")
@click.option("--plot", "plot_path", default=None, type=click.Path(), help="the score against d (.png or .svg)")
@click.option("--json", "as_json", is_flag=True)
@click.option("--quiet", "-q", is_flag=True, help="no progress bars")
@handle_errors
def warp(models: tuple[str, ...], benchmark: str, layer: str, d_grid: str | None, threshold: float, rule: str,
         reference: str, said: bool, neural_loss: str, pool: str, epochs: int, batch_size: int, lr_text: str,
         full_lr: float | None, patience: int, keep: str, batchnorm: str, dropout: str, split: int,
         weights: str | None, seed: int,
         projection_seed: int, device: str | None, plot_path: str | None, as_json: bool, quiet: bool) -> None:
    """Fit each MODEL to BENCHMARK through d-dimensional Fastfood subspaces for each d, and report d_warp: the smallest
    d whose held-out score reaches the threshold. With several -m, every model runs on the same grid (--d) and rule,
    and one table shows a column per model."""
    from ..tuning.train import TrainConfig
    from ..tuning.warp import FastfoodConfig, ThresholdRule, plot_warps
    from ..tuning.warp import warp as run_warp

    grid = _grid(d_grid)
    rates = _rates(lr_text)
    if plot_path is not None:
        file_to_write(plot_path, "--plot", {"png": "Portable Network Graphics", "svg": "Scalable Vector Graphics"})
    threshold_rule = ThresholdRule(rule, threshold, reference)  # type: ignore[arg-type]
    config = FastfoodConfig(layer=layer, neural=neural_loss, pool=pool, said=said,  # type: ignore[arg-type]
                            projection_seed=projection_seed, split=split, full_lr=full_lr,
                            lr_grid=tuple(rates) if len(rates) > 1 else None,
                            train=TrainConfig(epochs=epochs, batch_size=batch_size, lr=rates[0], patience=patience,
                                              seed=seed, keep=keep, batchnorm=batchnorm,  # type: ignore[arg-type]
                                              dropout=dropout))  # type: ignore[arg-type]
    nets = _build_models(models, weights, seed)
    several = len(nets) > 1

    def reporter(label: str):
        def report(d: int, score: float) -> None:
            if not quiet and not as_json:
                console().print(f"{label + ': ' if several else ''}d = {d}: held-out score {score:.4f}",
                                highlight=False)
        return report

    results = [run_warp(net, benchmark, config, ds=grid, rule=threshold_rule, device=device, progress=not quiet,
                        on_fit=reporter(net.label)) for net in nets]
    if plot_path is not None:
        import matplotlib.pyplot as plt

        plt.close(plot_warps(results, plot_path) if several else results[0].plot(plot_path))
    if as_json:
        click.echo(json.dumps({"models": [r.as_dict() for r in results]} if several else results[0].as_dict(),
                              indent=2))
        return
    if several:
        console().print(rich_table(f"held-out score against d ({results[0].benchmark}, {results[0].layer})",
                                   ["d", *(r.model for r in results)], _side_by_side(results)))
        for result in results:
            click.echo(result.summary())
    else:
        result = results[0]
        cost = any("top1_agreement" in row for row in result.curve)
        chose = len(rates) > 1
        console().print(rich_table(f"held-out score against d (D = {result.D})",
                                   ["d", "score", "val loss", "epochs", *(["lr chosen"] if chose else []),
                                    *(["top-1 agreement with the parent", "KL from the parent"] if cost else [])],
                                   [[row["d"], f"{row['score']:.4f}", f"{row['val_loss']:.4f}", row["epochs"],
                                     *([f"{row['lr']:g}"] if chose else []),
                                     *([f"{row['top1_agreement']:.3f}", f"{row['kl_from_parent']:.4g}"] if cost
                                       else [])]
                                    for row in result.curve]))
        click.echo(result.summary())
    edges = [(r.model, row["d"], row["lr"], row["lr_at_edge"]) for r in results for row in r.curve
             if row.get("lr_at_edge")]
    for model, d, rate, edge in edges:
        click.echo(f"note: {model} at d = {d} chose lr {rate:g}, the {edge} of --lr; a rate beyond it may fit better "
                   f"(widen --lr that way)")
    if plot_path is not None:
        click.echo(f"wrote {plot_path}")
