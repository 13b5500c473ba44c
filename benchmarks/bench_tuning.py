"""Tuning toward the brain: the Fastfood projection (ResNet-18-sized D, d = 1000) against a dense projection and
inside a network's training step, and an LwF step (the frozen parent's forward) against a plain fine-tuning step.

1. ``brainbench.tuning.fastfood.FastfoodProjection`` forward + backward (``P z`` then the gradient of a fixed linear
   loss back to ``z``) at D = 11,689,512 (torchvision's resnet18: the sum of its parameters' numel) and d = 1000,
   against (a) the per-tensor Fastfood of the ``intrinsic-dimensionality`` package (``from intrinsic import
   FastFoodWrap``) where it imports, and (b) a dense ``P`` (D x d float32): the largest D it fits in a 4 GiB budget
   and in this machine's RAM, and its time and memory next to Fastfood's at a D where it fits (250,000: 1 GB).
2. The projection's share of one training step: resnet18 (random weights) forward + backward + SGD step on 8 images
   of 64 px through ``LowDimensional`` (d = 1000) against the plain network's step.
3. An LwF step (``brainbench.tuning.losses.distillation_loss`` against the frozen parent's logits, computed under
   ``no_grad``) against a plain fine-tuning step (the task loss alone), resnet18, batch 16, 64 px.

Times are the best of 3 (after a warm-up) in this process; two calls compared are timed alternately, so that both
meet the same load on a shared machine. Peak memory is measured in a fresh subprocess per
measurement (torch allocates outside tracemalloc's view): the kernel's resident high-water mark (VmHWM in
/proc/self/status, reset through /proc/self/clear_refs once the set-up is done) minus the resident memory before the
call, i.e. what the call needs above what its inputs already hold; where /proc cannot be used, the
``resource.getrusage`` ru_maxrss rise. ``BENCH_SCALE=0.05`` shrinks D for a quick look.
"""

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from timing import best_of, report, sized  # noqa: E402

RESNET18_D = 11_689_512  # sum(p.numel() for p in torchvision.models.resnet18().parameters()), checked in main()
d = 1000
DENSE_D = 250_000  # a dense float32 P of 250,000 x 1000 is 1 GB
BUDGET = 4 * 2**30


def _torch():
    import torch

    torch.manual_seed(0)
    return torch


def _resnet18():
    from brainbench.extraction.torchvision_compat import import_torchvision

    _torch()
    return import_torchvision().models.resnet18(weights=None)


# -- the measured calls; each returns a function to time (the set-up is done before it) -----------------------------

def fastfood_step(D):
    torch = _torch()
    from brainbench.tuning.fastfood import FastfoodProjection

    projection = FastfoodProjection(d, D, seed=0)
    g = torch.randn(D)

    def run():
        z = torch.zeros(d, requires_grad=True)
        (projection(z) * g).sum().backward()
        return z.grad

    return run


def dense_step(D):
    torch = _torch()
    P = torch.randn(D, d) / D ** 0.5
    g = torch.randn(D)

    def run():
        z = torch.zeros(d, requires_grad=True)
        (P @ z * g).sum().backward()
        return z.grad

    return run


def intrinsic_step(D):
    """The package's FastFoodWrap around resnet18 (its own per-tensor Fastfood), one forward + backward of the
    projection alone is not exposed, so this is its wrapped network's step (compare with ``lowdim_step``)."""
    torch = _torch()
    from intrinsic import FastFoodWrap  # noqa: PLC0415 - optional reference

    net = FastFoodWrap(_resnet18(), intrinsic_dimension=d, device="cpu")
    x = torch.randn(8, 3, 64, 64)

    def run():
        net.zero_grad()
        net(x).sum().backward()

    return run


def network_step(kind, batch=8):
    torch = _torch()
    from brainbench.tuning.fastfood import LowDimensional

    net = _resnet18().train()
    run_net = LowDimensional(net, d, seed=0) if kind == "lowdim" else net
    optimiser = torch.optim.SGD([p for p in run_net.parameters() if p.requires_grad], lr=1e-3)
    x, y = torch.randn(batch, 3, 64, 64), torch.randint(0, 1000, (batch,))

    def run():
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(run_net(x), y).backward()
        optimiser.step()

    return run


def lwf_step(kind, batch=16):
    torch = _torch()
    import copy

    from brainbench.tuning.losses import distillation_loss

    student = _resnet18().train()
    parent = copy.deepcopy(student).eval()
    for p in parent.parameters():
        p.requires_grad_(False)
    optimiser = torch.optim.SGD(student.parameters(), lr=1e-3)
    x, y = torch.randn(batch, 3, 64, 64), torch.randint(0, 1000, (batch,))

    def run():
        optimiser.zero_grad()
        logits = student(x)
        loss = torch.nn.functional.cross_entropy(logits, y)
        if kind == "lwf":
            with torch.no_grad():
                old = parent(x)
            loss = loss + distillation_loss(logits, old)
        loss.backward()
        optimiser.step()

    return run


CALLS = {"fastfood": fastfood_step, "dense": dense_step, "intrinsic": intrinsic_step, "network": network_step,
         "lwf": lwf_step}


def _status_kib(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def _measure_here(name, args):
    """Print the call's peak resident memory above the level before it (KiB): on Linux the kernel's high-water mark
    VmHWM, reset through /proc/self/clear_refs after the set-up (so the set-up's own peak does not hide the call's),
    minus VmRSS before; elsewhere the ru_maxrss rise, which the set-up's peak can hide (then 0)."""
    import ctypes
    import ctypes.util
    import gc

    run = CALLS[name](*args)
    gc.collect()
    try:
        ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        before = _status_kib("VmRSS")
        run()
        peak = _status_kib("VmHWM") - before
    except OSError:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        run()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(json.dumps({"peak_kib": peak}))


def peak_rss(name, *args):
    """The ru_maxrss rise (bytes) of one call of ``CALLS[name](*args)``'s step, in a fresh Python process."""
    out = subprocess.run([sys.executable, __file__, "--measure", name, json.dumps(args)], capture_output=True,
                         text=True, env={**os.environ, "BENCH_SCALE": str(os.environ.get("BENCH_SCALE", "1"))})
    if out.returncode:
        raise RuntimeError(f"measuring {name} failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_kib"] * 1024


def timed(name, *args, repeats=3):
    run = CALLS[name](*args)
    run()  # warm-up
    return best_of(run, repeats=repeats)[0]


def race(first, second, repeats=3):
    """Best times of two calls (``(name, *args)`` each), timed alternately so that both meet the same load on a
    shared machine."""
    runs = [CALLS[c[0]](*c[1:]) for c in (first, second)]
    best = [float("inf"), float("inf")]
    for run in runs:
        run()  # warm-up
    for _ in range(repeats):
        for i, run in enumerate(runs):
            best[i] = min(best[i], best_of(run, repeats=1)[0])
    return best


def mib(n):
    return f"{n / 2**20:.0f} MiB"


def main():
    import platform

    import psutil
    import torch

    print(f"  machine: {os.cpu_count()} cores ({torch.get_num_threads()} torch threads), "
          f"{psutil.virtual_memory().total / 2**30:.1f} GiB RAM, torch {torch.__version__}, {platform.machine()}; "
          "peak memory = resident high-water mark (VmHWM) above the level before the call, fresh subprocess each",
          flush=True)
    D = sized(RESNET18_D)
    assert sum(p.numel() for p in _resnet18().parameters()) == RESNET18_D

    # 1. Fastfood at D = resnet18's parameter count
    ff = timed("fastfood", D)
    ff_mem = peak_rss("fastfood", D)
    print(f"Fastfood P z forward + backward, D = {D:,}, d = {d}: {ff:.3f}s, peak memory {mib(ff_mem)} "
          f"(its state: signs, gains as float32 and the permutation as int64, {mib(D * 16)})", flush=True)
    # (a) the intrinsic-dimensionality package
    try:
        import intrinsic  # noqa: F401
    except ImportError:
        print("  intrinsic-dimensionality: skipped: `intrinsic` does not import here (the PyPI wheel "
              "intrinsic-dimensionality 0.1 ships no module, only its metadata, and pins torch 1.5.1; its code is "
              "github.com/jgamper/intrinsic-dimensionality)", flush=True)
    else:
        ours, theirs = timed("network", "lowdim"), timed("intrinsic", D)
        report(f"resnet18 step through a d = {d} subspace", ours, theirs, "intrinsic FastFoodWrap (per tensor)")
    # (b) a dense P
    fits_budget, fits_ram = BUDGET // (4 * d), psutil.virtual_memory().total // (4 * d)
    print(f"  dense P (D x {d} float32 = 4 kB per parameter) fits a 4 GiB budget up to D = {fits_budget:,} and this "
          f"machine's {psutil.virtual_memory().total / 2**30:.1f} GiB RAM up to D = {fits_ram:,}; resnet18's "
          f"D = {RESNET18_D:,} would need {RESNET18_D * 4 * d / 2**30:.1f} GiB", flush=True)
    small = sized(DENSE_D)
    ours, ref = race(("fastfood", small), ("dense", small))
    report(f"P z forward + backward at D = {small:,}, d = {d}", ours, ref, f"dense P ({mib(small * d * 4)})")
    ours_mem, ref_mem = peak_rss("fastfood", small), peak_rss("dense", small)
    print(f"  peak memory of the step (P itself not counted for dense: it is made before): Fastfood {mib(ours_mem)} "
          f"| dense {mib(ref_mem)}", flush=True)

    # 2. the projection's share of a training step
    low, plain = race(("network", "lowdim"), ("network", "plain"))
    print(f"resnet18 step (forward + backward + SGD, batch 8, 64 px): through LowDimensional(d = {d}) {low:.3f}s | "
          f"plain {plain:.3f}s | ratio {low / plain:.2f}x; the projection's share of the step "
          f"{(low - plain) / low:.0%}", flush=True)
    low_mem, plain_mem = peak_rss("network", "lowdim"), peak_rss("network", "plain")
    print(f"  peak memory of the step: LowDimensional {mib(low_mem)} | plain {mib(plain_mem)}", flush=True)

    # 3. LwF against plain fine-tuning
    lwf, tune = race(("lwf", "lwf"), ("lwf", "plain"))
    print(f"resnet18 step (batch 16, 64 px): LwF (parent forward + distillation_loss) {lwf:.3f}s | plain "
          f"fine-tuning {tune:.3f}s | ratio (LwF/plain) {lwf / tune:.2f}x", flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--measure":
        _measure_here(sys.argv[2], json.loads(sys.argv[3]))
    else:
        main()
