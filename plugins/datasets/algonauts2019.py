"""Algonauts 2019 (Cichy et al. 2019), the 78-image fMRI set, as Net2Brain ships it for its tests
(``net2brain/tests/data/``): 78 photos and, per region (EVC, IT), the RDMs of 15 subjects.

Brain data are RDMs only (``assembly()`` is an RDM assembly, :mod:`brainbench.rdm.rdms`); stimulus ids are
the file stems ``image_01``..``image_78``, in the order of the RDMs' rows. The files and their sha256
are listed in ``tables/algonauts2019.sha256``; in a mirror they sit under ``algonauts2019_78images/``
as ``stimuli/image_NN.jpg`` and ``brain_rdms/fmri_<region>_RDMs.npz``.

The 15 subjects' RDMs share almost no structure (mean inter-subject Spearman of the upper triangles
~0.00), so the noise ceiling's lower bound is ~0.01: the benchmarks exercise RDM targets end to end,
and every score carries a note that it cannot rank models.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files as package_files

from brainbench import DatasetCard, hookimpl
from brainbench.registry.contracts import Dataset
from brainbench.data.downloads import RemoteFile

BASE = "https://github.com/cvai-roig-lab/Net2Brain/raw/main/net2brain/tests/data"
PUBLISHER_FOLDER = {"stimuli": "stimuli_data", "brain_rdms": "brain_data"}  # our layout -> Net2Brain's
REGIONS = ("EVC", "IT")
N_SUBJECTS, N_IMAGES = 15, 78
IDS = [f"image_{i:02d}" for i in range(1, N_IMAGES + 1)]
CITATION = ("Cichy, R. M., Roig, G., Andonian, A., Dwivedi, K., Lahner, B., Lascelles, A., Mohsenzadeh, Y., Ramakrishnan, "
            "K., & Oliva, A. (2019). The Algonauts Project: A platform for communication between the sciences of "
            "biological and artificial intelligence. arXiv:1905.05675.")


def _files() -> tuple[RemoteFile, ...]:
    listing = package_files("brainbench.plugins.datasets").joinpath("tables/algonauts2019.sha256").read_text()
    out = []
    for line in listing.splitlines():
        digest, name = line.split()
        folder, base = name.split("/")
        out.append(RemoteFile(name, f"{BASE}/{PUBLISHER_FOLDER[folder]}/{base}", sha256=digest))
    return tuple(out)


class Algonauts2019(Dataset):
    files = _files()

    def __init__(self):
        self.card = card()

    @property
    def folder(self) -> str:
        return "algonauts2019_78images"

    def stimulus_set(self):
        import pandas as pd

        from brainbench.data.stimuli import StimulusSet

        paths = [self.path(f"stimuli/{i}.jpg", progress=False) for i in IDS]
        return StimulusSet(pd.DataFrame({"stimulus_id": IDS, "filename": [str(p) for p in paths]}),
                           identifier="algonauts2019-78images")

    @lru_cache(maxsize=1)  # noqa: B019 - one dataset object
    def _assembly(self):
        import numpy as np

        from brainbench.data.files import load_array
        from brainbench.rdm.rdms import rdm_assembly

        rdms = [load_array(self.path(f"brain_rdms/fmri_{r}_RDMs.npz"), (N_SUBJECTS, N_IMAGES, N_IMAGES), key="arr_0")
                for r in REGIONS]
        subjects = [f"{s + 1:02d}" for s in range(N_SUBJECTS)]
        return rdm_assembly(np.concatenate(rdms), stimulus_id=IDS, subject=subjects * len(REGIONS),
                            region=[r for r in REGIONS for _ in subjects],
                            attrs={"dataset": "algonauts2019", "citation": CITATION})

    def assembly(self, region=None, subjects=None):
        from brainbench.data.assembly import select

        return select(self._assembly(), region, subjects)


def card() -> DatasetCard:
    return DatasetCard(
        name="algonauts2019", species="human", recording="fMRI, as RDMs", regions=list(REGIONS),
        subjects=[f"{s + 1:02d}" for s in range(N_SUBJECTS)], n_stimuli=N_IMAGES,
        description="Algonauts 2019: 78 photos, 15 subjects' fMRI RDMs of EVC and IT (Net2Brain's test copy)",
        url="https://github.com/cvai-roig-lab/Net2Brain", license="BSD-style (Net2Brain)", citation=CITATION,
    )


@hookimpl
def register_datasets(register):
    register(card(), Algonauts2019)
