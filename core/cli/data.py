"""``brainbench data``: what datasets are present, how big, whether they verify; fetch, import and remove them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..errors import ConfigError
from .output import console, handle_errors, rich_table

__all__ = ["data"]


def _datasets(names: tuple[str, ...]) -> list[Any]:
    from ..registry.entries import get_dataset, list_entries

    chosen = names or tuple(e.name for e in list_entries("dataset"))
    return [get_dataset(name) for name in chosen]


def _local(dataset: Any, name: str) -> Path:
    from ..data.downloads import dataset_dir

    return dataset_dir(dataset.folder) / name


@click.group()
def data() -> None:
    """Dataset files in the data home: list, fetch, import, verify, path, rm."""


@data.command("list")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def list_cmd(as_json: bool) -> None:
    """Every dataset's files: how many are present and their size on disk (no hashing), and which datasets can be
    imported from your files (`brainbench data import DATASET SOURCE`)."""
    from ..extraction.memory import format_bytes

    rows = []
    for ds in _datasets(()):
        present = ds.local_files()
        kind = len(ds.files) or ("fetched in parts" if ds.card.needs_download else "local" if present else "built in")
        rows.append({"name": ds.name, "files": kind, "present": len(present),
                     "bytes": sum(p.stat().st_size for p in present),
                     "folder": str(_local(ds, "")) if present or ds.files else "", "importable": ds.importable})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    console().print(rich_table("datasets", ["name", "files", "present", "size", "import", "folder"],
                               [[r["name"], r["files"], r["present"], format_bytes(r["bytes"]),
                                 f"data import {r['name']}" if r["importable"] else "", r["folder"]] for r in rows]))


@data.command()
@click.argument("names", nargs=-1, required=True)
@click.option("--subjects", default=None, help="comma-separated subjects, for datasets fetched per subject (nsd)")
@click.option("--sessions", default=None, help="comma-separated sessions (nsd; default: all)")
@click.option("--images", type=click.Choice(["shared1000", "all"]), default=None,
              help="nsd: keep trials of the shared1000 (default) or of every image the subjects saw, read out of "
                   "NSD's stimulus HDF5 by range requests")
@click.option("--accept-terms", is_flag=True, help="accept the dataset's terms of use without asking")
@click.option("--quiet", "-q", is_flag=True, help="no progress bars")
@handle_errors
def fetch(names: tuple[str, ...], subjects: str | None, sessions: str | None, images: str | None, accept_terms: bool,
          quiet: bool) -> None:
    """Fetch every file of the named datasets (mirror first, then the publisher) and verify it."""
    given = {"subjects": _ints(subjects, "--subjects"), "sessions": _ints(sessions, "--sessions"), "images": images}
    options = {k: v for k, v in given.items() if v}
    chosen = _datasets(names)
    for ds in chosen:  # every option checked before any terms are asked or any file fetched
        ds.check_download(**options)
    for ds in chosen:
        _terms(ds, accept_terms)
        for path in ds.download(progress=not quiet, **options):
            click.echo(path)


def _ints(text: str | None, option: str) -> list[int] | None:
    """``"1,2, 5"`` -> [1, 2, 5]; anything but comma-separated whole numbers is a ConfigError naming ``option``."""
    if not text:
        return None
    items = [t for t in text.replace(" ", "").split(",") if t]
    bad = [t for t in items if not t.isdigit()]
    if bad or not items:
        raise ConfigError(f"{option} takes comma-separated whole numbers, e.g. {option} 1,2; got {text!r}")
    return [int(t) for t in items]


def _terms(ds: Any, accept: bool) -> None:
    """Show a dataset's terms of use once; fetching needs them accepted."""
    from ..data.downloads import accept_terms, terms_accepted

    if ds.terms is None or terms_accepted(ds.folder):
        return
    click.echo(ds.terms)
    if not accept and not click.confirm(f"Do you accept the terms of use of {ds.name}?"):
        raise click.Abort()
    accept_terms(ds.folder)


@data.command()
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def verify(names: tuple[str, ...], as_json: bool) -> None:
    """Hash every present file against its declared checksum; exit status 1 if any file is damaged."""
    from ..data.downloads import file_hash
    from ..data.downloads import verify as verified

    rows = []
    for ds in _datasets(names):
        for f in ds.files:
            path = _local(ds, f.name)
            if not path.is_file():
                status, actual = "missing", ""
            elif verified(f, path):
                status, actual = ("complete (no checksum published)", "") if f.unverified else ("ok", f.digest)
            else:
                status = "damaged"
                actual = f"{path.stat().st_size} bytes" if f.unverified else file_hash(path, f.algorithm)
            rows.append({"dataset": ds.name, "file": f.name, "status": status, "expected": f"{f.algorithm}:{f.digest}",
                         "actual": actual})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        console().print(rich_table("verification", ["dataset", "file", "status", "expected", "actual"],
                                [[r["dataset"], r["file"], r["status"], r["expected"][:20], r["actual"][:12]]
                                 for r in rows]))
    if any(r["status"] == "damaged" for r in rows):
        raise SystemExit(1)


@data.command()
@click.argument("name")
@handle_errors
def path(name: str) -> None:
    """The folder that holds a dataset's files."""
    click.echo(_local(_datasets((name,))[0], ""))


@data.command()
@click.argument("names", nargs=-1, required=True)
@click.option("--yes", "-y", is_flag=True, help="do not ask")
@handle_errors
def rm(names: tuple[str, ...], yes: bool) -> None:
    """Delete the named datasets' files (and what was unpacked from them) from the data home."""
    for ds in _datasets(names):
        present = ds.local_files()
        if not present:
            click.echo(f"{ds.name}: nothing to remove")
            continue
        if not yes and not click.confirm(f"remove {len(present)} files of {ds.name}?"):
            continue
        click.echo(f"{ds.name}: removed {len(ds.remove_local())} files and folders")


class ImportGroup(click.Group):
    """``brainbench data import``: ``assembly`` and ``folder`` (your own data as a new dataset), then one command per
    registered dataset that implements the Dataset contract's ``import_data`` (NSD), built from its declared
    ``import_options``; any other name is a command that says which datasets can be imported."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from ..registry.user_datasets import importable_datasets

        own = super().list_commands(ctx)
        return [*own, *(name for name in importable_datasets() if name not in own)]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return super().get_command(ctx, name) or dataset_import_command(name)


@data.group("import", cls=ImportGroup)
def import_group() -> None:
    """Import a dataset from your files: a registered dataset that can be imported (`import DATASET SOURCE`, e.g.
    nsd), or your own data as a named dataset with benchmarks (`import assembly`, `import folder`; no plugin needed)."""


def dataset_import_command(name: str) -> click.Command:
    """``brainbench data import <name> SOURCE [--root SOURCE] [options] [-q]``: the options are those dataset ``name``
    declares (:class:`~brainbench.registry.contracts.ImportOption`); it calls
    :func:`brainbench.registry.user_datasets.import_dataset`. A name that is no dataset, or a dataset that cannot be
    imported, gives a command that accepts anything and exits with that error (:data:`~.output.EXIT_USAGE`)."""
    from ..errors import BrainbenchError
    from ..registry.entries import get_dataset
    from ..registry.user_datasets import check_importable

    try:
        dataset = get_dataset(name)
    except BrainbenchError as exc:
        return _refusal(name, exc)
    try:
        check_importable(dataset)
    except BrainbenchError as exc:
        return _refusal(name, exc)
    params: list[click.Parameter] = [
        click.Argument(["source"], required=False, type=click.Path(exists=True)),
        click.Option(["--root"], type=click.Path(exists=True), help="SOURCE given as an option (the older spelling)"),
    ]
    for option in dataset.import_options:
        flag = "--" + option.name.replace("_", "-")
        if option.kind == "flag":
            params.append(click.Option([flag, option.name], is_flag=True, help=option.help))
            continue
        kind = {"int": int, "choice": click.Choice(list(option.choices))}.get(option.kind, str)
        params.append(click.Option([flag, option.name], type=kind, default=option.default, help=option.help,
                                   show_default=option.default is not None))
    params.append(click.Option(["--quiet", "-q"], is_flag=True, help="no progress bars"))

    @handle_errors
    def run(source: str | None, root: str | None, quiet: bool, **given: Any) -> None:
        from ..registry.user_datasets import import_dataset

        if source and root and source != root:
            raise ConfigError(f"give the source of {name} once: SOURCE {source} and --root {root} differ")
        if not (source or root):
            raise ConfigError(f"give the source of {name} ({dataset.import_source}): brainbench data import {name} "
                              "SOURCE")
        options = {}
        for option in dataset.import_options:
            value = given[option.name]
            if value is None or value is False:
                continue
            flag = "--" + option.name.replace("_", "-")
            if option.kind == "ints":
                value = _ints(value, flag)
            elif option.kind == "texts":
                value = [t for t in value.replace(" ", "").split(",") if t]
            options[option.name] = value
        folder = import_dataset(name, source or root, progress=not quiet, **options)
        click.echo(f"{dataset.card.name} imported into {folder}")

    return click.Command(name, params=params, callback=run,
                         help=f"Import dataset {name} from SOURCE, {dataset.import_source}.")


def _refusal(name: str, error: Exception) -> click.Command:
    """A command that takes any arguments and exits with ``error`` (an unknown or non-importable dataset)."""

    @handle_errors
    def refuse(args: tuple[str, ...]) -> None:
        raise error

    return click.Command(name, params=[click.Argument(["args"], nargs=-1, type=click.UNPROCESSED)], callback=refuse,
                         context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
                         help=f"({name} cannot be imported: {error})")


@import_group.command("assembly")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--name", required=True, help="dataset name; its benchmarks are <name>.<region>")
@click.option("--stimuli", "stimuli_csv", required=True, type=click.Path(exists=True, dir_okay=False),
              help="the stimulus set's CSV (brainio layout: stimulus_id, filename, metadata)")
@click.option("--images", "stimuli_zip", required=True, type=click.Path(exists=True, dir_okay=False),
              help="the stimulus set's ZIP of images")
@click.option("--time-bin", type=int, default=None, help="which time bin to keep when the assembly has several")
@click.option("--overwrite", is_flag=True, help="replace an imported dataset of the same name")
@handle_errors
def import_assembly_cmd(path: str, name: str, stimuli_csv: str, stimuli_zip: str, time_bin: int | None,
                        overwrite: bool) -> None:
    """Import a Brain-Score netCDF assembly (PATH) and its stimulus set."""
    from ..registry.user_datasets import import_assembly

    _imported(import_assembly(path, name=name, stimuli_csv=stimuli_csv, stimuli_zip=stimuli_zip, time_bin=time_bin,
                              overwrite=overwrite))


@import_group.command("folder")
@click.argument("images", type=click.Path(exists=True, file_okay=False))
@click.argument("responses", type=click.Path(exists=True, dir_okay=False))
@click.option("--name", required=True, help="dataset name; its benchmark is <name>.<region>")
@click.option("--region", required=True, help="brain region of the responses")
@click.option("--subject", default=None, help="subject id (default: the dataset name)")
@click.option("--overwrite", is_flag=True, help="replace an imported dataset of the same name")
@handle_errors
def import_folder_cmd(images: str, responses: str, name: str, region: str, subject: str | None, overwrite: bool) -> None:
    """Import a folder of IMAGES and a RESPONSES matrix (.npy rows in sorted file order, or .csv with stimulus_id)."""
    from ..registry.user_datasets import import_folder

    _imported(import_folder(images, responses, name=name, region=region, subject=subject, overwrite=overwrite))


def _imported(folder: Path) -> None:
    manifest = json.loads((folder / "dataset.json").read_text())
    benchmarks = ", ".join(f"{manifest['name']}.{r}" for r in manifest["regions"])
    n_trials = manifest.get("n_trials", manifest["n_stimuli"])  # every row of the responses is a trial kept
    trials = f", {n_trials} trials" if n_trials != manifest["n_stimuli"] else ""
    click.echo(f"imported {manifest['name']}: {manifest['n_stimuli']} stimuli{trials}, {manifest['n_neuroids']} neuroids "
               f"-> {folder}\nbenchmarks: {benchmarks}")
