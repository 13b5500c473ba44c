"""The NSD dataset (the imported store read back as assemblies and a stimulus set) and its benchmarks."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from brainbench import DatasetCard, hookimpl
from brainbench.data.tables import read_table
from brainbench.errors import AssemblyError, DataFileError
from brainbench.registry.contracts import Dataset, ImportOption

from .fetcher import fetch_nsd
from .importer import import_nsd
from .layout import (CITATION, FOLDER, REGIONS, SESSIONS, STORE_TYPES, TERMS, _check_images, _check_sessions,
                     _subjects, store_dir)

class NSD(Dataset):
    """The imported store: trials of the images every requested subject saw, one region's voxels."""

    terms = TERMS
    import_source = "a local NSD copy in NSD's layout (the folder holding nsddata/, nsddata_betas/, ...)"
    import_options = (
        ImportOption("subjects", "comma-separated subjects (default: 1-8)", "ints"),
        ImportOption("sessions", "comma-separated sessions (default: all of each subject)", "ints"),
        ImportOption("regions", f"comma-separated regions (default: all; {', '.join(REGIONS)})", "texts"),
        ImportOption("images", "trials of which images to keep ('all' needs nsd_stimuli.hdf5)", "choice",
                     ("shared1000", "all"), "shared1000"),
    )

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

    def import_data(self, source: str | Path, *, progress: bool = True, subjects: Sequence[int] | None = None,
                    sessions: Sequence[int] | None = None, regions: Sequence[str] = tuple(REGIONS),
                    images: str = "shared1000") -> Path:
        """``brainbench data import nsd DIR`` (the Dataset contract's import): :func:`import_nsd`; returns the store
        folder."""
        return import_nsd(source, subjects=subjects, sessions=sessions, regions=regions, images=images,
                          progress=progress)

    def import_from(self, root: str | Path, **options) -> Path:
        """The name :meth:`import_data` had before the Dataset contract declared it (kept for callers of 0.1)."""
        return self.import_data(root, **options)

    @property
    def folder(self) -> str:
        return FOLDER

    def _manifest(self) -> dict:
        path = store_dir() / "nsd.json"
        if not path.is_file():
            raise DataFileError("NSD is not imported yet: run `brainbench data import nsd DIR` on a local NSD copy, "
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
