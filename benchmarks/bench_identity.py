"""A model's identity read on every use: the weights hash of a 300M-parameter ViT-L vs a full sha256 and a forward pass.

brainbench reads a wrapped model's weights hash each time it keys the activation cache, the layer trace or a
score's provenance, so that a network changed in place after wrapping is never mistaken for the old one. An
unchanged model costs a content fingerprint of its state (row and column sums of its 64-bit words,
``brainbench.extraction.identity.state_fingerprint``); a changed one, the fingerprint and the sha256. Compared on timm's
``vit_large_patch16_224`` with random weights (304M float32 parameters, 1.2 GB), on the CPU, against:

1. the full sha256 of the state (what reading the hash would cost without the fingerprint);
2. one forward pass of one 224x224 image (what any extraction pays at least once per stimulus).
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from timing import best_of, report  # noqa: E402


def main(arch="vit_large_patch16_224"):
    import brainbench
    from brainbench.extraction.identity import state_hash
    from brainbench.extraction.torchvision_compat import import_torchvision

    import_torchvision()  # timm imports torchvision
    import timm

    torch.manual_seed(0)
    net = timm.create_model(arch, pretrained=False)
    model = brainbench.wrap(net, lambda img: img, name=arch)
    n = sum(p.numel() for p in net.parameters())
    print(f"{arch}: {n / 1e6:.0f}M parameters, {sum(t.nbytes for t in net.state_dict().values()) / 2**30:.2f} GiB "
          f"of state, {torch.get_num_threads()} torch threads", flush=True)
    model.weights_hash()  # the first read hashes the state

    unchanged, _ = best_of(model.weights_hash)
    full, _ = best_of(lambda: state_hash(net))
    report("weights hash, unchanged model (fingerprint)", unchanged, full, "full sha256")

    def changed():
        with torch.no_grad():
            net.head.bias.neg_()  # one change in place: the fingerprint differs, the sha256 runs again
        return model.weights_hash()

    after_change, _ = best_of(changed)
    report("weights hash, after a change (fingerprint + sha256)", after_change, full, "full sha256")

    identity, _ = best_of(model.identity)
    x = torch.rand(1, 3, 224, 224)

    def forward():
        with torch.inference_mode():
            net(x)

    one_image, _ = best_of(forward)
    report("identity (weights hash + code and module tree), unchanged", identity, one_image, "forward pass, 1 image")


if __name__ == "__main__":
    main()
