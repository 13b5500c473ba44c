"""The 92-object set (Kriegeskorte et al. 2008, Neuron 60:1126; Kiani et al. 2007), as rsatoolbox ships
it in ``demos/92imageData/``: the stimuli inside the supplemental .mat, and brain data as RDMs only.

RDM entries (``assembly()`` is an RDM assembly, :mod:`brainbench.rdm.rdms`):
- region ``IT``: human IT, 4 subjects (BE, KO, SN, TI) x 2 sessions, from ``92_brainRDMs.mat``;
- region ``mIT``: monkey IT (674 neurons), one RDM, from the supplemental data's figure-1 RDMs.
Stimulus ids are ``obj01``..``obj92`` in the publisher's order, with the category vectors as metadata.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from brainbench import DatasetCard, hookimpl
from brainbench.registry.contracts import Dataset
from brainbench.data.downloads import RemoteFile

COMMIT = "f1f83cadb7243492a1aae7460466e0f0140b20ac"
BASE = f"https://github.com/rsagroup/rsatoolbox/raw/{COMMIT}/demos/92imageData"
SUPPLEMENT, BRAIN = "Kriegeskorte_Neuron2008_supplementalData.mat", "92_brainRDMs.mat"
FILES = (
    RemoteFile(SUPPLEMENT, f"{BASE}/{SUPPLEMENT}", sha256="06f21214399a5d43dc264eed19a7f4b8daf11c8622a59eec3e106064ce5e3504"),
    RemoteFile(BRAIN, f"{BASE}/{BRAIN}", sha256="1743f90a15e895798a94318649e80e1123a7e5943a1703fa1dd7c31ea5780b7c"),
)
HUMANS = ("BE", "KO", "SN", "TI")
IDS = [f"obj{i:02d}" for i in range(1, 93)]  # the publisher's order
CITATION = ("Kriegeskorte, N., Mur, M., Ruff, D. A., Kiani, R., Bodurka, J., Esteky, H., Tanaka, K., & Bandettini, "
            "P. A. (2008). Matching categorical object representations in inferior temporal cortex of man and monkey. "
            "Neuron, 60(6), 1126-1141.")


def _loadmat(path):
    import scipy.io

    from brainbench.errors import DataFileError

    try:
        return scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
    except (ValueError, OSError, TypeError) as exc:
        raise DataFileError(f"{path} is not a readable MATLAB file ({exc}); delete it and fetch it again") from None


class Kriegeskorte2008(Dataset):
    files = FILES

    def __init__(self):
        self.card = card()

    @property
    def folder(self) -> str:
        return "kriegeskorte2008_92images"

    @lru_cache(maxsize=1)  # noqa: B019 - one dataset object
    def _supplement(self):
        return _loadmat(self.path(SUPPLEMENT))

    def stimulus_set(self):
        import pandas as pd

        from brainbench.data.stimuli import StimulusSet

        mat = self._supplement()
        table = pd.DataFrame(mat["categoryVectors"].astype(bool), columns=[str(c) for c in mat["categoryLabels"]])
        table.insert(0, "stimulus_id", IDS)
        images = dict(zip(IDS, (o.image for o in mat["stimuli_92objs"]), strict=True))
        return StimulusSet(table, identifier="kriegeskorte2008-92objects", loader=images.__getitem__)

    @lru_cache(maxsize=1)  # noqa: B019
    def _assembly(self):
        from scipy.spatial.distance import squareform

        from brainbench.rdm.rdms import rdm_assembly

        human = _loadmat(self.path(BRAIN))["RDMs"]  # (subject, session) structs with an RDM field
        rdms, subjects, sessions = [], [], []
        for s, subject in enumerate(HUMANS):
            for session in range(human.shape[1]):
                rdms.append(np.asarray(human[s, session].RDM, dtype=np.float64))
                subjects.append(subject)
                sessions.append(session + 1)
        monkey = next(r for r in self._supplement()["RDMs_mIT_hIT_fig1"] if str(r.name).startswith("mIT"))
        rdms.append(squareform(np.asarray(monkey.RDM, dtype=np.float64), checks=False))
        return rdm_assembly(np.stack(rdms), stimulus_id=IDS, subject=[*subjects, "monkey"],
                            region=["IT"] * len(subjects) + ["mIT"], rdm_coords={"session": [*sessions, 1]},
                            attrs={"dataset": "kriegeskorte2008", "citation": CITATION})

    def assembly(self, region=None, subjects=None):
        from brainbench.data.assembly import select

        return select(self._assembly(), region, subjects)


def card() -> DatasetCard:
    return DatasetCard(
        name="kriegeskorte2008", species="human+macaque", recording="fMRI (human IT) and single units (monkey IT), as RDMs",
        regions=["IT", "mIT"], subjects=[*HUMANS, "monkey"], n_stimuli=92,
        description="The 92-object set: human-IT RDMs (4 subjects x 2 sessions) and the monkey-IT RDM",
        url="https://github.com/rsagroup/rsatoolbox/tree/main/demos/92imageData", license="MIT (rsatoolbox)",
        citation=CITATION,
    )


@hookimpl
def register_datasets(register):
    register(card(), Kriegeskorte2008)
