"""A synthetic validation benchmark whose right answer is known; no download.

Stimuli: deterministic 64x64 images (coloured Gabor patches on a coloured background).
Responses: for each region, each subject's neuroids are random linear readouts of one layer
of the seeded generator network (``early`` <- ``block1``, ``late`` <- ``block3``): random
combinations of that layer's whitened principal components ``PCS`` (over the stimuli), the
directions that carry what is specific to the layer (the first few are shared by all layers),
scaled to unit signal variance, plus Gaussian trial noise of standard deviation ``sigma`` on
each of ``R`` repetitions. The reliability of the repeat average is
then known exactly: ``1 / (1 + sigma^2 / R)``, stored per neuroid as ``true_reliability``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from brainbench import DatasetCard, hookimpl
from brainbench.registry.contracts import Dataset

NAME = "synthetic"
N_STIMULI, SIZE, REPETITIONS, NEUROIDS = 300, 64, 4, 40
SEED = 7
GENERATING_LAYER = {"early": "block1", "late": "block3"}
PCS = slice(3, 40)  # principal components 4-40 of the generating layer
NOISE_SD = {"s1": 1.0, "s2": 2.0}  # per subject: reliability 0.8 and 0.5 with 4 repetitions


def make_image(rng: np.random.Generator) -> np.ndarray:
    """A background plus three coloured Gabor patches at random positions, orientations and frequencies."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    image = np.ones((SIZE, SIZE, 3)) * rng.uniform(0.2, 0.8, 3)
    for _ in range(3):
        cy, cx = rng.uniform(0.15, 0.85, 2)
        theta, freq, phase = rng.uniform(0, np.pi), rng.uniform(2, 12), rng.uniform(0, 2 * np.pi)
        width = rng.uniform(0.08, 0.25)
        envelope = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * width**2))
        grating = np.cos(2 * np.pi * freq * ((xx - cx) * np.cos(theta) + (yy - cy) * np.sin(theta)) + phase)
        image += (envelope * grating)[..., None] * rng.uniform(-0.6, 0.6, 3)
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8)


@lru_cache(maxsize=1)
def stimuli_arrays() -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(SEED)
    return tuple(make_image(rng) for _ in range(N_STIMULI))


def stimulus_ids() -> list[str]:
    return [f"synth{i:04d}" for i in range(N_STIMULI)]


class SyntheticDataset(Dataset):
    def __init__(self) -> None:
        self.card = card()

    def stimulus_set(self):
        from brainbench.data.stimuli import StimulusSet

        return StimulusSet.from_arrays(stimuli_arrays(), stimulus_ids(), identifier="synthetic-v1")

    @lru_cache(maxsize=1)  # noqa: B019 - one dataset object, one assembly
    def _full_assembly(self):
        from brainbench.data.assembly import neural_assembly
        from brainbench.extraction.synthetic_generator import build

        layers = sorted(set(GENERATING_LAYER.values()))
        features = build().extract(self.stimulus_set(), layers, progress=False)
        rng = np.random.default_rng(SEED + 1)
        signals, noise_sd, neuroid, region_of, subject_of = [], [], [], [], []
        for region, layer in GENERATING_LAYER.items():
            F = features[layer].values.astype(np.float64)
            components = np.linalg.svd(F - F.mean(0), full_matrices=False)[0][:, PCS]  # whitened: unit singular values
            for subject, sd in NOISE_SD.items():
                S = components @ rng.standard_normal((components.shape[1], NEUROIDS))
                signals.append((S - S.mean(0)) / S.std(0))
                noise_sd += [sd] * NEUROIDS
                neuroid += [f"{subject}.{region}.{i:02d}" for i in range(NEUROIDS)]
                region_of += [region] * NEUROIDS
                subject_of += [subject] * NEUROIDS
        signal = np.concatenate(signals, axis=1)
        sd = np.asarray(noise_sd)
        trials = signal[None] + rng.standard_normal((REPETITIONS, *signal.shape)) * sd
        ids = stimulus_ids()
        return neural_assembly(
            trials.reshape(-1, signal.shape[1]),
            stimulus_id=ids * REPETITIONS,
            repetition=np.repeat(np.arange(REPETITIONS), len(ids)),
            neuroid_id=neuroid,
            region=region_of,
            subject=subject_of,
            neuroid_coords={"noise_sd": sd, "true_reliability": 1 / (1 + sd**2 / REPETITIONS)},
            attrs={"identifier": "synthetic-v1", "stimulus_set_identifier": "synthetic-v1"},
        )

    def assembly(self, region=None, subjects=None):
        from brainbench.data.assembly import select

        return select(self._full_assembly(), region, subjects)


def card() -> DatasetCard:
    return DatasetCard(
        name=NAME,
        description="Simulated neuroids read out from a seeded generator network, with known trial noise.",
        species="none",
        recording="synthetic",
        regions=list(GENERATING_LAYER),
        subjects=list(NOISE_SD),
        n_stimuli=N_STIMULI,
        needs_download=False,
        simulated=True,
    )


@hookimpl
def register_datasets(register):
    register(card(), SyntheticDataset)
