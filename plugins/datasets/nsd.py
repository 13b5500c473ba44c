r"""The Natural Scenes Dataset (Allen et al. 2022): 7T fMRI, 8 subjects, up to 10,000 COCO images each.

Two ways in, both producing the same store in ``<data home>/datasets/nsd/brainbench/``:

- ``import_nsd(root)`` (``brainbench data import nsd --root DIR``) reads a local copy in NSD's own
  layout (:data:`EXPDESIGN`, :data:`STIM_INFO`, betas ``betas_fithrf_GLMdenoise_RR/betas_sessionNN.hdf5``,
  ``ncsnr.nii.gz``, ROI volumes under ``func1pt8mm/roi/``, images from ``nsd_stimuli.hdf5`` or the
  ``shared1000`` PNGs);
- ``fetch_nsd(subjects)`` (``brainbench data fetch nsd --subjects 1,2``) downloads exactly those files from
  NSD's public bucket into ``<data home>/datasets/nsd/`` (NSD's layout), one session of betas at a time,
  deleting each session's betas once its ROI voxels are extracted (with ``images="all"``, each image is
  read out of the bucket's stimulus HDF5 by HTTP range requests). NSD's terms must be accepted once.

What is kept, per subject: every trial of the kept images (``images="shared1000"`` by default, or
``"all"`` with the full stimulus HDF5) at the voxels of the regions below. Betas are int16 percent
signal change x 300 (divided back), z-scored per voxel within each session over all its trials.
Trial t (0-based) of session s is global trial g = (s-1) T + t; its image is
``subjectim[subject, masterordering[g] - 1] - 1`` (NSD's 1-based indices; stimulus ids are
``nsd<nsdId:05d>`` with the 0-based ``nsdId`` of ``nsd_stim_info_merged.csv``). Voxels are
``S<subject>-<i>-<j>-<k>``, 0-based indices of the func1pt8mm NIfTI volume (DeepNSD's convention);
HDF5 betas are stored ``(trial, k, j, i)`` and are transposed accordingly.

Regions (ROI label tables are read from ``nsddata/freesurfer/subjNN/label/<roi>.mgz.ctab`` where
present, else NSD's published tables below): V1-V3 (ventral + dorsal), V4 (hV4), EVC (V1v-hV4),
the category-selective floc ROIs, OTC = any floc ROI or the ventral/lateral streams (mid- too),
with ncsnr > 0.2 (DeepNSD's definition; the tests check it against DeepNSD's voxel metadata), and
nsdgeneral (NSD's mask of visually responsive cortex).

Noise ceiling per voxel (NSD): NC = ncsnr^2 / (ncsnr^2 + mean_i 1/n_i) with n_i the trials averaged
for image i (NSD's (A/3 + B/2 + C/1)/(A+B+C)); the ceiling of a Pearson r is sqrt(NC).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from brainbench import DatasetCard, hookimpl
from brainbench.registry.contracts import Dataset
from brainbench.data.downloads import RemoteFile
from brainbench.errors import AssemblyError, ConfigError, DataFileError
from brainbench.data.tables import read_table

BUCKET = "https://natural-scenes-dataset.s3.amazonaws.com"
FOLDER = "nsd"  # NSD's layout under <data home>/datasets/nsd (and <mirror>/nsd), our store in nsd/brainbench
EXPDESIGN = "nsddata/experiments/nsd/nsd_expdesign.mat"
STIM_INFO = "nsddata/experiments/nsd/nsd_stim_info_merged.csv"
STIM_INFO_TYPES = {"nsdId": "int", "cocoId": "int", "shared1000": "bool"}  # the columns read as numbers; the rest text
STORE_TYPES = {"nsd_id": "int", "coco_id": "int", "shared1000": "bool"}  # in the store's stimuli.csv
STIMULI_HDF5 = "nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5"
SHARED_PNGS = "nsddata/stimuli/nsd/shared1000"
N_IMAGES = 73000  # nsdIds 0..72999
IMAGE_READERS = 8  # Range requests in flight at once when images are read out of the bucket's stimulus HDF5
SESSIONS = {1: 40, 2: 40, 3: 32, 4: 30, 5: 40, 6: 32, 7: 40, 8: 30}
ROI_LABELS = {  # NSD's label tables (values of the func1pt8mm ROI volumes)
    "prf-visualrois": {1: "V1v", 2: "V1d", 3: "V2v", 4: "V2d", 5: "V3v", 6: "V3d", 7: "hV4"},
    "floc-faces": {1: "OFA", 2: "FFA-1", 3: "FFA-2", 4: "mTL-faces", 5: "aTL-faces"},
    "floc-bodies": {1: "EBA", 2: "FBA-1", 3: "FBA-2", 4: "mTL-bodies"},
    "floc-places": {1: "OPA", 2: "PPA", 3: "RSC"},
    "floc-words": {1: "OWFA", 2: "VWFA-1", 3: "VWFA-2", 4: "mfs-words", 5: "mTL-words"},
    "streams": {1: "early", 2: "midventral", 3: "midlateral", 4: "midparietal", 5: "ventral", 6: "lateral", 7: "parietal"},
    "nsdgeneral": {1: "nsdgeneral"},  # NSD's visually responsive cortex mask (0 outside, -1 outside the brain)
}
FLOC = ("OFA", "FFA-1", "FFA-2", "EBA", "FBA-1", "FBA-2", "OPA", "PPA", "OWFA", "VWFA-1", "VWFA-2")
REGIONS = {"V1": ("V1v", "V1d"), "V2": ("V2v", "V2d"), "V3": ("V3v", "V3d"), "V4": ("hV4",),
           "EVC": ("V1v", "V1d", "V2v", "V2d", "V3v", "V3d", "hV4"), **{r: (r,) for r in FLOC}, "OTC": (),
           "nsdgeneral": ("nsdgeneral",)}
OTC_STREAMS, OTC_MIN_NCSNR = ("ventral", "midventral", "lateral", "midlateral"), 0.2
SCALE = 300.0  # betas are stored as int16 percent signal change x 300
TERMS = """The Natural Scenes Dataset is shared under the NSD Terms and Conditions
(https://cvnlab.slite.page/p/IB6BSeW_7o/Terms-and-Conditions): you must have completed NSD's Data Access
Agreement (https://forms.gle/xue2bCdM9LaFNMeb7), and you agree to cite Allen et al. (2022), Nature
Neuroscience 25:116-126, in work that uses it. brainbench downloads only the files named in its docs."""
CITATION = ("Allen, E. J., St-Yves, G., Wu, Y., Breedlove, J. L., Prince, J. S., Dowdle, L. T., Nau, M., Caron, B., "
            "Pestilli, F., Charest, I., Hutchinson, J. B., Naselaris, T., & Kay, K. (2022). A massive 7T fMRI dataset to "
            "bridge cognitive neuroscience and artificial intelligence. Nature Neuroscience, 25(1), 116-126.")
SHARED1000 = RemoteFile(  # COCO captions and categories of the shared images (DeepNSD, Conwell et al.)
    "shared1000.csv",
    "https://github.com/ColinConwell/DeepNSD/raw/main/source_code/pressures/brain_data/image_sets/shared1000.csv",
    sha256="b32929c60167ff219b07afd4140377d56029d5d7837b2fa9fdd2a920d8f2b51c",
)


def _subject_dir(subject: int) -> str:
    return f"subj{subject:02d}"


def betas_path(subject: int, session: int) -> str:
    return (f"nsddata_betas/ppdata/{_subject_dir(subject)}/func1pt8mm/betas_fithrf_GLMdenoise_RR/"
            f"betas_session{session:02d}.hdf5")


def ncsnr_path(subject: int) -> str:
    return f"nsddata_betas/ppdata/{_subject_dir(subject)}/func1pt8mm/betas_fithrf_GLMdenoise_RR/ncsnr.nii.gz"


def roi_path(subject: int, roi: str) -> str:
    return f"nsddata/ppdata/{_subject_dir(subject)}/func1pt8mm/roi/{roi}.nii.gz"


def ctab_path(subject: int, roi: str) -> str:
    return f"nsddata/freesurfer/{_subject_dir(subject)}/label/{roi}.mgz.ctab"


def store_dir() -> Path:
    from brainbench.data.downloads import dataset_dir

    return dataset_dir(FOLDER) / "brainbench"


def stimulus_id(nsd_id: int) -> str:
    return f"nsd{int(nsd_id):05d}"


# ---------------------------------------------------------------------------------------------- reading NSD's files


def _need(root: Path, relative: str) -> Path:
    path = root / relative
    if not path.is_file():
        raise DataFileError(f"the NSD copy at {root} lacks {relative}; NSD's layout is described in "
                            "brainbench.plugins.datasets.nsd (or fetch it: brainbench data fetch nsd)")
    return path


def read_design(root: Path) -> dict[str, np.ndarray]:
    """``masterordering`` (global trial -> 1-based 10k index), ``subjectim`` (subject x 10k -> 1-based nsdId),
    ``sharedix`` (1-based nsdIds of the shared images) from ``nsd_expdesign.mat``."""
    import scipy.io

    path = _need(root, EXPDESIGN)
    try:
        mat = scipy.io.loadmat(path)
    except (ValueError, OSError, TypeError) as exc:
        raise DataFileError(f"{path} is not a readable MATLAB file ({exc})") from None
    missing = [k for k in ("masterordering", "subjectim", "sharedix") if k not in mat]
    if missing:
        raise DataFileError(f"{path} lacks {missing}; is it NSD's nsd_expdesign.mat?")
    return {"masterordering": np.asarray(mat["masterordering"]).ravel().astype(int),
            "subjectim": np.atleast_2d(mat["subjectim"]).astype(int),
            "sharedix": np.asarray(mat["sharedix"]).ravel().astype(int)}


def _volume(path: Path) -> np.ndarray:
    import nibabel as nib

    try:
        return np.asarray(nib.load(path).get_fdata())
    except Exception as exc:  # noqa: BLE001 - nibabel raises many types for damaged files
        raise DataFileError(f"{path} is not a readable NIfTI volume ({type(exc).__name__}: {exc})") from None


def _labels(root: Path, subject: int, roi: str) -> dict[int, str]:
    """A ROI volume's label table: NSD's ``.mgz.ctab`` beside the copy where present, else the published table."""
    ctab = root / ctab_path(subject, roi)
    if not ctab.is_file():
        return ROI_LABELS[roi]
    table = {}
    for line in ctab.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].isdigit() and int(parts[0]) > 0:
            table[int(parts[0])] = parts[1]
    return table


def region_masks(root: Path, subject: int, regions: Sequence[str]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Boolean volumes of ``regions`` and the ncsnr volume of one subject."""
    unknown = sorted(set(regions) - set(REGIONS))
    if unknown:
        raise ConfigError(f"unknown NSD regions {unknown}; the regions are {', '.join(REGIONS)}")
    ncsnr = _volume(_need(root, ncsnr_path(subject)))
    named: dict[str, np.ndarray] = {}
    for roi in ROI_LABELS:
        volume = _volume(_need(root, roi_path(subject, roi)))
        if volume.shape != ncsnr.shape:
            raise DataFileError(f"{roi_path(subject, roi)} has shape {volume.shape}, but ncsnr has {ncsnr.shape}")
        for value, name in _labels(root, subject, roi).items():
            named[name] = volume == value
    masks = {}
    for region in regions:
        if region == "OTC":
            inside = np.logical_or.reduce([named[n] for n in (*FLOC, *OTC_STREAMS)])
            masks[region] = inside & (ncsnr > OTC_MIN_NCSNR)
        else:
            masks[region] = np.logical_or.reduce([named[n] for n in REGIONS[region]])
    return masks, ncsnr


def session_betas(path: Path, voxels: tuple[np.ndarray, np.ndarray, np.ndarray], chunk: int = 50) -> np.ndarray:
    """``(trial, voxel)`` betas of one session at voxel indices (i, j, k), in % signal change, z-scored per voxel."""
    import h5py

    i, j, k = voxels
    try:
        with h5py.File(path, "r") as f:
            betas = f["betas"]
            out = np.empty((betas.shape[0], len(i)), dtype=np.float64)
            for start in range(0, betas.shape[0], chunk):  # (trial, k, j, i): read whole slabs, index in memory
                block = betas[start:start + chunk]
                out[start:start + len(block)] = block[:, k, j, i] / SCALE
    except (OSError, KeyError) as exc:
        raise DataFileError(f"{path} is not a readable NSD betas HDF5 file ({exc}); delete it and get it again") from None
    sd = out.std(0)
    return (out - out.mean(0)) / np.where(sd > 0, sd, 1.0)


# ------------------------------------------------------------------------------------------------------- the store


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


def _subjects(subjects: Sequence[int] | None) -> list[int]:
    """The chosen subjects as ints (all 8 by default); one NSD does not have is a ConfigError."""
    try:
        chosen = [int(s) for s in (subjects or SESSIONS)]
    except (TypeError, ValueError):
        raise ConfigError(f"NSD subjects are numbers 1-8; got {list(subjects or [])!r}") from None
    bad = [s for s in chosen if s not in SESSIONS]
    if bad:
        raise ConfigError(f"NSD has subjects 1-8; got {bad}")
    return chosen


def _check_sessions(subjects: Sequence[int], sessions: Sequence[int] | None) -> None:
    """Every chosen session must exist for every chosen subject (NSD's subjects had 30 to 40 sessions)."""
    for subject in subjects:
        bad = [s for s in sessions or ()
               if isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= SESSIONS[subject]]
        if bad:
            raise ConfigError(f"NSD subject {subject} has sessions 1-{SESSIONS[subject]}; got {bad}")


def _check_images(images: str) -> None:
    if images not in ("shared1000", "all"):
        raise ConfigError(f"images must be 'shared1000' or 'all'; got {images!r}")


def _check_regions(regions: Sequence[str]) -> None:
    unknown = sorted(set(regions) - set(REGIONS)) if not isinstance(regions, str) else [regions]
    if unknown or not regions:
        raise ConfigError(f"unknown NSD regions {unknown or '(none given)'}; the regions are {', '.join(REGIONS)}")


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


# ------------------------------------------------------------------------------------------------------------ fetch


def _remote(relative: str) -> RemoteFile:
    return RemoteFile(relative, f"{BUCKET}/{relative}", unverified="NSD publishes no checksums")


def fetch_nsd(subjects: Sequence[int] | None = None, *, sessions: Sequence[int] | None = None,
              regions: Sequence[str] = tuple(REGIONS), images: str = "shared1000", progress: bool = True) -> Path:
    """Download what the store needs from NSD's bucket (mirror first), import it, and free each session's betas.

    ``images="all"`` keeps every image the subjects saw: each is read out of the bucket's 37 GB
    ``nsd_stimuli.hdf5`` by HTTP Range requests (about 0.5 MB an image), never the whole file. Subjects, sessions,
    regions or ``images`` NSD does not have are a ConfigError listing what it has, before anything is fetched."""
    from brainbench.data.downloads import dataset_dir, fetch, remove, terms_accepted
    from brainbench.data.remote_file import open_remote

    subjects = _subjects(subjects)
    _check_sessions(subjects, sessions)
    _check_regions(regions)
    _check_images(images)
    if not terms_accepted(FOLDER):
        raise ConfigError(f"NSD's terms of use must be accepted before a fetch:\n{TERMS}\n"
                          "Accept them with `brainbench data fetch nsd --accept-terms` or "
                          "brainbench.data.downloads.accept_terms('nsd')")
    chosen = {s: list(sessions or range(1, SESSIONS[s] + 1)) for s in subjects}
    root = dataset_dir(FOLDER)
    for relative in (EXPDESIGN, STIM_INFO):
        fetch(_remote(relative), FOLDER, progress=progress)
    design = read_design(root)
    if images == "shared1000":
        for k, n in enumerate(design["sharedix"], start=1):
            fetch(_remote(f"{SHARED_PNGS}/shared{k:04d}_nsd{n:05d}.png"), FOLDER, progress=False)
    for subject in subjects:
        fetch(_remote(ncsnr_path(subject)), FOLDER, progress=progress)
        for roi in ROI_LABELS:
            fetch(_remote(roi_path(subject, roi)), FOLDER, progress=progress)
    sources = _available_images(root, design, "shared1000") if images == "shared1000" else \
        {n: ("hdf5", n) for n in range(N_IMAGES)}
    return _build(root, subjects, chosen, regions, design, sources,
                  session_file=lambda s, n: fetch(_remote(betas_path(s, n)), FOLDER, progress=progress),
                  done=lambda s, n: remove(_remote(betas_path(s, n)), FOLDER),
                  stimuli_hdf5=lambda: open_remote(_remote(STIMULI_HDF5), FOLDER), progress=progress)


# ---------------------------------------------------------------------------------------------------------- dataset


class NSD(Dataset):
    """The imported store: trials of the images every requested subject saw, one region's voxels."""

    terms = TERMS

    def __init__(self):
        self.card = card()

    def check_download(self, *, subjects: Sequence[int] | None = None, sessions: Sequence[int] | None = None,
                       images: str = "shared1000") -> None:
        """Subjects, sessions or ``images`` NSD does not have are a ConfigError, before the terms are asked."""
        _check_sessions(_subjects(subjects), sessions)
        _check_images(images)

    def download(self, *, progress: bool = True, subjects: Sequence[int] | None = None,
                 sessions: Sequence[int] | None = None, images: str = "shared1000") -> list[Path]:
        """``brainbench data fetch nsd``: :func:`fetch_nsd`."""
        return [fetch_nsd(subjects, sessions=sessions, images=images, progress=progress)]

    def local_files(self) -> list[Path]:
        from brainbench.data.downloads import dataset_dir

        folder = dataset_dir(FOLDER)
        return [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []

    def remove_local(self) -> list[Path]:
        import shutil

        from brainbench.data.downloads import dataset_dir

        removed = self.local_files()
        shutil.rmtree(dataset_dir(FOLDER), ignore_errors=True)
        return removed

    def import_from(self, root: str | Path, **options) -> Path:
        """``brainbench data import nsd --root DIR``: :func:`import_nsd`."""
        return import_nsd(root, **options)

    @property
    def folder(self) -> str:
        return FOLDER

    def _manifest(self) -> dict:
        path = store_dir() / "nsd.json"
        if not path.is_file():
            raise DataFileError("NSD is not imported yet: run `brainbench data import nsd --root DIR` on a local NSD copy, "
                                "or `brainbench data fetch nsd --subjects 1,2` to download what is needed")
        return json.loads(path.read_text())

    def stimulus_set(self):
        from brainbench.data.stimuli import StimulusSet

        self._manifest()
        table = read_table(store_dir() / "stimuli.csv", "NSD stimulus table", types=STORE_TYPES,
                           required=["stimulus_id", "filename"], ids=["stimulus_id", "filename"])
        return StimulusSet(table, identifier="nsd", root=store_dir() / "images")

    @lru_cache(maxsize=8)  # noqa: B019 - one dataset object
    def _subject(self, subject: str):
        from brainbench.data.netcdf import read_assembly

        return read_assembly(store_dir() / f"subj{int(subject):02d}.nc")

    def assembly(self, region=None, subjects=None):
        import pandas as pd
        import xarray as xr

        from brainbench.data.assembly import repeated_trials

        imported = sorted(self._manifest()["subjects"], key=int)
        chosen = imported if subjects in (None, "all") else [str(int(s)) for s in subjects]
        missing = sorted(set(chosen) - set(imported), key=int)
        if missing:
            raise AssemblyError(f"NSD subjects {missing} are not imported; imported: {imported}")
        region = region or "EVC"
        if not isinstance(region, str):
            raise AssemblyError("select one NSD region at a time")
        parts = []
        for subject in chosen:
            a = self._subject(subject)
            if f"in_{region}" not in a.coords:
                known = [c[3:] for c in a.coords if c.startswith("in_")]
                raise AssemblyError(f"NSD subject {subject} has no region {region!r}; it has {', '.join(known)}")
            a = a.isel(neuroid=a[f"in_{region}"].values.astype(bool))
            parts.append(a.assign_coords(region=("neuroid", [region] * a.sizes["neuroid"])))
        shared = set.intersection(*(set(p["stimulus_id"].values.astype(str)) for p in parts))
        keys = sorted({(s, int(r)) for p in parts for s, r in zip(p["stimulus_id"].values.astype(str),
                                                                   p["repetition"].values, strict=True) if s in shared})
        index = pd.MultiIndex.from_tuples(keys, names=["stimulus_id", "repetition"])
        blocks = []
        for subject, p in zip(chosen, parts, strict=True):
            repeated = repeated_trials(p)
            if repeated:  # get_indexer needs one row per trial
                raise AssemblyError(f"NSD subject {subject}'s store file repeats (stimulus_id, repetition) pairs, e.g. "
                                    f"{list(repeated)[:5]}; import the subject again")
            own = pd.MultiIndex.from_arrays([p["stimulus_id"].values.astype(str), p["repetition"].values.astype(int)])
            rows = own.get_indexer(index)
            values = np.where(rows[:, None] >= 0, np.asarray(p.values)[rows], np.nan)  # NaN: a trial this subject lacks
            neuroid = {k: v for k, v in p.coords.items() if v.dims == ("neuroid",) and not k.startswith("in_")}
            blocks.append(xr.DataArray(values, dims=("presentation", "neuroid"), coords=neuroid))
        out = xr.concat(blocks, dim="neuroid")
        return out.assign_coords(stimulus_id=("presentation", [s for s, _ in keys]),
                                 repetition=("presentation", [r for _, r in keys]))


def card() -> DatasetCard:
    return DatasetCard(
        name="nsd", species="human", recording="7T fMRI betas (GLMdenoise_RR, 1.8 mm), z-scored per session",
        regions=list(REGIONS), subjects=[str(s) for s in SESSIONS], n_stimuli=None,
        description="Natural Scenes Dataset: COCO images, 8 subjects; import a local copy or fetch from NSD's bucket",
        url="https://naturalscenesdataset.org", license="NSD Terms and Conditions", citation=CITATION,
    )


@hookimpl
def register_datasets(register):
    register(card(), NSD)


@hookimpl
def register_benchmarks(register):
    for region in REGIONS:
        register({"id": f"nsd.{region}", "dataset": "nsd", "region": region, "metric": "ridge", "ceiling": "ncsnr",
                  "version": "1", "splits": {"kind": "kfold", "n_splits": 10, "seed": 0},
                  "description": f"NSD {region}: every imported subject, the images all of them saw (the shared1000), "
                                 "ridge encoding, 10-fold, NSD's ncsnr noise ceiling."})
        for subject in SESSIONS:
            register({"id": f"nsd.{region}.subj{subject:02d}", "dataset": "nsd", "region": region,
                      "subjects": [str(subject)], "metric": "ridge", "ceiling": "ncsnr", "version": "1",
                      "splits": {"kind": "fixed", "test_by": "shared1000"},
                      "description": f"NSD {region}, subject {subject}: trained on the subject's own images, tested on "
                                     "the shared1000 it saw (import with images='all'); ridge, ncsnr ceiling."})
