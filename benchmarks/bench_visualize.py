"""Feature visualisation: optimisation steps per second on the CPU, ResNet-18 (random weights) at 128 px.

One channel's spatial mean in ``layer3`` (channel 7), Adam at lr 0.05, a 128 x 128 image, the model at 128 x 128
(ImageNet normalisation). Time per step is measured as the difference between runs of 25 and 5 steps (so the setup,
a trace of the model's layers and the preprocessing probe, is left out), best of 2. brainbench's ``visualize`` runs
twice: lucid's recipe (decorrelated Fourier image, pad/jitter/scale/rotate transforms) and a plain pixel image
without transforms. The reference is lucent's recipe run by hand with the same settings (its ``param.image`` and
``transform.standard_transforms``, Adam, a forward hook) where ``lucent`` (``torch-lucent``) imports, and otherwise
a plain-pixel Adam loop (sigmoid pixels, normalise, forward with a hook, step): the floor any recipe pays, against
which the recipe's own cost shows.
"""

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from timing import sized  # noqa: E402

SIZE, LAYER, CHANNEL, LR = 128, "layer3", 7, 0.05
SHORT, LONG = 5, sized(25)
MEAN, SD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _resnet18():
    import torch

    from brainbench.extraction.torchvision_compat import import_torchvision

    torch.manual_seed(0)
    return import_torchvision().models.resnet18(weights=None).eval()


def _per_step(run):
    """Seconds per step: (time of LONG steps - time of SHORT steps) / (LONG - SHORT), best of 2 each."""
    times = {}
    for steps in (SHORT, LONG):
        best = float("inf")
        for _ in range(2):
            start = time.perf_counter()
            run(steps)
            best = min(best, time.perf_counter() - start)
        times[steps] = best
    return (times[LONG] - times[SHORT]) / (LONG - SHORT)


def ours(param, transforms):
    import brainbench
    from brainbench.extraction.torchvision_compat import import_torchvision
    from brainbench.interpret.visualize import Channel, visualize

    T = import_torchvision().transforms

    model = brainbench.wrap(_resnet18(), T.Compose([T.Resize((SIZE, SIZE)), T.ToTensor(), T.Normalize(MEAN, SD)]),
                            name="resnet18-random", input_size=SIZE)
    return lambda steps: visualize(model, Channel(LAYER, CHANNEL), steps=steps, lr=LR, size=SIZE, param=param,
                                   transforms=transforms, device="cpu")


def _hooked(module):
    acts = {}
    dict(module.named_modules())[LAYER].register_forward_hook(lambda m, i, o: acts.__setitem__("out", o))
    return acts


def plain_pixel():
    import torch

    module = _resnet18()
    for p in module.parameters():
        p.requires_grad_(False)
    acts = _hooked(module)
    mean, sd = torch.tensor(MEAN)[:, None, None], torch.tensor(SD)[:, None, None]

    def run(steps):
        pixels = (torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0)) * 0.01).requires_grad_()
        optimiser = torch.optim.Adam([pixels], lr=LR)
        for _ in range(steps):
            optimiser.zero_grad()
            module((torch.sigmoid(pixels) - mean) / sd)
            (-acts["out"][:, CHANNEL].mean()).backward()
            optimiser.step()
    return run


def lucent_by_hand():
    import torch
    from lucent.optvis import param as lucent_param
    from lucent.optvis import transform as lucent_transform

    module = _resnet18()
    for p in module.parameters():
        p.requires_grad_(False)
    acts = _hooked(module)
    chain = lucent_transform.compose(lucent_transform.standard_transforms + [lucent_transform.normalize()])

    def run(steps):
        torch.manual_seed(0)
        params, image = lucent_param.image(SIZE)
        optimiser = torch.optim.Adam(params, lr=LR)
        for _ in range(steps):
            optimiser.zero_grad()
            module(chain(image()))
            (-acts["out"][:, CHANNEL].mean()).backward()
            optimiser.step()
    return run


def main():
    try:
        reference, name = lucent_by_hand(), "lucent's recipe by hand"
    except ImportError:
        reference, name = plain_pixel(), "plain-pixel Adam loop (lucent not importable)"
    ref = _per_step(reference)
    for label, param, transforms in (("fourier + standard transforms", "fourier", "standard"),
                                     ("pixel, no transforms", "pixel", "none")):
        mine = _per_step(ours(param, transforms))
        print(f"visualize resnet18 {LAYER}:{CHANNEL} at {SIZE} px, {label}: brainbench {1 / mine:.1f} steps/s | "
              f"{name} {1 / ref:.1f} steps/s | ratio (ref/ours, time per step) {ref / mine:.2f}x", flush=True)


if __name__ == "__main__":
    main()
