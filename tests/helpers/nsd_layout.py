"""A tiny Natural Scenes Dataset in NSD's real layout and file formats (MATLAB, CSV, HDF5, NIfTI, PNG)."""

from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
import scipy.io
from PIL import Image

from brainbench.plugins.datasets import nsd

SHAPE = (6, 5, 4)  # func1pt8mm volume (i, j, k)
N_SHARED, N_OWN, SESSIONS, TRIALS = 40, 10, 2, 60
ROIS = {  # voxel (i, j, k) -> labels in each ROI file
    "prf-visualrois": {(0, 0, 0): 1, (1, 0, 0): 2, (2, 0, 0): 3, (3, 0, 0): 4, (4, 0, 0): 5, (5, 0, 0): 6, (0, 1, 0): 7,
                       (1, 1, 0): 7},
    "floc-faces": {(2, 2, 1): 2, (3, 2, 1): 1},
    "floc-bodies": {(4, 2, 1): 1},
    "floc-places": {(0, 3, 2): 2},
    "floc-words": {(1, 3, 2): 2},
    "streams": {(0, 0, 0): 1, (5, 4, 3): 5, (4, 4, 3): 6, (2, 2, 1): 5},
    "nsdgeneral": {(0, 0, 0): 1, (0, 1, 0): 1, (2, 2, 1): 1, (5, 4, 3): 1, (5, 0, 0): -1},
}


def design():
    """Shared images are nsdIds 0..39 (sharedix 1..40); subject s also saw 10 of its own."""
    rng = np.random.default_rng(0)
    subjectim = np.zeros((8, N_SHARED + N_OWN), dtype=int)
    for s in range(8):
        subjectim[s] = np.r_[np.arange(1, N_SHARED + 1), 100 + 10 * s + np.arange(1, N_OWN + 1)]
    images = N_SHARED + N_OWN
    order = np.r_[np.tile(np.arange(1, images + 1), 2), np.arange(1, SESSIONS * TRIALS - 2 * images + 1)]
    return {"masterordering": rng.permutation(order)[None], "subjectim": subjectim,
            "sharedix": np.arange(1, N_SHARED + 1)[None]}


def signal(subject):
    return np.random.default_rng(10 + subject).normal(size=(200,) + SHAPE)  # per nsdId and voxel


def write_nsd(root: Path, subjects=(1, 2), *, pngs=True, hdf5=False, noise=0.5):
    root = Path(root)
    d = design()
    (root / nsd.EXPDESIGN).parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(root / nsd.EXPDESIGN, d)
    pd.DataFrame({"nsdId": np.arange(200), "cocoId": 5000 + np.arange(200), "shared1000": np.arange(200) < N_SHARED}).to_csv(
        root / nsd.STIM_INFO)
    if pngs:
        (root / nsd.SHARED_PNGS).mkdir(parents=True, exist_ok=True)
        for k, n in enumerate(d["sharedix"][0], start=1):
            pixels = np.random.default_rng(int(n)).integers(0, 256, (24, 24, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / nsd.SHARED_PNGS / f"shared{k:04d}_nsd{n:05d}.png")
    if hdf5:  # NSD's nsd_stimuli.hdf5: every image, (image, height, width, channel) uint8
        (root / nsd.STIMULI_HDF5).parent.mkdir(parents=True, exist_ok=True)
        pixels = np.random.default_rng(1).integers(0, 256, (200, 24, 24, 3), dtype=np.uint8)
        with h5py.File(root / nsd.STIMULI_HDF5, "w") as f:
            f.create_dataset("imgBrick", data=pixels)
    affine = np.diag([1.8, 1.8, 1.8, 1.0])
    for s in subjects:
        for roi, labels in ROIS.items():
            volume = np.full(SHAPE, 0, dtype=np.int16)
            for voxel, value in labels.items():
                volume[voxel] = value
            path = root / nsd.roi_path(s, roi)
            path.parent.mkdir(parents=True, exist_ok=True)
            nib.save(nib.Nifti1Image(volume, affine), path)
        ncsnr_path = root / nsd.ncsnr_path(s)
        ncsnr_path.parent.mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(ncsnr(s).astype(np.float32), affine), ncsnr_path)
        rng = np.random.default_rng(100 + s)
        for session in range(1, SESSIONS + 1):
            images = nsd.importer._trial_images({**d, "masterordering": d["masterordering"].ravel()}, s, session, TRIALS)
            betas = signal(s)[images] + rng.normal(0, noise, (TRIALS,) + SHAPE)  # (trial, i, j, k)
            stored = np.round(betas * nsd.SCALE).astype(np.int16).transpose(0, 3, 2, 1)  # NSD's (trial, k, j, i)
            with h5py.File(root / nsd.betas_path(s, session), "w") as f:
                f.create_dataset("betas", data=stored)
    return root


def ncsnr(subject):
    return np.random.default_rng(50 + subject).uniform(0.1, 1.0, SHAPE)
