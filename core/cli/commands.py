"""The ``brainbench`` command: a thin layer over the Python API.

Exit codes: 0 success; 1 the work failed (bad data, missing weights, store errors);
2 the request was wrong (unknown names, bad options).
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from collections.abc import Callable
from typing import Any

import click

from .._version import __version__
from ..errors import CeilingWarning, ConfigError, UnknownNameError
from .data import data
from .sae import sae
from .warp import warp
from .tune import tune
from .experiment import experiment
from .leaderboard import leaderboard
from .plot import plot
from .stimuli import stimuli_from_paths as _stimuli_from_paths
from .output import (EXIT_FAILED, EXIT_USAGE, console, file_to_write, folder_to_write, handle_errors, plot_formats,
                     rich_table)

__all__ = ["EXIT_FAILED", "EXIT_USAGE", "main"]

UNTRUSTED = "none: ceiling untrusted"  # a normalised cell whose ceiling was too unreliable to divide the score
KIND_NAMES = {"models": "model", "datasets": "dataset", "metrics": "metric", "tuners": "tuner", "benchmarks": "benchmark",
              "image-distances": "image_distance"}
LIST_COLUMNS = {
    "model": ["source", "architecture", "task", "training_data", "input_size", "parameters", "offline_weights"],
    "dataset": ["species", "recording", "regions", "subjects", "needs_download"],
    "metric": ["version", "kind", "description"],
    "tuner": ["version", "description"],
    "benchmark": ["dataset", "region", "metric", "ceiling", "version"],
    "image_distance": ["version", "offline_weights", "description"],
}


HEADERS = {"training_data": "data", "input_size": "size", "parameters": "params", "offline_weights": "offline",
           "architecture": "arch", "needs_download": "download"}


def extraction_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The extraction engine's options, shared by ``score`` and ``extract`` (with ``--batch-size`` and ``--device``,
    which each command declares itself); :func:`_extraction_options` turns them into the options object."""
    options = [
        click.option("--tokens", type=click.Choice(["all", "cls", "mean"]), default="all", show_default=True,
                     help="transformer token layers: every token, the CLS token, or the mean over patch tokens"),
        click.option("--reduce", default=None, help="reduce large layers on the fly: srp:K or pca:K[/FIT]"),
        click.option("--memory-limit", default=None, help="e.g. 4GB (default: half of the available RAM)"),
        click.option("--no-cache", is_flag=True, help="do not read or write the activation cache"),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _extraction_options(*, tokens: str, reduce: str | None, memory_limit: str | None, no_cache: bool,
                        batch_size: int | None, device: str | None, seed: int | None = None) -> Any:
    """The :class:`~brainbench.extraction.options.ExtractionOptions` of the flags of :func:`extraction_options`,
    checked (ConfigError) before any work."""
    from ..extraction.options import ExtractionOptions

    return ExtractionOptions.of(tokens=tokens, reduce=reduce, memory_limit=memory_limit, cache=not no_cache,
                                batch_size=batch_size, device=device, seed=seed)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="brainbench")
def main() -> None:
    """Score deep networks against brain data, and keep the leaderboard."""


@main.command("list")
@click.argument("kind", type=click.Choice(sorted(KIND_NAMES)))
@click.argument("patterns", nargs=-1)
@click.option("--exclude", "-x", multiple=True, help="fnmatch pattern to leave out (repeatable)")
@click.option("--where", "-w", multiple=True, help="metadata filter key=value[,key=value] (values may be patterns)")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
@handle_errors
def list_cmd(kind: str, patterns: tuple[str, ...], exclude: tuple[str, ...], where: tuple[str, ...], as_json: bool) -> None:
    """List registered KIND (models, datasets, metrics, tuners, benchmarks, image-distances)."""
    from ..names import parse_where
    from ..registry.entries import list_entries

    singular = KIND_NAMES[kind]
    filters = parse_where(where)
    entries = list_entries(singular, patterns or None, exclude, filters)
    if not entries and (patterns or exclude or filters):
        raise ConfigError(_no_match(singular, patterns, exclude, filters))
    if as_json:
        click.echo(json.dumps([{"name": e.name, "plugin": e.plugin, **e.card.metadata()} for e in entries], indent=2, default=str))
        return
    columns = LIST_COLUMNS[singular]
    rows = [[e.name, *(_cell(e.card.metadata().get(c)) for c in columns), e.plugin] for e in entries]
    headers = ["name", *(HEADERS.get(c, c) for c in columns), "plugin"]
    console().print(rich_table(f"{len(entries)} {kind}", headers, rows))


def _no_match(kind: str, patterns: tuple[str, ...], exclude: tuple[str, ...], filters: dict[str, str]) -> str:
    """Why a listing with patterns or filters is empty: each filter no entry passes (with the values its field
    takes), the patterns no name matches (with close names), or else that only their combination excludes all."""
    from ..names import close_matches, matches
    from ..registry.entries import get_registry

    registry = get_registry(kind)
    reasons = [f"no {kind} has {key}={filters[key]}; its values: {_shown(values) or 'none set'}"
               for key, values in registry.unmatched(filters).items()]
    names = [entry.name for entry in registry.list()]
    if patterns and not any(matches(name, patterns) for name in names):
        close = close_matches(patterns[0].strip("*?[]"), names)
        reasons.append(f"no {kind} name matches {' or '.join(map(repr, patterns))} ({len(names)} {kind}s are "
                       f"registered{'; close: ' + ', '.join(close) if close else ''})")
    if not reasons:
        given = [*map(repr, patterns), *(f"-x {x!r}" for x in exclude), *(f"{k}={v}" for k, v in filters.items())]
        reasons.append(f"each of {', '.join(given)} matches some {kind}s, but no {kind} passes them all")
    return "; ".join(reasons)


def _shown(values: list[str], limit: int = 30) -> str:
    return ", ".join(values[:limit]) + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _cell(value: Any) -> Any:
    return ", ".join(map(str, value)) if isinstance(value, list) else value


@main.command()
@handle_errors
def plugins() -> None:
    """Every plugin as JSON: name, version, hooks, status and (if it failed) the error."""
    from ..registry.plugin_manager import plugin_info

    click.echo(json.dumps([info.as_dict() for info in plugin_info()], indent=2))


@main.command()
@click.option("--model", "-m", required=True, help="registered model (resnet18, resnet18.imagenet1k_v1) or package.module:factory")
@click.option("--benchmark", "-b", "benchmarks", required=True, multiple=True, help="benchmark id or pattern (repeatable)")
@click.option("--metric", default=None, help="score with this metric instead of the benchmark's")
@click.option("--weights", default=None, help="weights tag; 'random' for a seeded random initialisation")
@click.option("--seed", default=0, show_default=True, help="seed for random weights")
@click.option("--layers", default=None, help="comma-separated layers instead of the model's candidates: names, globs, depth:LO-HI, and a+b (layers combined into one candidate, a band each)")
@click.option("--device", default=None, help="cpu, cuda, cuda:N, mps or auto (default)")
@click.option("--batch-size", default=None, type=int)
@extraction_options
@click.option("--db", default=None, help="results database URL (default: $BRAINBENCH_DB or the data home)")
@click.option("--no-store", is_flag=True, help="do not store the result")
@click.option("--plot", "plot_path", default=None, help="write a layer-curve PNG here")
@click.option("--bootstrap", default=0, show_default=True, help="bootstrap replicates for a confidence interval (0: none)")
@click.option("--level", default=0.95, show_default=True, help="confidence level of the interval")
@click.option("--json", "as_json", is_flag=True, help="print the full result(s) as JSON")
@click.option("--quiet", "-q", is_flag=True, help="no progress bars")
@handle_errors
def score(model: str, benchmarks: tuple[str, ...], metric: str | None, weights: str | None, seed: int,
          layers: str | None, device: str | None, batch_size: int | None, tokens: str, reduce: str | None,
          memory_limit: str | None, no_cache: bool, db: str | None, no_store: bool,
          plot_path: str | None, bootstrap: int, level: float, as_json: bool, quiet: bool) -> None:
    """Score MODEL on one or more benchmarks, store and print the result."""
    from ..checks import check_count, check_level, check_seed
    from ..registry.catalog import describe_benchmark
    from ..registry.entries import get_model, list_entries
    from ..scoring.scorer import score as run_score
    from ..results.store import ResultsStore

    if plot_path:
        file_to_write(plot_path, "--plot", plot_formats())
    if bootstrap:
        check_count(bootstrap, "--bootstrap", minimum=2, hint="0 for no interval; 1000 is usual")
    check_level(level, "--level")
    check_seed(seed)
    options = _extraction_options(tokens=tokens, reduce=reduce, memory_limit=memory_limit, no_cache=no_cache,
                                  batch_size=batch_size, device=device)  # the seed is the model's (--seed)
    ids: list[str] = []
    for pattern in benchmarks:
        found = [e.name for e in list_entries("benchmark", pattern)] if any(c in pattern for c in "*?[") else [pattern]
        if not found:
            raise UnknownNameError("benchmark", pattern, [e.name for e in list_entries("benchmark")])
        ids += found
    store = None if no_store else ResultsStore(db)
    model_obj = get_model(model, weights=weights, seed=seed)
    results = []
    for benchmark in ids:
        with warnings.catch_warnings():  # the result's notes are printed with it
            warnings.simplefilter("ignore", CeilingWarning)
            result = run_score(model_obj, benchmark, metric=metric, layers=layers.split(",") if layers else None,
                               progress=not quiet, store=store, options=options, bootstrap=bootstrap, level=level)
        results.append(result)
        if not as_json:
            console().print(describe_benchmark(benchmark), highlight=False)
            _print_result(result)
    if as_json:
        click.echo(json.dumps([json.loads(r.to_json()) for r in results], indent=2))
    if plot_path:
        from ..results.plots import plot_layers

        console(stderr=True).print(f"layer curves: {plot_layers(results, plot_path)}")


def _normalised(score: Any) -> Any:
    """A normalised score for a table: the number, empty without a ceiling, or ``UNTRUSTED`` where a ceiling was not
    trusted to divide the score (the result's notes say why)."""
    return UNTRUSTED if score.normalised is None and score.ceiling is not None else score.normalised


def _print_result(result: Any) -> None:
    rows = [[s, v.n_neuroids, v.raw, v.ceiling, _normalised(v)] for s, v in result.subjects.items()]
    rows.append(["all", sum(v.n_neuroids for v in result.subjects.values()), result.raw, result.ceiling,
                 _normalised(result)])
    title = f"{result.model} on {result.benchmark} ({result.metric}): layer {result.layer}"
    if result.split_error is not None:
        title += f"; raw {result.raw:.3f} ± {result.split_error:.3f} (SEM over splits)"
    if result.ceiling_lower is not None:
        title += f"; ceiling bounds {result.ceiling_lower:.3f}-{result.ceiling:.3f}"
    console().print(rich_table(title, ["subject", f"{result.unit}s", "raw", "ceiling", "normalised"], rows))
    if result.interval is not None:
        ci = result.interval
        line = f"{ci.level:.0%} bootstrap interval over {ci.over} ({ci.n_boot} replicates): raw {ci.low:.3f} to {ci.high:.3f}"
        if ci.normalised_low is not None:
            line += f", normalised {ci.normalised_low:.3f} to {ci.normalised_high:.3f}"
        console().print(line)
    from rich.markup import escape

    for note in result.notes:  # subject names are the user's and may hold brackets: escaped
        console().print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False)


@main.command("compare")
@click.argument("model_a")
@click.argument("model_b")
@click.option("--benchmark", "-b", required=True, help="benchmark id")
@click.option("--metric", default=None, help="score with this metric instead of the benchmark's")
@click.option("--layers", default=None, help="comma-separated candidate layers for both models")
@click.option("--bootstrap", default=1000, show_default=True, help="paired bootstrap replicates")
@click.option("--permutations", default=1000, show_default=True, help="permutations (or sign flips) for the test")
@click.option("--level", default=0.95, show_default=True, help="confidence level of the intervals")
@click.option("--device", default=None, help="cpu, cuda, cuda:N, mps or auto (default)")
@click.option("--db", default=None, help="results database URL (default: $BRAINBENCH_DB or the data home)")
@click.option("--no-store", is_flag=True, help="do not store the two scores")
@click.option("--json", "as_json", is_flag=True, help="print the comparison as JSON")
@click.option("--quiet", "-q", is_flag=True, help="no progress bars")
@handle_errors
def compare_cmd(model_a: str, model_b: str, benchmark: str, metric: str | None, layers: str | None, bootstrap: int,
                permutations: int, level: float, device: str | None, db: str | None, no_store: bool, as_json: bool,
                quiet: bool) -> None:
    """Does MODEL_A beat MODEL_B on a benchmark? Scores both and tests the difference (paired bootstrap over
    stimuli and subjects, and a permutation test)."""
    from ..scoring.compare import compare_models
    from ..scoring.inference import describe
    from ..results.store import ResultsStore

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CeilingWarning)
        comparison, a, b = compare_models(
            model_a, model_b, benchmark, metric=metric, layers=layers.split(",") if layers else None, device=device,
            n_boot=bootstrap, n_perm=permutations, level=level, progress=not quiet,
            store=None if no_store else ResultsStore(db))
    if as_json:
        click.echo(comparison.model_dump_json(indent=2))
        return
    rows = [[r.model, r.layer, r.raw, f"{r.interval.low:.3f} to {r.interval.high:.3f}", _normalised(r)] for r in (a, b)]
    console().print(rich_table(f"{comparison.benchmark} ({comparison.metric})",
                            ["model", "layer", "raw", f"{level:.0%} interval", "normalised"], rows))
    console().print(describe(comparison), markup=False)
    from rich.markup import escape

    for note in comparison.notes:
        console().print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False)


@main.command()
@click.option("--model", "-m", "models", multiple=True, help="model pattern (repeatable)")
@click.option("--benchmark", "-b", "benchmarks", multiple=True, help="benchmark pattern (repeatable)")
@click.option("--all", "all_rows", is_flag=True, help="every stored row, not only the newest per model x benchmark")
@click.option("--id", "row_id", type=int, default=None, help="print one stored result in full (JSON)")
@click.option("--ii", "interpretability", is_flag=True,
              help="stored interpretability indices (brainbench interpret) instead of scores")
@click.option("--layer", "-l", "layers", multiple=True, help="with --ii: layer pattern (repeatable)")
@click.option("--db", default=None, help="results database URL")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def results(models: tuple[str, ...], benchmarks: tuple[str, ...], all_rows: bool, row_id: int | None,
            interpretability: bool, layers: tuple[str, ...], db: str | None, as_json: bool) -> None:
    """Query stored results."""
    from ..results.store import II_SUMMARY, SUMMARY, ResultsStore

    store = ResultsStore(db)
    if layers and not interpretability:
        raise ConfigError("--layer filters stored II results: add --ii (scores are filtered by --model and --benchmark)")
    if interpretability:
        if benchmarks:
            raise ConfigError("II results have no benchmark: filter them by --model and --layer")
        if row_id is not None:
            click.echo(store.get_interpretability(row_id).to_json(indent=2))
            return
        found = store.interpretability_rows(models or None, layers or None, latest=not all_rows)
        if not found and (models or layers):
            raise ConfigError(f"no stored II result matches model {' or '.join(models) or '*'} and layer "
                              f"{' or '.join(layers) or '*'}; list them all with `brainbench results --ii`")
        if as_json:
            click.echo(json.dumps(found, indent=2))
            return
        console().print(rich_table(f"{len(found)} II results in {store.url}", list(II_SUMMARY),
                                   [[f"{r[c]:.4f}" if isinstance(r[c], float) else r[c] for c in II_SUMMARY]
                                    for r in found]))
        return
    if row_id is not None:
        click.echo(store.get(row_id).to_json(indent=2))
        return
    rows = store.rows(models or None, benchmarks or None, latest=not all_rows)
    if not rows and (models or benchmarks):
        raise ConfigError(_no_results(store, models, benchmarks))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = [[UNTRUSTED if c == "normalised" and r[c] is None and r["ceiling"] is not None else r[c] for c in SUMMARY]
             for r in rows]
    console().print(rich_table(f"{len(rows)} results in {store.url}", list(SUMMARY), table))
    untrusted = [str(r["id"]) for r in rows if r["normalised"] is None and r["ceiling"] is not None]
    if untrusted:
        console().print(f"[yellow]note:[/yellow] results {', '.join(untrusted)} have a ceiling too unreliable to "
                         "divide a score, so no normalised score; `brainbench results --id N` says why")


def _no_results(store: Any, models: tuple[str, ...], benchmarks: tuple[str, ...]) -> str:
    """Why ``results`` with patterns found nothing: the patterns no stored row matches, with the stored values."""
    from ..names import matches
    from ..registry.entries import natural_key

    stored = store.rows(latest=False)
    if not stored:
        return f"the results store {store.url} holds no results yet; score a model first (brainbench score -m M -b B)"
    reasons = []
    for option, patterns, column in (("--model", models, "model"), ("--benchmark", benchmarks, "benchmark")):
        values = sorted({r[column] for r in stored}, key=natural_key)
        if patterns and not any(matches(v, patterns) for v in values):
            reasons.append(f"no stored result has {column} {' or '.join(map(repr, patterns))}; stored {column}s: "
                           f"{_shown(values)}")
    return "; ".join(reasons) or (f"no stored result has both model {' or '.join(map(repr, models))} and benchmark "
                                  f"{' or '.join(map(repr, benchmarks))}, though each matches some")


@main.command()
@click.argument("model")
@click.option("--weights", default=None, help="weights tag ('random' for a seeded random initialisation)")
@click.option("--layers", default=None, help="only these: names, globs, depth:LO-HI (comma-separated)")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def layers(model: str, weights: str | None, layers: str | None, as_json: bool) -> None:
    """Every layer of MODEL: dotted name, type, relative depth, output shape, and duplicates."""
    from ..extraction.layers import select_layers
    from ..registry.entries import get_model

    model_obj = get_model(model, weights=weights)
    table = model_obj.layer_table()
    candidates = {i.name for i in select_layers(table, model_obj.default_layers, model=model_obj.label, strict=False)}
    if layers:
        table = select_layers(table, layers.split(","), model=model_obj.label)
    rows = [{"layer": i.name, "type": i.type, "depth": i.depth, "shape": "x".join(map(str, i.shape)),
             "tokens": i.tokens, "same_as": i.same_as or "", "candidate": i.name in candidates} for i in table]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    columns = ["layer", "type", "depth", "shape", "tokens", "same_as", "candidate"]
    console().print(rich_table(f"{len(rows)} layers of {model_obj.label}", columns,
                            [[_yes(r[c]) for c in columns] for r in rows]))


def _yes(value: Any) -> Any:
    return ("yes" if value else "") if isinstance(value, bool) else value


@main.command()
@click.option("--model", "-m", required=True, help="registered model or package.module:factory")
@click.option("--stimuli", "-s", "paths", multiple=True, type=click.Path(exists=True),
              help="image files or folders of images (repeatable), or one table: a .csv/.tsv with caption or "
                   "filename (and stimulus_id) columns, or a .txt of one caption per line")
@click.option("--dataset", "-d", default=None, help="the stimulus set of a registered dataset")
@click.option("--weights", default=None, help="weights tag; 'random' for a seeded random initialisation")
@click.option("--seed", default=0, show_default=True, help="seed for random weights and reductions")
@click.option("--layers", default=None, help="names, globs, depth:LO-HI (comma-separated; default: the candidates)")
@click.option("--device", default=None, help="cpu, cuda, cuda:N, mps or auto (default)")
@click.option("--batch-size", default=None, type=int, help="default: as large as fits the memory limit")
@extraction_options
@click.option("--dry-run", is_flag=True, help="report every layer's shape and bytes and the passes, then stop")
@click.option("--output", "-o", default=None, type=click.Path(), help="folder for one netCDF file per layer")
@click.option("--json", "as_json", is_flag=True, help="print the plan as JSON")
@click.option("--quiet", "-q", is_flag=True, help="no progress bars")
@handle_errors
def extract(model: str, paths: tuple[str, ...], dataset: str | None, weights: str | None, seed: int,
            layers: str | None, device: str | None, batch_size: int | None, tokens: str, reduce: str | None,
            memory_limit: str | None, no_cache: bool, dry_run: bool, output: str | None, as_json: bool,
            quiet: bool) -> None:
    """Extract MODEL's features for a stimulus set (to the cache, and to --output as netCDF)."""
    from ..extraction.plan import plan_extraction
    from ..registry.entries import get_dataset, get_model

    if bool(paths) == bool(dataset):
        raise ConfigError("give the stimuli either as --stimuli files/folders or as --dataset NAME")
    if output and not dry_run:
        folder_to_write(output, "--output")
    options = _extraction_options(tokens=tokens, reduce=reduce, memory_limit=memory_limit, no_cache=no_cache,
                                  batch_size=batch_size, device=device, seed=seed)
    stimuli = get_dataset(dataset).stimulus_set() if dataset else _stimuli_from_paths(paths)
    model_obj = get_model(model, weights=weights, seed=seed)
    selected = layers.split(",") if layers else None
    if dry_run:
        plan = plan_extraction(model_obj, stimuli, selected, options=options)
    else:
        features = model_obj.extract(stimuli, selected, progress=not quiet, options=options)
        plan = features.plan
    if as_json:
        click.echo(json.dumps({"summary": plan.summary(), "layers": plan.rows(), "passes": plan.passes,
                               "batch_sizes": plan.batch_sizes, "total_bytes": plan.total_bytes}, indent=2))
    else:
        _print_plan(plan)
    if output and not dry_run:
        from pathlib import Path

        from ..data.netcdf import write_assembly

        folder = Path(output)
        folder.mkdir(parents=True, exist_ok=True)
        for layer in features:
            write_assembly(features[layer], folder / f"{layer}.nc", identifier=f"{model_obj.label}.{layer}",
                           stimulus_set_identifier=stimuli.identifier)
        console(stderr=True).print(f"{len(features)} feature file{'s' * (len(features) != 1)} in {folder}")


def _print_plan(plan: Any) -> None:
    from ..extraction.memory import format_bytes

    columns = ["layer", "type", "depth", "shape", "tokens", "units", "bytes", "same_as", "pass"]
    rows = [[r["layer"], r["type"], r["depth"], r["shape"], r["tokens"], r["units"], format_bytes(r["bytes"]),
             r["same_as"], r["pass"]] for r in plan.rows()]
    console().print(rich_table(plan.summary(), columns, rows))


main.add_command(data)
main.add_command(sae)
main.add_command(warp)
main.add_command(tune)
main.add_command(experiment)
main.add_command(leaderboard)
main.add_command(plot)


@main.command()
@click.option("--model", "-m", required=True, help="registered model or package.module:factory")
@click.option("--layer", "-l", required=True, help="the layer whose units to measure")
@click.option("--probe", "-p", "paths", multiple=True, required=True, type=click.Path(exists=True),
              help="the probe set: image files or folders of images (repeatable), or one stimulus table")
@click.option("-k", "k", default=9, show_default=True, help="top images per unit (II averages their k(k-1)/2 pairs)")
@click.option("--distance", default="lpips", show_default=True,
              help="a registered image distance (brainbench list image-distances): lpips (AlexNet v0.1; its trunk "
                   "must be cached offline) or efficientnet_lite0-perceptual (offline weights)")
@click.option("--readout", default="mean", show_default=True, help="a channel's spatial mean, its centre, or all units")
@click.option("--units", default=None, help="unit indices, comma-separated (default: all)")
@click.option("--n-units", default=None, type=int, help="a seeded sample of this many units")
@click.option("--baseline-sets", default=100, show_default=True, help="random k-image sets of the baseline")
@click.option("--image-size", default=64, show_default=True, help="side of the images the distance compares")
@click.option("--weights", default=None, help="weights tag; 'random' for a seeded random initialisation")
@click.option("--seed", default=0, show_default=True, help="seeds the unit sample and the baseline's sets")
@click.option("--device", default=None, help="cpu, cuda, cuda:N, mps or auto (default)")
@click.option("--grid", "grid_path", default=None, type=click.Path(),
              help="also write the units' MEI grid (top images, best first) to this .png")
@click.option("--db", default=None, help="results database URL (default: $BRAINBENCH_DB or the data home)")
@click.option("--no-store", is_flag=True, help="do not store the result")
@click.option("--json", "as_json", is_flag=True, help="per-unit values as JSON")
@click.option("--quiet", "-q", is_flag=True, help="no progress bars")
@handle_errors
def interpret(model: str, layer: str, paths: tuple[str, ...], k: int, distance: str, readout: str, units: str | None,
              n_units: int | None, baseline_sets: int, image_size: int, weights: str | None, seed: int,
              device: str | None, grid_path: str | None, db: str | None, no_store: bool, as_json: bool,
              quiet: bool) -> None:
    """The interpretability index (II, Klindt et al. 2023) of LAYER's units on a probe set, with its baseline;
    stored in the results store (`brainbench results --ii`) unless --no-store."""
    from ..interpret.measure import measure_interpretability
    from ..registry.entries import get_model
    from ..results.store import ResultsStore

    chosen = None
    if units is not None:
        try:
            chosen = [int(u) for u in units.split(",")]
        except ValueError:
            raise ConfigError(f"--units takes whole numbers separated by commas; got {units!r}") from None
    if grid_path is not None:
        file_to_write(grid_path, "--grid", {"png": "Portable Network Graphics"})
    store = None if no_store else ResultsStore(db)
    stimuli = _stimuli_from_paths(paths)
    result = measure_interpretability(get_model(model, weights=weights, seed=seed), stimuli, layer,
                                      k=k, distance=distance, image_size=image_size, baseline_sets=baseline_sets,
                                      seed=seed, readout=readout, units=chosen, n_units=n_units, device=device,
                                      progress=not quiet)
    if grid_path is not None:
        from ..interpret.grid import mei_grid

        mei_grid(result.top, stimuli, grid_path)
    row_id = None if store is None else store.add_interpretability(result.record())
    if as_json:
        click.echo(json.dumps({
            "id": row_id, "model": result.top.model, "layer": result.top.layer, "readout": result.top.readout, "k": result.k,
            "distance": result.distance, "ii_mean": result.mean, "ii_sd": result.sd,
            "baseline_mean": result.baseline.mean, "baseline_sd": result.baseline.sd,
            "units": [{"unit": int(u), "ii": float(v), "mean_distance": float(d), "normalised": float(z),
                       "top_images": ids}
                      for u, v, d, z, ids in zip(result.top.units, result.ii, result.mean_distance, result.normalised,
                                                 result.top.stimulus_ids, strict=True)]}, indent=2))
        return
    click.echo(result.summary())
    rows = [[int(u), f"{v:.4f}", f"{d:.4f}", f"{z:+.2f}", ", ".join(ids[:3]) + (", ..." if len(ids) > 3 else "")]
            for u, v, d, z, ids in zip(result.top.units, result.ii, result.mean_distance, result.normalised,
                                       result.top.stimulus_ids, strict=True)]
    console().print(rich_table(f"II of {len(rows)} units", ["unit", "II", "mean distance", "normalised", "top images"],
                               rows))
    if row_id is not None:
        click.echo(f"stored as II result {row_id} in {store.url} (brainbench results --ii; brainbench "
                   f"interpret-compare {row_id} OTHER_ID)")


@main.command("interpret-compare")
@click.argument("ids", nargs=-1, type=int, required=True)
@click.option("--normalised", is_flag=True,
              help="compare each unit's II in sds of its own baseline (for results under different distances or k)")
@click.option("--permutations", default=10_000, show_default=True, help="random relabellings of the permutation test")
@click.option("--seed", default=0, show_default=True, help="seeds the permutation test")
@click.option("--plot", "plot_path", default=None, type=click.Path(),
              help="write the per-unit distributions (violins, one point per unit) to this .png or .svg")
@click.option("--db", default=None, help="results database URL")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def interpret_compare(ids: tuple[int, ...], normalised: bool, permutations: int, seed: int, plot_path: str | None,
                      db: str | None, as_json: bool) -> None:
    """Compare stored II results (IDS from `brainbench results --ii`): per-unit distributions, Welch's t, a
    permutation test and Cohen's d for every pair, and a one-way ANOVA with eta squared for three or more."""
    from ..interpret.stats import compare_records, plot_distributions
    from ..results.store import ResultsStore

    if plot_path is not None:
        file_to_write(plot_path, "--plot", {"png": "Portable Network Graphics", "svg": "Scalable Vector Graphics"})
    store = ResultsStore(db)
    records = [store.get_interpretability(i) for i in ids]
    labels = [f"#{i} {r.label()}" for i, r in zip(ids, records, strict=True)]
    comparison = compare_records(records, value="normalised" if normalised else "ii", labels=labels,
                                 n_permutations=permutations, seed=seed)
    if plot_path is not None:
        import matplotlib.pyplot as plt

        plt.close(plot_distributions(comparison, plot_path))
    pairs = [{"a": comparison.labels[i], "b": comparison.labels[j], **dataclasses.asdict(c)}
             for (i, j), c in comparison.pairs.items()]
    anova = None if comparison.anova is None else dataclasses.asdict(comparison.anova)
    if as_json:
        click.echo(json.dumps({"value": comparison.value, "groups": comparison.describe(), "pairs": pairs,
                               "anova": anova}, indent=2))
        return
    console().print(rich_table(f"per-unit {'normalised II' if normalised else 'II'}", ["group", "n", "mean", "sd", "median", "q1", "q3"],
                               [[d["group"], d["n"], *(f"{d[c]:.4f}" for c in ("mean", "sd", "median", "q1", "q3"))]
                                for d in comparison.describe()]))
    console().print(rich_table("pairs (a - b)", ["a", "b", "difference", "Welch t", "df", "p (Welch)",
                                                 "p (permutation)", "Cohen's d"],
                               [[p["a"], p["b"], f"{p['difference']:+.4f}", f"{p['welch_t']:.3f}", f"{p['welch_df']:.1f}",
                                 f"{p['welch_p']:.3g}", f"{p['permutation_p']:.3g}", f"{p['cohens_d']:+.3f}"]
                                for p in pairs]))
    if anova is not None:
        click.echo(f"one-way ANOVA over {len(ids)} groups: F = {anova['f']:.3f}, p = {anova['p']:.3g}, "
                   f"eta squared = {anova['eta_squared']:.3f}")
    if plot_path is not None:
        click.echo(f"wrote {plot_path}")


@main.command()
@click.option("--model", "-m", required=True, help="registered model or package.module:factory")
@click.option("--layer", "-l", required=True, help="the layer the objective reads (`brainbench layers MODEL`)")
@click.option("--unit", default=None, type=int, help="a unit: this channel at the map's centre (a flat layer: output)")
@click.option("--channel", default=None, type=int, help="a channel's spatial mean")
@click.option("--direction", default=None, type=click.Path(exists=True, dir_okay=False),
              help="a .npy vector over the layer's channels, dotted with their spatial means")
@click.option("--voxel", default=None, metavar="BENCHMARK:NEUROID_ID",
              help="a benchmark neuroid's ridge encoding model on this layer (e.g. cowley2023.V4:210325.07)")
@click.option("--steps", default=256, show_default=True, help="Adam steps")
@click.option("--lr", default=0.05, show_default=True, help="Adam's learning rate")
@click.option("--size", default=128, show_default=True, help="side of the optimised image in pixels")
@click.option("--param", default="fourier", show_default=True, help="image parameterisation: fourier or pixel")
@click.option("--transforms", default="standard", show_default=True,
              help="standard (lucid's pad, jitter, scale, rotate) or none")
@click.option("--colour-from", "colour_from", multiple=True, type=click.Path(exists=True),
              help="images (files or folders) whose RGB covariance decorrelates the colours (default: identity)")
@click.option("--n-stimuli", default=None, type=int,
              help="--voxel: fit on the benchmark's first N stimuli (default all)")
@click.option("--weights", default=None, help="weights tag; 'random' for a seeded random initialisation")
@click.option("--seed", default=0, show_default=True, help="seeds the image's start and the transforms")
@click.option("--device", default=None, help="cpu, cuda, cuda:N, mps or auto (default)")
@click.option("--output", "-o", "output", required=True, type=click.Path(), help="the .png to write")
@click.option("--grid", "grid_path", default=None, type=click.Path(),
              help="also write the objective's top-k probe images (an MEI grid) to this .png")
@click.option("--probe", "probe", multiple=True,
              help="with --grid: probe images (files, folders, a table) or a benchmark/dataset name; default for "
                   "--voxel: the benchmark's stimuli")
@click.option("-k", "k", default=9, show_default=True, help="with --grid: top images")
@click.option("--json", "as_json", is_flag=True, help="settings, objective before/after and its curve as JSON")
@handle_errors
def visualize(model: str, layer: str, unit: int | None, channel: int | None, direction: str | None,
              voxel: str | None, steps: int, lr: float, size: int, param: str, transforms: str,
              colour_from: tuple[str, ...], n_stimuli: int | None, weights: str | None, seed: int,
              device: str | None, output: str, grid_path: str | None, probe: tuple[str, ...], k: int,
              as_json: bool) -> None:
    """Feature visualisation: optimise an image so that a unit, a channel, a direction or a benchmark neuroid's
    encoding model responds most, and write it as a PNG."""
    import numpy as np

    from ..interpret.visualize import Channel, Direction, Unit, Voxel, colour_matrix, fit_voxel
    from ..interpret.visualize import visualize as run_visualisation
    from ..interpret.visualize.optimise import check_settings
    from ..registry.entries import get_model

    given = [name for name, value in (("--unit", unit), ("--channel", channel), ("--direction", direction),
                                      ("--voxel", voxel)) if value is not None]
    if len(given) != 1:
        raise ConfigError(f"give exactly one objective: --unit, --channel, --direction or --voxel (got "
                          f"{', '.join(given) or 'none'})")
    file_to_write(output, "--output", {"png": "Portable Network Graphics"})
    if grid_path is not None:
        file_to_write(grid_path, "--grid", {"png": "Portable Network Graphics"})
        if not probe and voxel is None:
            raise ConfigError("--grid needs --probe (images, or a benchmark or dataset name) for a unit, channel or "
                              "direction; a --voxel grid defaults to its benchmark's stimuli")
    elif probe:
        raise ConfigError("--probe is read only with --grid; add --grid mei.png")
    check_settings(steps, lr, size, param, 1.0, transforms, seed)
    colour = colour_matrix(_stimuli_from_paths(colour_from)) if colour_from else None
    if voxel is not None:
        benchmark, colon, neuroid = voxel.partition(":")
        if not colon or not benchmark or not neuroid:
            raise ConfigError(f"--voxel {voxel!r}: write BENCHMARK:NEUROID_ID, e.g. cowley2023.V4:210325.07")
    vector = None
    if direction is not None:
        try:
            vector = np.load(direction, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise ConfigError(f"--direction {direction}: not a .npy array ({error}); save one with "
                              "numpy.save") from None
    net = get_model(model, weights=weights, seed=seed)
    if unit is not None:
        objective: Any = Unit(layer, unit)
    elif channel is not None:
        objective = Channel(layer, channel)
    elif vector is not None:
        objective = Direction(layer, vector)
    else:
        readout = fit_voxel(net, benchmark, neuroid, layer, n_stimuli=n_stimuli, device=device)
        objective = Voxel(readout.layer, readout)
    result = run_visualisation(net, objective, steps=steps, lr=lr, size=size, param=param, colour=colour,
                               transforms=transforms, seed=seed, device=device)
    result.save_png(output)
    grid_ids = None
    if grid_path is not None:
        from .stimuli import probe_stimuli
        from ..interpret.grid import mei_grid
        from ..interpret.visualize import objective_top_images

        probe_set = probe_stimuli(probe if probe else (benchmark,))
        top = objective_top_images(net, objective, probe_set, k, device=device)
        mei_grid(top, probe_set, grid_path, labels=[top.readout])
        grid_ids = top.stimulus_ids[0]
    if as_json:
        click.echo(json.dumps({"output": output, "before": result.before, "after": result.after,
                               "settings": result.settings, "curve": [float(v) for v in result.curve],
                               **({"grid": grid_path, "top_images": grid_ids} if grid_path else {})}, indent=2))
        return
    described = result.settings
    what = {"unit": f"unit {described.get('unit')} at {described.get('position')}",
            "channel": f"channel {described.get('channel')}", "direction": "direction",
            "voxel": f"{described.get('benchmark')} neuroid {described.get('neuroid')!r} (ridge, LOO r "
                     f"{described.get('loo_r', float('nan')):.3f})"}[described["objective"]]
    click.echo(f"{described['model']} {described['layer']}, {what}: objective {result.before:.4g} -> "
               f"{result.after:.4g} after {steps} steps ({param}, {transforms} transforms, seed {seed})")
    click.echo(f"wrote {output}")
    if grid_path is not None:
        click.echo(f"wrote {grid_path}: the top {k} probe images ({', '.join(grid_ids[:3])}, ...)")
