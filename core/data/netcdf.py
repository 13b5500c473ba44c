"""netCDF4 I/O compatible with Brain-Score's brainio, both ways.

brainio's layout: every MultiIndex level is a plain 1-D coordinate variable on its dim (there
are no ``presentation``/``neuroid`` variables), the data variable is named ``data``, and the
global attrs ``identifier`` and ``stimulus_set_identifier`` name the assembly and its stimuli.
Stimulus sets are a CSV (``stimulus_id``, ``filename``, metadata) plus a flat ZIP of images.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError, DataFileError
from .files import atomic_path

if TYPE_CHECKING:
    import xarray as xr

    from .stimuli import StimulusSet

__all__ = ["as_neural_assembly", "read_assembly", "read_stimulus_set", "write_assembly", "write_stimulus_set"]

SUBJECT_COORDS = ("subject", "animal", "subject_id", "participant")  # what brainio files call the individual
TIME_BIN_COORDS = ("time_bin_start", "time_bin_end")  # ms after stimulus onset; kept as attrs of the chosen bin

_NETCDF_MAGIC = (b"CDF\x01", b"CDF\x02", b"\x89HDF\r\n\x1a\n")


def write_assembly(
    assembly: xr.DataArray,
    path: str | Path,
    *,
    identifier: str | None = None,
    stimulus_set_identifier: str | None = None,
) -> Path:
    """Write ``assembly`` in brainio's layout; the file appears only once complete."""
    path = Path(path)
    flat = assembly.reset_index([d for d in assembly.indexes if d in assembly.dims], drop=False)
    flat = flat.drop_vars([d for d in flat.dims if d in flat.coords])
    ds = flat.to_dataset(name="data")
    ds.attrs = {k: v for k, v in assembly.attrs.items() if isinstance(v, (str, int, float))}
    ds.attrs["identifier"] = identifier or str(assembly.attrs.get("identifier", assembly.name or path.stem))
    sid = stimulus_set_identifier or assembly.attrs.get("stimulus_set_identifier")
    if sid:
        ds.attrs["stimulus_set_identifier"] = str(sid)
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4")
    return path


def read_assembly(path: str | Path) -> xr.DataArray:
    """Read a brainio/brainbench netCDF assembly into memory.

    Levels of brainio's MultiIndexes come back as plain 1-D coords; an older ``image_id``
    coord is also offered as ``stimulus_id``.
    """
    import xarray as xr

    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"assembly file {path} does not exist")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if not head.startswith(_NETCDF_MAGIC):
        raise DataFileError(f"{path} is not a netCDF file (it starts with {head[:4]!r}); expected a brainio/brainbench .nc assembly")
    try:
        with xr.open_dataset(path, engine="netcdf4") as ds:
            ds = ds.load()
    except Exception as exc:  # noqa: BLE001 - netCDF4/HDF5 raise many types for damaged files
        raise DataFileError(f"{path} is truncated or corrupt and cannot be read: {type(exc).__name__}: {exc}") from None
    if "data" not in ds.data_vars:
        raise DataFileError(f"{path} has no 'data' variable (variables: {list(ds.data_vars)}); is it a brainio assembly?")
    # Level variables are coords even where a writer left out the CF 'coordinates' attribute.
    ds = ds.set_coords([name for name in ds.data_vars if name != "data"])
    assembly = ds["data"]
    assembly.attrs = {**ds.attrs, **assembly.attrs}
    assembly.name = str(ds.attrs.get("identifier", path.stem))
    if "stimulus_id" not in assembly.coords and "image_id" in assembly.coords:
        assembly = assembly.assign_coords(stimulus_id=assembly["image_id"])
    return assembly


def as_neural_assembly(raw: xr.DataArray, *, subject: str = "subject", time_bin: int | None = None) -> xr.DataArray:
    """A Brain-Score assembly as a validated brainbench neural assembly ``(presentation, neuroid)``.

    One time bin is kept (``time_bin`` picks one where there are several, counting from 0, or from -1 for the
    last; one that does not exist is a :class:`ConfigError` listing the bins' starts), and its ``time_bin_start``
    and ``time_bin_end`` (ms) become attrs of the result, which netCDF files keep; the subject is the first of
    the coords ``subject``, ``animal``, ``subject_id``, ``participant`` (else ``subject`` for all neuroids);
    trials of a stimulus without a ``repetition`` coord are numbered in order, and repeated
    ``(stimulus_id, repetition)`` pairs are renumbered keeping every trial (with a warning,
    :func:`brainbench.data.assembly.neural_assembly`); ids stored as numbers become strings
    (:func:`brainbench.data.tables.id_strings`); presentation and neuroid metadata are kept.
    """
    import numpy as np

    from .assembly import PRESENTATION, NEUROID, TIME_BIN, neural_assembly, number_trials
    from .tables import id_strings

    name = raw.attrs.get("identifier", raw.name)
    extra = [d for d in raw.dims if d not in (PRESENTATION, NEUROID, TIME_BIN)]
    if extra or PRESENTATION not in raw.dims or NEUROID not in raw.dims:
        raise DataFileError(f"assembly {name!r} has dims {raw.dims}; expected presentation, neuroid and optionally time_bin")
    kept: dict[str, int | float] = {}
    if TIME_BIN in raw.dims:
        n_bins = raw.sizes[TIME_BIN]
        if time_bin is None and n_bins > 1:
            starts = raw["time_bin_start"].values.tolist() if "time_bin_start" in raw.coords else list(range(n_bins))
            raise DataFileError(f"assembly {name!r} has {n_bins} time bins (starts {starts}); pick one with time_bin "
                                f"(--time-bin) from 0 to {n_bins - 1}, or -1 for the last")
        index = 0 if time_bin is None else time_bin
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not -n_bins <= index < n_bins:
            raise ConfigError(f"time bin {time_bin} does not exist; the assembly has {n_bins} ({_bin_starts(raw)}): "
                              f"pick one with time_bin (--time-bin) from 0 to {n_bins - 1}, or -1 for the last")
        raw = raw.isel({TIME_BIN: int(index)})
        kept = {c: raw[c].item() for c in TIME_BIN_COORDS if c in raw.coords and raw[c].ndim == 0}
    raw = raw.transpose(PRESENTATION, NEUROID)
    for needed, dim in (("stimulus_id", PRESENTATION), ("region", NEUROID)):
        if needed not in raw.coords:
            raise DataFileError(f"assembly {name!r} has no {needed!r} coord on {dim!r} (it has {sorted(raw.coords)})")
    ids = id_strings(raw["stimulus_id"].values, f"stimulus ids of assembly {name!r}")
    repetition = raw["repetition"].values if "repetition" in raw.coords else number_trials(ids)
    who = next((c for c in SUBJECT_COORDS if c in raw.coords and raw[c].dims == (NEUROID,)), None)
    n = raw.sizes[NEUROID]
    taken = {"stimulus_id", "repetition", "neuroid_id", "region", who}
    meta = {dim: {k: v.values for k, v in raw.coords.items() if v.dims == (dim,) and k not in taken and k != dim}
            for dim in (PRESENTATION, NEUROID)}
    return neural_assembly(
        np.asarray(raw.values, dtype=np.float64), stimulus_id=ids, repetition=repetition,
        neuroid_id=raw["neuroid_id"].values if "neuroid_id" in raw.coords else [str(i) for i in range(n)],
        region=raw["region"].values, subject=raw[who].values if who else subject,
        presentation_coords=meta[PRESENTATION], neuroid_coords=meta[NEUROID],
        attrs={**{k: v.item() if isinstance(v, np.generic) else v for k, v in raw.attrs.items()  # netCDF gives numpy
                  if isinstance(v, (str, int, float, np.integer, np.floating))}, **kept},
    )


def _bin_starts(raw: xr.DataArray) -> str:
    """``start 70 ms, 170 ms`` from the ``time_bin_start`` coord (else the bins' positions)."""
    from .assembly import TIME_BIN

    if "time_bin_start" not in raw.coords:
        return f"positions 0-{raw.sizes[TIME_BIN] - 1}, no time_bin_start coord"
    return "start " + ", ".join(f"{v:g} ms" for v in raw["time_bin_start"].values.tolist())


def write_stimulus_set(stimuli: StimulusSet, csv_path: str | Path, zip_path: str | Path) -> tuple[Path, Path]:
    """Write brainio's stimulus-set pair: a CSV and a flat ZIP of PNG images, each named by its stimulus id made
    safe for a file name (``%``-quoted, so ``cat/001`` is ``cat%2F001.png`` and no two ids share a file)."""
    from urllib.parse import quote

    csv_path, zip_path = Path(csv_path), Path(zip_path)
    table = stimuli.table.copy()
    table["filename"] = [f"{quote(sid, safe='')}.png" for sid in table["stimulus_id"]]
    with atomic_path(csv_path) as tmp_csv, atomic_path(zip_path) as tmp_zip:  # the ZIP lands first
        with zipfile.ZipFile(tmp_zip, "w") as zf:
            for sid, name in zip(table["stimulus_id"], table["filename"]):
                with zf.open(name, "w") as fh:
                    stimuli.image(sid).save(fh, format="PNG")
        table.to_csv(tmp_csv, index=False)
    return csv_path, zip_path


def read_stimulus_set(csv_path: str | Path, zip_path: str | Path, *, extract_to: str | Path, identifier: str | None = None) -> StimulusSet:
    """Read brainio's CSV + ZIP pair; images are extracted (flat) into ``extract_to``.

    Every CSV cell is kept as written (:mod:`brainbench.data.tables`: ids, file names and metadata are text). An image
    is the ZIP member of the row's ``filename`` base name; a name that two members share (in different folders of
    the ZIP), or that two rows' different ``filename`` paths share, would give one stimulus another's image and is
    a :class:`~brainbench.errors.DataFileError` naming them, as is a missing image."""
    from collections import defaultdict

    from .stimuli import StimulusSet
    from .tables import read_table

    csv_path, zip_path, root = Path(csv_path), Path(zip_path), Path(extract_to)
    table = read_table(csv_path, "stimulus-set CSV", ids=["stimulus_id", "image_id", "filename"])
    if "stimulus_id" not in table.columns and "image_id" in table.columns:
        table = table.rename(columns={"image_id": "stimulus_id"})
    if "filename" not in table.columns:
        raise DataFileError(f"{csv_path} has no 'filename' column (columns: {list(table.columns)})")
    given = table["filename"].tolist()
    by_name: defaultdict[str, set[str]] = defaultdict(set)
    for f in given:
        by_name[Path(f).name].add(f)
    shared = {n: sorted(paths) for n, paths in by_name.items() if len(paths) > 1}
    if shared:
        raise DataFileError(f"{csv_path} names {len(shared)} different files by one base name, e.g. "
                            f"{list(shared.values())[:3]}; a brainio stimulus set is flat, so give each image its own "
                            "file name")
    try:
        with zipfile.ZipFile(zip_path) as zf:
            members: defaultdict[str, list[str]] = defaultdict(list)
            for n in zf.namelist():
                if not n.endswith("/"):
                    members[Path(n).name].append(n)
            missing = [f for f in given if Path(f).name not in members]
            if missing:
                raise DataFileError(f"{zip_path} lacks {len(missing)} images listed in {csv_path}, e.g. {missing[:3]}")
            ambiguous = {n: members[n] for n in by_name if len(members[n]) > 1}
            if ambiguous:
                raise DataFileError(f"{zip_path} holds {len(ambiguous)} image names more than once (in different "
                                    f"folders), e.g. {list(ambiguous.values())[:3]}; which image a stimulus is cannot be "
                                    "told: give each image its own file name")
            root.mkdir(parents=True, exist_ok=True)
            for name in by_name:
                target = root / name
                if not target.exists():
                    target.write_bytes(zf.read(members[name][0]))
    except zipfile.BadZipFile:
        raise DataFileError(f"{zip_path} is not a valid ZIP archive") from None
    table["filename"] = [Path(f).name for f in given]
    return StimulusSet(table, identifier=identifier or csv_path.stem, root=root)
