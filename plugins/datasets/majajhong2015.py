"""Majaj, Hong, Solomon & DiCarlo 2015: macaque V4 and IT multi-unit responses to the HVM images,
Brain-Score's public assembly ``dicarlo.MajajHong2015.public`` with stimulus set ``hvm-public``,
from Brain-Score's public S3 store with the sha1 Brain-Score publishes, read by brainbench's
brainio-compatible loader (:mod:`brainbench.data.netcdf`).

The assembly's trials are kept (``repetition``: ~50 per image), its one time bin (70-170 ms) is
squeezed, ``animal`` is the subject; the stimulus table carries ``object_name``, ``category_name``
and ``variation``. Benchmarks follow Brain-Score's split protocol: 10 shuffle splits, 90/10,
stratified by ``object_name``, seed 1; split-half Spearman-Brown ceiling over the repetitions.
"""

from __future__ import annotations

from functools import lru_cache

from brainbench import DatasetCard, hookimpl
from brainbench.registry.contracts import Dataset
from brainbench.data.downloads import RemoteFile

STORE = "https://brainscore-storage.s3.amazonaws.com/brainio-brainscore"
ASSEMBLY, CSV, ZIP = "assy_dicarlo_MajajHong2015_public.nc", "stimulus_hvm-public.csv", "stimulus_hvm-public.zip"
FILES = (  # sha1 as in brainscore_vision/data/majajhong2015 (Brain-Score 2.x)
    RemoteFile(ASSEMBLY, f"{STORE}/{ASSEMBLY}", sha1="13d28ca0ce88ee550b54db3004374ae19096e9b9"),
    RemoteFile(CSV, f"{STORE}/{CSV}", sha1="5ca7a3da00d8e9c694a9cd725df5ba0ad6d735af"),
    RemoteFile(ZIP, f"{STORE}/{ZIP}", sha1="8aa44e038d7b551efa8077467622f9d48d72e473"),
)
CITATION = ("Majaj, N. J., Hong, H., Solomon, E. A., & DiCarlo, J. J. (2015). Simple learned weighted sums of inferior "
            "temporal neuronal firing rates accurately predict human core object recognition performance. "
            "Journal of Neuroscience, 35(39), 13402-13418.")


class MajajHong2015(Dataset):
    """``files`` default to Brain-Score's; tests pass files written in the same layout."""

    def __init__(self, files: tuple[RemoteFile, ...] = FILES):
        self.card = card()
        self.files = files

    def stimulus_set(self):
        from brainbench.data.downloads import dataset_dir
        from brainbench.data.netcdf import read_stimulus_set

        return read_stimulus_set(self.path(CSV), self.path(ZIP), extract_to=dataset_dir(self.folder) / "hvm-public",
                                 identifier="hvm-public")

    @lru_cache(maxsize=1)  # noqa: B019 - one dataset object, one assembly
    def _assembly(self):
        from brainbench.data.netcdf import as_neural_assembly, read_assembly

        return as_neural_assembly(read_assembly(self.path(ASSEMBLY)))

    def assembly(self, region=None, subjects=None):
        from brainbench.data.assembly import select

        return select(self._assembly(), region, subjects)


def card() -> DatasetCard:
    return DatasetCard(
        name="majajhong2015", species="macaque", recording="Utah array multi-unit activity, 70-170 ms",
        regions=["V4", "IT"], subjects=["Chabo", "Tito"], n_stimuli=3200,
        description="Majaj & Hong et al. 2015 V4 and IT to HVM images: Brain-Score's public assembly and stimulus set",
        url="https://github.com/brain-score/vision/tree/master/brainscore_vision/data/majajhong2015",
        license="MIT (Brain-Score)", citation=CITATION,
    )


@hookimpl
def register_datasets(register):
    register(card(), MajajHong2015)
