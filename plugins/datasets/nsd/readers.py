"""Reading NSD's own files: the experimental design (MATLAB), ROI and ncsnr volumes (NIfTI, with their label
tables) and one session's betas (HDF5); a missing or damaged file is a DataFileError naming it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from brainbench.errors import ConfigError, DataFileError

from .layout import (EXPDESIGN, FLOC, OTC_MIN_NCSNR, OTC_STREAMS, REGIONS, ROI_LABELS, SCALE, ctab_path, ncsnr_path,
                     roi_path)

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
