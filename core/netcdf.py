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

from .errors import DataFileError
from .files import atomic_path

if TYPE_CHECKING:
    import xarray as xr

    from .stimuli import StimulusSet

__all__ = ["read_assembly", "read_stimulus_set", "write_assembly", "write_stimulus_set"]

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


def write_stimulus_set(stimuli: StimulusSet, csv_path: str | Path, zip_path: str | Path) -> tuple[Path, Path]:
    """Write brainio's stimulus-set pair: a CSV and a flat ZIP of PNG images."""
    csv_path, zip_path = Path(csv_path), Path(zip_path)
    table = stimuli.table.copy()
    table["filename"] = [f"{sid}.png" for sid in table["stimulus_id"]]
    with atomic_path(csv_path) as tmp_csv, atomic_path(zip_path) as tmp_zip:  # the ZIP lands first
        with zipfile.ZipFile(tmp_zip, "w") as zf:
            for sid, name in zip(table["stimulus_id"], table["filename"]):
                with zf.open(name, "w") as fh:
                    stimuli.image(sid).save(fh, format="PNG")
        table.to_csv(tmp_csv, index=False)
    return csv_path, zip_path


def read_stimulus_set(csv_path: str | Path, zip_path: str | Path, *, extract_to: str | Path, identifier: str | None = None) -> StimulusSet:
    """Read brainio's CSV + ZIP pair; images are extracted (flat) into ``extract_to``."""
    import pandas as pd

    from .stimuli import StimulusSet

    csv_path, zip_path, root = Path(csv_path), Path(zip_path), Path(extract_to)
    try:
        table = pd.read_csv(csv_path)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataFileError(f"cannot read stimulus-set CSV {csv_path}: {exc}") from None
    if "stimulus_id" not in table.columns and "image_id" in table.columns:
        table = table.rename(columns={"image_id": "stimulus_id"})
    if "filename" not in table.columns:
        raise DataFileError(f"{csv_path} has no 'filename' column (columns: {list(table.columns)})")
    try:
        with zipfile.ZipFile(zip_path) as zf:
            names = {Path(n).name: n for n in zf.namelist() if not n.endswith("/")}
            missing = [f for f in table["filename"].astype(str) if Path(f).name not in names]
            if missing:
                raise DataFileError(f"{zip_path} lacks {len(missing)} images listed in {csv_path}, e.g. {missing[:3]}")
            root.mkdir(parents=True, exist_ok=True)
            for fname in table["filename"].astype(str):
                target = root / Path(fname).name
                if not target.exists():
                    target.write_bytes(zf.read(names[Path(fname).name]))
    except zipfile.BadZipFile:
        raise DataFileError(f"{zip_path} is not a valid ZIP archive") from None
    table["filename"] = [Path(f).name for f in table["filename"].astype(str)]
    return StimulusSet(table, identifier=identifier or csv_path.stem, root=root)
