"""Macaque V4 spike counts to natural images (Cowley, Stan, Pillow & Smith 2023, "Compact deep
neural network models of visual cortex"; github.com/cowleygroup/V4_compact_models).

Utah-array units, spike counts in 100 ms bins, 112x112 images. Sessions have disjoint images and
units, so each session is its own dataset (one stimulus set, one set of units):

- ``cowley2023`` is session 210325 (monkey PE; 50 units x 640 images of Bashivan et al. 2019's
  objects on natural backgrounds, 6-10 repeats each). Its raw repeats are the trials of the
  assembly (NaN padding dropped), so ``cowley2023.V4`` carries a split-half Spearman-Brown ceiling.
- ``cowley2023_<session>`` for the other test/validation sessions with images (190923 monkey WE;
  201025, 210224, 210225 monkey PE) holds repeat-averaged responses only: scored without a ceiling.

Images and responses line up by index (``images[i]`` <-> ``responses[:, i]``); stimulus ids are
``<session>_<image number>`` with the publisher's 1-based image numbers.
"""

from __future__ import annotations

from functools import lru_cache, partial

import numpy as np

from brainbench import DatasetCard, hookimpl
from brainbench.registry.contracts import Dataset
from brainbench.data.downloads import RemoteFile

COMMIT = "f4552ad9d34a466ebc66658f72a08a8e5038f1cf"
BASE = f"https://github.com/cowleygroup/V4_compact_models/raw/{COMMIT}/data_V4_responses"
FOLDER = "cowley2023_v4"
MAIN = "210325"
SESSIONS = {  # session: (monkey, units, images)
    "190923": ("WE", 33, 1200), "201025": ("PE", 89, 1200), "210224": ("PE", 67, 800),
    "210225": ("PE", 55, 1200), "210325": ("PE", 50, 640),
}
SHA256 = {
    "images_190923.zip": "e99a4df1c7476bdc4d565ff4408bc421976ecc3a22c41af6bfd0cfbddb508c0c",
    "images_201025.zip": "3abb63679107665eab7220bdeaf7863832a1df943bf3d7792501f5082a55b2e8",
    "images_210224.zip": "e2690810bee34c2e2821e5dd504c7970f3441579bc57659f27d2c11678b52c6b",
    "images_210225.zip": "79bfb1066949a7f7bbd3c632ab420c2230b966b80cade76593d8745aea49b7f6",
    "images_210325.zip": "992774eca3508a2ad01accb1a31f5f3e3d90248c49f4eec314f2a915a263e454",
    "responses_avg_190923.npy": "741672d36541ce39930c8a3b5bd1cfd33c187aa47b1549c9c5569bc21aa97a28",
    "responses_avg_201025.npy": "f729f3dc0d29aa38bd380c0da9e39aba916f9e2580949929b65d1714e7217a8a",
    "responses_avg_210224.npy": "4dbb7367707a5ca47ab4cea863bbf4e9765b8409cb30216693721bddfad7abfe",
    "responses_avg_210225.npy": "853f196247504fa2526b507f56ee5237711ed166f295f7cb23ec5441a7bf789b",
    "responses_avg_210325.npy": "555e67037182611969ab90da291dcc39601de4411f651a64ad60e90572cf59d3",
    "responses_raw_210325.npy": "4008dbbf31a47d9b1b8d8da609f4a7a3433c7071f0e45c611c220b217dd75b76",
}
CITATION = ("Cowley, B. R., Stan, P. L., Pillow, J. W., & Smith, M. A. (2023). Compact deep neural network "
            "models of visual cortex. bioRxiv 2023.11.22.568315.")


def session_files(session: str) -> tuple[RemoteFile, ...]:
    urls = {
        f"images_{session}.zip": f"{BASE}/images/images_{session}.zip",
        f"responses_avg_{session}.npy": f"{BASE}/responses_repeat_averaged/responses_{session}.npy",
    }
    if session == MAIN:
        urls[f"responses_raw_{session}.npy"] = f"{BASE}/responses_raw/responses_{session}.npy"
    return tuple(RemoteFile(name, url, sha256=SHA256[name]) for name, url in urls.items())


class Cowley2023(Dataset):
    def __init__(self, session: str = MAIN):
        self.session = session
        self.card = card(session)
        self.files = session_files(session)

    @property
    def folder(self) -> str:
        return FOLDER

    def stimulus_set(self):
        import pandas as pd

        from brainbench.data.downloads import unpack
        from brainbench.errors import DataFileError
        from brainbench.data.stimuli import StimulusSet

        archive = self.path(f"images_{self.session}.zip")
        root = unpack(archive)
        files = sorted(root.rglob("image*.jpg"))  # 190923's members sit in a subfolder
        n = SESSIONS[self.session][2]
        if len(files) != n:
            raise DataFileError(f"{archive} holds {len(files)} images where session {self.session} has {n}; "
                                f"remove it (brainbench data rm {self.name}) and fetch again")
        table = pd.DataFrame({"stimulus_id": [f"{self.session}_{f.stem.removeprefix('image')}" for f in files],
                              "filename": [str(f.relative_to(root)) for f in files],
                              "session": self.session})
        return StimulusSet(table, identifier=f"cowley2023-{self.session}", root=root)

    @lru_cache(maxsize=1)  # noqa: B019 - one dataset object, one assembly
    def _assembly(self):
        from brainbench.data.assembly import neural_assembly
        from brainbench.data.files import load_array

        monkey, n_units, n_images = SESSIONS[self.session]
        ids = [f"{self.session}_{i:04d}" for i in range(1, n_images + 1)]
        units = [f"{self.session}.{u:02d}" for u in range(n_units)]
        common = dict(neuroid_id=units, region="V4", subject=monkey,
                      neuroid_coords={"session": [self.session] * n_units},
                      attrs={"dataset": self.name, "units": "spike count per 100 ms", "citation": CITATION})
        if self.session == MAIN:
            raw = load_array(self.path(f"responses_raw_{self.session}.npy"), (n_units, n_images, None))
            trials = raw.transpose(2, 1, 0)  # (repetition, image, unit)
            rep, image = np.nonzero(np.isfinite(trials).any(axis=2))  # drop the NaN padding
            order = np.lexsort((rep, image))  # image-major: an image's trials together
            rep, image = rep[order], image[order]
            return neural_assembly(trials[rep, image], stimulus_id=[ids[i] for i in image], repetition=rep, **common)
        avg = load_array(self.path(f"responses_avg_{self.session}.npy"), (n_units, n_images))
        return neural_assembly(avg.T, stimulus_id=ids, **common)

    def assembly(self, region=None, subjects=None):
        from brainbench.data.assembly import select

        return select(self._assembly(), region, subjects)


def card(session: str) -> DatasetCard:
    monkey, units, images = SESSIONS[session]
    name = "cowley2023" if session == MAIN else f"cowley2023_{session}"
    what = "raw repeats, split-half ceiling" if session == MAIN else "repeat-averaged, no ceiling"
    return DatasetCard(
        name=name, species="macaque", recording="Utah array spike counts (100 ms)", regions=["V4"],
        subjects=[monkey], n_stimuli=images,
        description=f"Cowley et al. 2023 V4, session {session} (monkey {monkey}): {units} units x {images} "
                    f"natural images, {what}",
        url="https://github.com/cowleygroup/V4_compact_models", license="GPL-3.0 (repository)", citation=CITATION,
    )


@hookimpl
def register_datasets(register):
    for session in SESSIONS:
        register(card(session), partial(Cowley2023, session))
