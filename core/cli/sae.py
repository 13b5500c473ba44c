"""``brainbench sae``: sparse autoencoders over a model's layers, stored in the data home, whose features are the layer
``<layer>:sae<K>`` everywhere a layer is named (``score --layers``, ``interpret --layer``, ``extract --layers``)."""

from __future__ import annotations

import json

import click

from .output import console, handle_errors, rich_table
from .stimuli import probe_stimuli

__all__ = ["sae"]


@click.group()
def sae() -> None:
    """Sparse dictionary features: train an SAE over a layer (making LAYER:saeK a layer), list the stored ones."""


@sae.command()
@click.option("--model", "-m", required=True, help="registered model or package.module:factory")
@click.option("--layer", "-l", required=True, help="the layer whose activations the SAE learns (one layer)")
@click.option("--probe", "-p", "probe", multiple=True, required=True,
              help="image files or folders (repeatable), one stimulus table, or a dataset or benchmark name "
                   "(cowley2023.V4: its stimuli)")
@click.option("--features", "-K", "n_features", required=True, type=int,
              help="dictionary size K (the layer is LAYER:saeK)")
@click.option("--active", "-k", "k", default=32, show_default=True, help="active features per vector (top-k)")
@click.option("--steps", default=2000, show_default=True, help="Adam steps")
@click.option("--seed", default=0, show_default=True, help="seeds the vector sample, the initialisation and batches")
@click.option("--readout", type=click.Choice(["positions", "mean"]), default="positions", show_default=True,
              help="a convolutional layer: every position's channel vector (features keep the map) or the spatial mean")
@click.option("--max-vectors", default=100_000, show_default=True,
              help="at most this many training vectors (a seeded sample of stimulus x position)")
@click.option("--batch-size", default=256, show_default=True, help="vectors per Adam step")
@click.option("--lr", default=3e-3, show_default=True, help="Adam's learning rate")
@click.option("--weights", default=None, help="weights tag; 'random' for a seeded random initialisation")
@click.option("--device", default=None, help="cpu, cuda, cuda:N, mps or auto (default)")
@click.option("--overwrite", is_flag=True, help="replace an SAE stored for this model, layer and K with other settings")
@click.option("--json", "as_json", is_flag=True, help="print the SAE's card as JSON")
@click.option("--quiet", "-q", is_flag=True, help="no progress bars")
@handle_errors
def train(model: str, layer: str, probe: tuple[str, ...], n_features: int, k: int, steps: int, seed: int, readout: str,
          max_vectors: int, batch_size: int, lr: float, weights: str | None, device: str | None, overwrite: bool,
          as_json: bool, quiet: bool) -> None:
    """Train a top-k SAE of K features on LAYER's activations over the probe set and store it (LAYER:saeK)."""
    from ..interpret.sae import train_layer_sae
    from ..registry.entries import get_model

    stimuli = probe_stimuli(probe)
    stored, reused = train_layer_sae(get_model(model, weights=weights), stimuli, layer, n_features, k, steps=steps,
                                     seed=seed, readout=readout, max_vectors=max_vectors, batch_size=batch_size,
                                     lr=lr, overwrite=overwrite, device=device, progress=not quiet)
    if as_json:
        click.echo(json.dumps({**stored.card, "name": stored.name, "folder": str(stored.folder), "reused": reused},
                              indent=2))
        return
    verb = "reused (trained with the same settings on " + stored.card["created"] + ")" if reused else "trained"
    click.echo(f"{stored.summary()}\n{verb}; stored in {stored.folder}\nuse it as the layer {stored.name!r}, e.g. "
               f"brainbench score -m {model} -b BENCHMARK --layers {stored.name}")


@sae.command("list")
@click.option("--model", "-m", default=None, help="only this model's SAEs (its label)")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def list_cmd(model: str | None, as_json: bool) -> None:
    """The stored SAEs: model, layer name (LAYER:saeK), k, readout, steps, seed, dead features, R², L0."""
    from ..extraction.sae_layer import list_saes

    stored = list_saes(model)
    if as_json:
        click.echo(json.dumps([{**s.card, "name": s.name, "folder": str(s.folder)} for s in stored], indent=2))
        return
    columns = ["model", "layer", "k", "readout", "steps", "seed", "probe", "dead", "R²", "L0"]
    rows = [[s.card["model"], s.name, s.card["active"], s.card["readout"], s.card["steps"], s.card["seed"],
             s.card["probe"]["n_stimuli"], s.card["dead"], f"{s.card['r2']:.4f}", f"{s.card['l0']:.2f}"]
            for s in stored]
    console().print(rich_table(f"{len(rows)} stored SAE{'s' * (len(rows) != 1)}", columns, rows))
