"""Building brainbench's NSD store from NSD's files: one netCDF assembly per subject (the kept trials at the
regions' voxels, with ncsnr and region membership), the kept images as PNGs with ``stimuli.csv`` (COCO ids,
captions, categories) and the manifest ``nsd.json``; :func:`import_nsd` does it from a local copy in NSD's layout
(``brainbench data import nsd DIR``), :func:`brainbench.plugins.datasets.nsd.fetcher.fetch_nsd` from the bucket."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from brainbench.data.tables import read_table
from brainbench.errors import DataFileError

from .layout import (CITATION, IMAGE_READERS, N_IMAGES, REGIONS, SESSIONS, SHARED1000, SHARED_PNGS, STIM_INFO,
                     STIM_INFO_TYPES, STIMULI_HDF5, _check_images, _check_regions, _check_sessions, _subjects,
                     betas_path, stimulus_id, store_dir)
from .readers import _need, read_design, region_masks, session_betas

def _trial_images(design: dict[str, np.ndarray], subject: int, session: int, n_trials: int) -> np.ndarray:
    g = (session - 1) * n_trials + np.arange(n_trials)
    order = design["masterordering"]
    if g[-1] >= len(order):
        raise DataFileError(f"session {session} of subject {subject} has {n_trials} trials, beyond the "
                            f"{len(order)} of nsd_expdesign.mat's masterordering")
    return design["subjectim"][subject - 1, order[g] - 1] - 1  # 0-based nsdId per trial


class _SubjectImport:
    """Accumulates one subject's kept trials session by session (so fetched betas can be freed after each)."""

    def __init__(self, root: Path, subject: int, regions: Sequence[str], keep: set[int], design: dict):
        masks, ncsnr = region_masks(root, subject, regions)
        union = np.logical_or.reduce(list(masks.values()))
        self.voxels = np.nonzero(union)
        self.members = {r: m[self.voxels] for r, m in masks.items()}
        self.ncsnr = ncsnr[self.voxels]
        self.subject, self.keep, self.design = subject, keep, design
        self.values, self.images, self.sessions, self.trials = [], [], [], []

    def add_session(self, session: int, path: Path) -> None:
        betas = session_betas(path, self.voxels)
        images = _trial_images(self.design, self.subject, session, len(betas))
        kept = np.isin(images, list(self.keep))
        self.values.append(betas[kept].astype(np.float32))
        self.images.append(images[kept])
        self.sessions.append(np.full(kept.sum(), session))
        self.trials.append(np.nonzero(kept)[0] + 1)

    def write(self, path: Path) -> None:
        import pandas as pd

        from brainbench.data.assembly import neural_assembly
        from brainbench.data.netcdf import write_assembly

        images = np.concatenate(self.images)
        repetition = pd.Series(images).groupby(images).cumcount().to_numpy()
        i, j, k = self.voxels
        assembly = neural_assembly(
            np.concatenate(self.values), stimulus_id=[stimulus_id(n) for n in images], repetition=repetition,
            neuroid_id=[f"S{self.subject}-{a}-{b}-{c}" for a, b, c in zip(i, j, k, strict=True)],
            region="NSD", subject=str(self.subject),
            presentation_coords={"session": np.concatenate(self.sessions), "trial": np.concatenate(self.trials)},
            neuroid_coords={"ncsnr": self.ncsnr, **{f"in_{r}": m for r, m in self.members.items()}},
            attrs={"dataset": "nsd", "citation": CITATION},
        )
        write_assembly(assembly, path, identifier=f"nsd-subj{self.subject:02d}", stimulus_set_identifier="nsd")


def _available_images(root: Path, design: dict, images: str) -> dict[int, object]:
    """nsdId -> where its pixels are: ``("hdf5", index)`` or a PNG path."""
    shared = set((design["sharedix"] - 1).tolist())
    if (root / STIMULI_HDF5).is_file():
        wanted = shared if images == "shared1000" else set(range(N_IMAGES))
        return {n: ("hdf5", n) for n in wanted}
    if images == "all":
        raise DataFileError(f"images='all' needs NSD's {STIMULI_HDF5} in {root}")
    pngs = {}
    for path in (root / SHARED_PNGS).glob("shared*_nsd*.png"):
        match = re.fullmatch(r"shared\d+_nsd(\d+)\.png", path.name)
        if match:
            pngs[int(match.group(1)) - 1] = path  # the file names carry 1-based nsdIds
    if not pngs:
        raise DataFileError(f"the NSD copy at {root} has no stimuli: neither {STIMULI_HDF5} nor PNGs in {SHARED_PNGS}")
    return pngs


def _write_stimuli(root: Path, sources: dict[int, object], ids: Sequence[int], folder: Path, *,
                   stimuli_hdf5: Callable[[], Any] | None = None, progress: bool = True) -> None:
    """PNGs and ``stimuli.csv`` of images ``ids``; ``stimuli_hdf5()`` opens nsd_stimuli.hdf5 (a path or a file
    object; default: the copy at ``root``)."""
    import pandas as pd
    from PIL import Image

    from brainbench.data.stimuli import to_rgb_image

    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    todo = [n for n in ids if not (images / f"{stimulus_id(n)}.png").exists()]  # earlier imports wrote the rest
    for n in todo:
        if not isinstance(sources[n], tuple):
            with Image.open(sources[n]) as image:
                _save_png(to_rgb_image(image, source=f"NSD image {n} ({sources[n]})"), images / f"{stimulus_id(n)}.png")
    in_hdf5 = [n for n in todo if isinstance(sources[n], tuple)]
    if in_hdf5:
        _write_from_hdf5((stimuli_hdf5 or (lambda: root / STIMULI_HDF5))(), in_hdf5, images, progress)
    info = _one_row_each(read_table(_need(root, STIM_INFO), "NSD stimulus table", types=STIM_INFO_TYPES,
                                    required=list(STIM_INFO_TYPES)), "nsdId", ids, root / STIM_INFO)
    table = pd.DataFrame({"stimulus_id": [stimulus_id(n) for n in ids], "filename": [f"{stimulus_id(n)}.png" for n in ids],
                          "nsd_id": list(ids), "coco_id": info["cocoId"].to_numpy(),
                          "shared1000": info["shared1000"].to_numpy()})
    table = _with_captions(table)
    table.to_csv(folder / "stimuli.csv", index=False)


def _one_row_each(table, key: str, wanted: Sequence[int], path: Path):
    """The rows of ``table`` for ``wanted`` values of column ``key``, in that order; a key that repeats or is absent
    is a :class:`DataFileError` (a reindex would fail on the one and fill the other with NaN)."""
    repeated = sorted(set(table.loc[table[key].duplicated(), key].tolist()))
    if repeated:
        raise DataFileError(f"{path} has more than one row for {len(repeated)} {key} values, e.g. {repeated[:5]}; "
                            "which one describes the image cannot be told: delete the file and fetch it again")
    indexed = table.set_index(key)
    absent = sorted(set(wanted) - set(indexed.index.tolist()))
    if absent:
        raise DataFileError(f"{path} has no row for {len(absent)} {key} values, e.g. {absent[:5]}; delete the file and "
                            "fetch it again")
    return indexed.loc[list(wanted)]


def _write_from_hdf5(handle: Any, ids: Sequence[int], images: Path, progress: bool) -> None:
    """PNGs of rows ``ids`` of ``imgBrick`` in nsd_stimuli.hdf5 (``handle``: a path or a file object). Read over
    HTTP (a :class:`~brainbench.data.remote_file.RangeReader`) from a file storing rows raw, each image is one
    Range request, ``IMAGE_READERS`` at a time; otherwise rows come through h5py one after another."""
    from concurrent.futures import ThreadPoolExecutor

    import h5py

    from brainbench.progress import progress as track
    from brainbench.data.remote_file import RangeReader, row_ranges
    from brainbench.data.stimuli import to_rgb_image

    try:
        with h5py.File(handle, "r") as f:
            bricks = f["imgBrick"]
            where = row_ranges(bricks) if isinstance(handle, RangeReader) else None
            if where is None:
                def read(n: int) -> np.ndarray:
                    return bricks[n]
                workers = 1
            else:
                ranges = {n: where(n) for n in ids}  # the HDF5 index is read here, in one thread
                dtype, shape = bricks.dtype, bricks.shape[1:]

                def read(n: int) -> np.ndarray:
                    return np.frombuffer(handle.read_range(*ranges[n]), dtype).reshape(shape)
                workers = IMAGE_READERS

            def write(n: int) -> None:
                _save_png(to_rgb_image(read(n), source=f"NSD image {n} of {STIMULI_HDF5}"),
                          images / f"{stimulus_id(n)}.png")

            pool = ThreadPoolExecutor(workers)
            try:  # a failure stops the rest: queued reads are cancelled, not left to run
                for _ in track(pool.map(write, ids), total=len(ids), description="NSD images",
                               enabled=progress and len(ids) > 100):
                    pass
            finally:
                pool.shutdown(cancel_futures=True)
    finally:
        if hasattr(handle, "close"):
            handle.close()


def _save_png(image: Any, path: Path) -> None:
    """Write ``image`` to ``path`` atomically, so an interrupted write is never taken for an image."""
    from brainbench.data.files import atomic_path

    with atomic_path(path) as part:
        image.save(part, format="PNG")


def _with_captions(table):
    """COCO captions and categories of the shared images (DeepNSD's shared1000.csv), where it can be had."""
    import warnings

    from brainbench.data.downloads import fetch
    from brainbench.errors import DownloadError

    try:
        path = fetch(SHARED1000, "nsd_metadata", progress=False)
    except DownloadError as exc:
        warnings.warn(f"NSD stimuli get no COCO captions: {exc}", stacklevel=3)
        return table
    meta = read_table(path, "DeepNSD shared1000 table", types={"image_id": "int"},
                      required=["image_id", "coco_captions", "coco_categs"])
    described = set(meta["image_id"].tolist())
    shared = [n for n in table["nsd_id"] if n in described]
    meta = _one_row_each(meta, "image_id", shared, path).reset_index()  # a merge would repeat a stimulus's row
    meta = meta.rename(columns={"image_id": "nsd_id", "coco_captions": "captions", "coco_categs": "categories"})
    return table.merge(meta[["nsd_id", "captions", "categories"]], on="nsd_id", how="left")


def import_nsd(root: str | Path, *, subjects: Sequence[int] | None = None, sessions: Sequence[int] | None = None,
               regions: Sequence[str] = tuple(REGIONS), images: str = "shared1000", progress: bool = True) -> Path:
    """Import a local NSD copy (see the module docstring); returns the store folder."""
    root = Path(root)
    subjects = _subjects(subjects)
    _check_sessions(subjects, sessions)
    _check_regions(regions)
    _check_images(images)
    design = read_design(root)
    sources = _available_images(root, design, images)
    if sessions is None:  # the sessions the copy has, per subject
        found = {s: [n for n in range(1, SESSIONS[s] + 1) if (root / betas_path(s, n)).is_file()] for s in subjects}
        empty = [s for s, n in found.items() if not n]
        if empty:
            raise DataFileError(f"the NSD copy at {root} has no betas for subjects {empty} (expected e.g. "
                                f"{betas_path(empty[0], 1)})")
    else:
        found = dict.fromkeys(subjects, list(sessions))
    return _build(root, subjects, found, regions, design, sources,
                  session_file=lambda s, n: _need(root, betas_path(s, n)), progress=progress)


def _build(root, subjects, sessions, regions, design, sources, *, session_file, done=None, stimuli_hdf5=None,
           progress=True) -> Path:
    """One store file per subject from its ``sessions[subject]``; ``session_file(subject, session)`` gives a session's
    betas, ``done`` frees it; ``stimuli_hdf5`` as :func:`_write_stimuli`'s."""
    from brainbench.data.files import atomic_path
    from brainbench.progress import progress as track

    folder = store_dir()
    folder.mkdir(parents=True, exist_ok=True)
    kept_images: set[int] = set()
    for subject in subjects:
        seen = set(design["subjectim"][subject - 1] - 1)
        keep = seen & set(sources)
        importer = _SubjectImport(root, subject, regions, keep, design)
        for session in track(sessions[subject], description=f"NSD subject {subject}: sessions", enabled=progress):
            importer.add_session(session, session_file(subject, session))
            if done is not None:
                done(subject, session)
        with atomic_path(folder / f"subj{subject:02d}.nc") as tmp:
            importer.write(tmp)
        kept_images |= set(np.concatenate(importer.images).tolist())
    manifest_path = folder / "nsd.json"
    old = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {"subjects": {}}
    ids = sorted(kept_images | {int(s[3:]) for s in old.get("stimuli", [])})  # earlier imports' images stay
    _write_stimuli(root, sources, ids, folder, stimuli_hdf5=stimuli_hdf5, progress=progress)
    old["subjects"].update({str(s): {"sessions": list(sessions[s]), "regions": list(regions)} for s in subjects})
    manifest = {"subjects": old["subjects"], "stimuli": [stimulus_id(n) for n in ids], "source": str(root),
                "imported": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return folder
