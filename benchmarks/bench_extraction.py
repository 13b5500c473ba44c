"""Hooked feature extraction (all candidate layers) vs a bare forward pass of the same model and batches."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from timing import best_of, report  # noqa: E402


def main(n=64, batch=32):
    import brainbench
    from brainbench.testing import tiny_stimulus_set

    model = brainbench.get_model("efficientnet_lite0")
    stimuli = tiny_stimulus_set(n=n, size=224)
    images = [stimuli.image(s) for s in stimuli.ids]

    def bare():
        with torch.inference_mode():
            for start in range(0, n, batch):
                model.module(torch.stack([model.preprocess(im) for im in images[start:start + batch]]))

    hooked, _ = best_of(lambda: model.extract(stimuli, model.default_layers, batch_size=batch, progress=False), repeats=2)
    reference, _ = best_of(bare, repeats=2)
    report(f"efficientnet_lite0, {len(model.default_layers)} layers, {n} images", hooked, reference, "bare forward")
    print(f"  extraction overhead: {100 * (hooked / reference - 1):+.1f}% (target: at most +10%)")
