"""Fetching what the NSD store needs from NSD's public bucket (mirror first), then importing it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from brainbench.data.downloads import RemoteFile
from brainbench.errors import ConfigError

from .importer import _available_images, _build
from .layout import (BUCKET, EXPDESIGN, FOLDER, N_IMAGES, REGIONS, ROI_LABELS, SESSIONS, SHARED_PNGS, STIM_INFO,
                     STIMULI_HDF5, TERMS, _check_images, _check_regions, _check_sessions, _subjects, betas_path,
                     ncsnr_path, roi_path)
from .readers import read_design

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
