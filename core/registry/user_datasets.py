"""Importing datasets from the user's files: a registered dataset that implements the Dataset contract's
``import_data`` (NSD from a local copy; :func:`import_dataset`, ``brainbench data import <dataset> SOURCE``), or
your own data as a new named dataset, no plugin needed: a Brain-Score assembly (+ stimulus set), or a
folder of images plus a response matrix, imported into ``<data home>/datasets/imported/<name>/``.

An imported dataset is self-contained: ``assembly.nc`` (brainbench's netCDF layout), ``stimuli.csv``
(``stimulus_id``, ``filename`` relative to ``images/``, metadata), ``images/`` and ``dataset.json``
(what it holds and where it came from). The folder is written beside its final place and renamed
into it, so a failed import leaves nothing behind. The built-in ``imported`` plugin registers each
one as a dataset with one benchmark per region, ``<name>.<region>``: ridge encoding on seeded
K-fold splits (10 folds from 100 stimuli, else 5), with a split-half ceiling where trials repeat.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import AssemblyError, ConfigError, DataFileError
from ..data.files import atomic_dir

if TYPE_CHECKING:
    import xarray as xr

    from ..data.stimuli import StimulusSet

__all__ = ["IMAGE_SUFFIXES", "check_importable", "import_assembly", "import_dataset", "import_folder", "importable_datasets", "imported_dir",
           "imported_manifests"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
MANIFEST = "dataset.json"


def imported_dir(name: str | None = None) -> Path:
    """``<data home>/datasets/imported`` (or one dataset's folder in it)."""
    from ..data.downloads import dataset_dir

    root = dataset_dir("imported")
    return root / name if name else root


def imported_manifests() -> list[dict[str, Any]]:
    """The manifests of every imported dataset, by name."""
    root = imported_dir()
    found = []
    for path in sorted(root.glob(f"*/{MANIFEST}")) if root.is_dir() else []:
        if path.parent.name.startswith("."):  # an import in progress, or one that was killed
            continue
        try:
            found.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise DataFileError(f"{path} cannot be read ({exc}); remove {path.parent} and import the data again") from None
    return found


def importable_datasets() -> list[str]:
    """Names of the registered datasets that implement :meth:`~brainbench.registry.contracts.Dataset.import_data`
    (a dataset whose plugin fails to build is left out; ``brainbench plugins`` reports it)."""
    from ..errors import BrainbenchError
    from .entries import get_dataset, list_entries

    names = []
    for entry in list_entries("dataset"):
        try:
            if get_dataset(entry.name).importable:
                names.append(entry.name)
        except BrainbenchError:
            continue
    return names


def check_importable(dataset: Any) -> None:
    """Raise :class:`~brainbench.errors.ConfigError` naming the datasets that can be imported when ``dataset`` does
    not implement :meth:`~brainbench.registry.contracts.Dataset.import_data`."""
    if not dataset.importable:
        can = importable_datasets()
        raise ConfigError(f"dataset {dataset.name} cannot be imported from your files (it does not implement "
                          f"import_data); datasets that can: {', '.join(can) or 'none installed'}; to import your own "
                          "data as a new dataset use `brainbench data import assembly` or `brainbench data import folder`")


def import_dataset(name: str, source: str | Path, *, progress: bool = True, **options: Any) -> Path:
    """Import the registered dataset ``name`` from the user's files at ``source`` through its ``import_data``, with
    ``options`` among those it declares (``import_options``); returns the folder written.

    Raises :class:`~brainbench.errors.UnknownNameError` for a dataset not registered, and
    :class:`~brainbench.errors.ConfigError` for one that cannot be imported (naming those that can) or an option it
    does not declare (naming those it does), before anything is read."""
    from .entries import get_dataset

    dataset = get_dataset(name)
    check_importable(dataset)
    declared = [option.name for option in dataset.import_options]
    unknown = sorted(set(options) - set(declared))
    if unknown:
        raise ConfigError(f"dataset {name} takes no import option {', '.join(map(repr, unknown))}; its options are "
                          f"{', '.join(declared) or 'none'} (`brainbench data import {name} --help`)")
    return dataset.import_data(source, progress=progress, **options)


def import_assembly(path: str | Path, *, name: str, stimuli_csv: str | Path, stimuli_zip: str | Path,
                    time_bin: int | None = None, overwrite: bool = False) -> Path:
    """Import a Brain-Score netCDF assembly and its stimulus set (brainio's CSV + ZIP) as dataset ``name``.

    ``time_bin`` picks the bin to keep of an assembly with several (0-based; negative counts from the end);
    a bin that does not exist is a :class:`ConfigError` listing the bins' starts in ms. The kept bin's
    ``time_bin_start`` and ``time_bin_end`` are attrs of the imported assembly and fields of its manifest,
    and the dataset's card shows them (``recording``: ``imported, time bin 70-170 ms``)."""
    from ..data.netcdf import as_neural_assembly, read_assembly, read_stimulus_set

    _check_name(name, overwrite)
    assembly = as_neural_assembly(read_assembly(path), subject=name, time_bin=time_bin)
    with atomic_dir(imported_dir(name)) as folder:
        stimuli = read_stimulus_set(stimuli_csv, stimuli_zip, extract_to=folder / "images", identifier=name)
        _write(folder, name, assembly, stimuli, source=str(Path(path).resolve()))
    return _registered(name)


def import_folder(images: str | Path, responses: str | Path, *, name: str, region: str, subject: str | None = None,
                  overwrite: bool = False) -> Path:
    """Import a folder of images and a response matrix as dataset ``name``.

    Images may sit in subfolders; a stimulus id is the image's path in the folder without suffix (``001``,
    ``cat/001``), exactly as :func:`brainbench.data.stimuli.folder_images` names it (two files sharing an id are an
    error). ``responses`` is a ``.npy`` array ``(stimulus, neuroid)`` or ``(repetition, stimulus, neuroid)``
    whose stimulus axis follows the image files sorted by path (NaN marks a missing trial), or a ``.csv``/``.tsv``
    with a ``stimulus_id`` column (read as written, :mod:`brainbench.data.tables`), optionally ``repetition`` (else
    a stimulus's rows are its trials, in order), and one column per neuroid (named by its header, as written).
    Every row is a trial kept; repeated (stimulus_id, repetition) pairs are renumbered with a warning
    (:func:`brainbench.data.assembly.neural_assembly`).
    """
    from ..data.assembly import neural_assembly
    from ..data.stimuli import folder_images

    _check_name(name, overwrite)
    images = Path(images)
    files, stems = folder_images(images) if images.is_dir() else ([], [])
    if not files:
        raise DataFileError(f"{images} holds no images ({', '.join(IMAGE_SUFFIXES)}); give the folder of stimulus images")
    ids, repetition, values, neuroids = _read_responses(Path(responses), stems)
    unknown = sorted(set(ids) - set(stems))
    if unknown:
        spaced = [i for i in unknown if i != i.strip() and i.strip() in set(stems)]
        hint = (f"; ids are read exactly as written, and {spaced[:3]} have spaces around them: remove the spaces"
                if spaced else f"; the images are named {sorted(stems)[:5]}")
        raise AssemblyError(f"{len(unknown)} stimulus ids in {responses} have no image in {images}, e.g. "
                            f"{unknown[:5]}{hint}")
    assembly = neural_assembly(values, stimulus_id=ids, repetition=repetition, neuroid_id=neuroids, region=region,
                               subject=subject or name, attrs={"identifier": name})
    import pandas as pd

    from ..data.stimuli import StimulusSet

    with atomic_dir(imported_dir(name)) as folder:
        (folder / "images").mkdir()
        relative = [p.relative_to(images) for p in files]
        for p, r in zip(files, relative, strict=True):
            (folder / "images" / r).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(p, folder / "images" / r)
        table = pd.DataFrame({"stimulus_id": stems, "filename": [r.as_posix() for r in relative]})
        _write(folder, name, assembly, StimulusSet(table, identifier=name, root=folder / "images"),
               source=str(Path(responses).resolve()))
    return _registered(name)


def _read_responses(path: Path, stems: list[str]) -> tuple[list[str], np.ndarray | None, np.ndarray, list[str]]:
    """(stimulus id per row, repetition per row or None, values (row, neuroid), neuroid ids)."""
    if path.suffix == ".npy":
        from ..data.files import load_array

        array = load_array(path)
        if array.ndim not in (2, 3):
            raise DataFileError(f"{path} has shape {array.shape}; expected (stimulus, neuroid) or (repetition, stimulus, neuroid)")
        trials = array[None] if array.ndim == 2 else array
        if trials.shape[1] != len(stems):
            raise AssemblyError(f"{path} has {trials.shape[1]} stimuli on its stimulus axis but the folder has "
                                f"{len(stems)} images; rows must follow the image files sorted by name")
        rep, stim = np.nonzero(np.isfinite(trials).any(axis=2))  # drop NaN-padded trials
        neuroids = [f"n{j}" for j in range(trials.shape[2])]
        return [stems[i] for i in stim], (rep if array.ndim == 3 else None), trials[rep, stim], neuroids
    if path.suffix.lower() in (".csv", ".tsv"):
        from ..data.assembly import number_trials
        from ..data.tables import read_table

        table = read_table(path, "response table", types={"stimulus_id": "text", "repetition": "int"}, others="float",
                           required=["stimulus_id"], ids=["stimulus_id"])
        columns = [c for c in table.columns if c not in ("stimulus_id", "repetition")]
        unnamed = [c for c in columns if c.startswith("Unnamed: ")]
        if unnamed:
            raise DataFileError(f"{path} has {len(unnamed)} columns without a name ({unnamed[:3]}); every column "
                                "but stimulus_id and repetition is a neuroid named by its header (a pandas index "
                                "written by to_csv? write the table with index=False)")
        if not columns:
            raise DataFileError(f"{path} has no neuroid columns; give one column of responses per neuroid")
        ids = table["stimulus_id"].tolist()
        # one row per trial: without a repetition column, a stimulus's rows are numbered in order
        repetition = table["repetition"].to_numpy() if "repetition" in table.columns else number_trials(ids)
        return ids, repetition, table[columns].to_numpy(float), columns
    raise DataFileError(f"{path}: responses must be a .npy array or a .csv/.tsv table")


def _check_name(name: str, overwrite: bool) -> None:
    from .cards import DatasetCard
    from .entries import get_registry

    try:
        DatasetCard(name=name, species="-", recording="-", regions=[])
    except ValueError:
        raise ConfigError(f"dataset name {name!r}: use letters, digits, '_' and '-' only") from None
    if name in get_registry("dataset") and not (imported_dir(name) / MANIFEST).is_file():
        raise ConfigError(f"dataset name {name!r} is taken by a plugin; choose another --name")
    if (imported_dir(name) / MANIFEST).is_file() and not overwrite:
        raise ConfigError(f"an imported dataset {name!r} exists at {imported_dir(name)}; pass overwrite=True (--overwrite) "
                          "to replace it, or choose another name")


def _registered(name: str) -> Path:
    """The imported dataset's folder, once the registry knows to pick it (and its benchmarks) up on next use."""
    from .entries import refresh

    refresh()
    return imported_dir(name)


def _write(folder: Path, name: str, assembly: xr.DataArray, stimuli: StimulusSet, *, source: str) -> None:
    from ..data.assembly import validate_assembly
    from ..data.netcdf import TIME_BIN_COORDS, write_assembly

    validate_assembly(assembly, stimulus_set=stimuli, allow_nan="repetition" in assembly.coords)
    regions = sorted(set(assembly["region"].values.astype(str).tolist()))
    bad = [r for r in regions if not re.fullmatch(r"[A-Za-z0-9_\-]+", r)]
    if bad:
        raise AssemblyError(f"region names {bad} cannot be part of a benchmark id <name>.<region>; use letters, digits, "
                            "'_' and '-'")
    write_assembly(assembly, folder / "assembly.nc", identifier=name, stimulus_set_identifier=name)
    table = stimuli.table.copy()
    table["filename"] = [str(stimuli.path(s).relative_to(folder / "images")) for s in stimuli.ids]
    table.to_csv(folder / "stimuli.csv", index=False)
    manifest = {
        "name": name,
        "regions": regions,
        "subjects": sorted(set(assembly["subject"].values.astype(str).tolist())),
        "n_stimuli": len(stimuli),
        "n_neuroids": int(assembly.sizes["neuroid"]),
        "n_trials": int(assembly.sizes["presentation"]),
        "repetitions": "repetition" in assembly.coords,
        "source": source,
        "imported": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        **{c: assembly.attrs[c] for c in TIME_BIN_COORDS if c in assembly.attrs},  # the time bin kept, in ms
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2))
