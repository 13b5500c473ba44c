r"""The Natural Scenes Dataset (Allen et al. 2022): 7T fMRI, 8 subjects, up to 10,000 COCO images each.

Two ways in, both producing the same store in ``<data home>/datasets/nsd/brainbench/``:

- ``import_nsd(root)`` (``brainbench data import nsd DIR``, the Dataset contract's ``import_data``) reads a local copy in NSD's own
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

The package: :mod:`.layout` (NSD's paths, subjects, sessions, regions, and the checks of a request),
:mod:`.readers` (the design MATLAB file, NIfTI volumes, HDF5 betas), :mod:`.importer` (the store from a local
copy), :mod:`.fetcher` (the store from the bucket), :mod:`.dataset` (the dataset and its benchmarks).
"""

from .dataset import NSD, card, register_benchmarks, register_datasets
from .fetcher import fetch_nsd
from .importer import import_nsd
from .layout import (BUCKET, CITATION, EXPDESIGN, FLOC, FOLDER, IMAGE_READERS, N_IMAGES, OTC_MIN_NCSNR, OTC_STREAMS,
                     REGIONS, ROI_LABELS, SCALE, SESSIONS, SHARED1000, SHARED_PNGS, STIM_INFO, STIM_INFO_TYPES,
                     STIMULI_HDF5, STORE_TYPES, TERMS, betas_path, ctab_path, ncsnr_path, roi_path, stimulus_id,
                     store_dir)
from .readers import read_design, region_masks, session_betas

__all__ = ["BUCKET", "CITATION", "EXPDESIGN", "FLOC", "FOLDER", "IMAGE_READERS", "N_IMAGES", "NSD", "OTC_MIN_NCSNR",
           "OTC_STREAMS", "REGIONS", "ROI_LABELS", "SCALE", "SESSIONS", "SHARED1000", "SHARED_PNGS", "STIMULI_HDF5",
           "STIM_INFO", "STIM_INFO_TYPES", "STORE_TYPES", "TERMS", "betas_path", "card", "ctab_path", "fetch_nsd",
           "import_nsd", "ncsnr_path", "read_design", "region_masks", "register_benchmarks", "register_datasets",
           "roi_path", "session_betas", "stimulus_id", "store_dir"]
