"""Datasets imported with ``brainbench data import`` (:mod:`brainbench.registry.user_datasets`): each folder under
``<data home>/datasets/imported/`` is a dataset, with one benchmark per region."""

from __future__ import annotations

from functools import lru_cache, partial

from brainbench import DatasetCard, hookimpl
from brainbench.registry.contracts import Dataset


class ImportedDataset(Dataset):
    def __init__(self, manifest: dict):
        self.manifest = manifest
        self.card = card(manifest)

    @property
    def folder(self) -> str:
        return f"imported/{self.name}"

    def local_files(self):
        from brainbench.registry.user_datasets import imported_dir

        return [p for p in imported_dir(self.name).rglob("*") if p.is_file()]

    def remove_local(self):
        import shutil

        from brainbench.registry.user_datasets import imported_dir

        removed = self.local_files()
        shutil.rmtree(imported_dir(self.name))
        return removed

    def stimulus_set(self):
        from brainbench.errors import DataFileError
        from brainbench.registry.user_datasets import imported_dir
        from brainbench.data.stimuli import StimulusSet
        from brainbench.data.tables import read_table

        folder = imported_dir(self.name)
        try:  # every cell as written: ids and metadata are text, as they were imported
            table = read_table(folder / "stimuli.csv", f"stimulus table of {self.name}", required=["stimulus_id"],
                               ids=["stimulus_id", "filename"])
        except DataFileError as exc:
            raise DataFileError(f"{exc}; import {self.name} again") from None
        return StimulusSet(table, identifier=self.name, root=folder / "images")

    @lru_cache(maxsize=1)  # noqa: B019 - one dataset object, one assembly
    def _assembly(self):
        from brainbench.registry.user_datasets import imported_dir
        from brainbench.data.netcdf import as_neural_assembly, read_assembly

        return as_neural_assembly(read_assembly(imported_dir(self.name) / "assembly.nc"))

    def assembly(self, region=None, subjects=None):
        from brainbench.data.assembly import select

        return select(self._assembly(), region, subjects)


def card(manifest: dict) -> DatasetCard:
    """The card of an imported dataset; ``recording`` names the time bin kept from a brainio assembly."""
    start, end = manifest.get("time_bin_start"), manifest.get("time_bin_end")
    recording = "imported" if start is None else f"imported, time bin {start:g}-{end:g} ms" if end is not None else \
        f"imported, time bin from {start:g} ms"
    return DatasetCard(
        name=manifest["name"], species="unknown", recording=recording, regions=manifest["regions"],
        subjects=manifest["subjects"], n_stimuli=manifest["n_stimuli"], needs_download=False,
        description=f"imported {manifest['imported']} from {manifest['source']} ({manifest['n_neuroids']} neuroids)",
    )


@hookimpl
def register_datasets(register):
    from brainbench.registry.user_datasets import imported_manifests

    for manifest in imported_manifests():
        register(card(manifest), partial(ImportedDataset, manifest))


@hookimpl
def register_benchmarks(register):
    from brainbench.registry.user_datasets import imported_manifests

    for m in imported_manifests():
        for region in m["regions"]:
            register({"id": f"{m['name']}.{region}", "dataset": m["name"], "region": region, "metric": "ridge",
                      "ceiling": "split_half" if m["repetitions"] else "none", "version": "1",
                      "description": f"imported data {m['name']}, region {region}: ridge encoding",
                      "splits": {"kind": "kfold", "n_splits": 10 if m["n_stimuli"] >= 100 else 5, "seed": 0}})
