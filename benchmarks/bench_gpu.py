"""CUDA vs CPU on one machine: extraction throughput (resnet18 random weights, efficientnet_lite0 real weights) and
the eReg ridge kernel (500 training stimuli x 5920 features x 10,000 neuroids), one line per figure.

Part of ``make gpu-check``; without a CUDA device it prints one line and returns. Extraction runs brainbench's
own path (plan, hooks, copies to the host, no activation cache) on the same stimuli on each device, after a
warm-up batch; throughput is stimuli per second, best of two. The ridge figure is the eReg kernel
(:func:`~brainbench.encoding.regression.eigenbasis` then :func:`~brainbench.encoding.regression.ridge_path` over DeepJuice's
seven alphas, float64 and float32), timed to the chosen alphas back on the host, with whether CUDA chose the
CPU's alphas. ``BENCH_SCALE=0.2`` shrinks the sizes for a quick look.
"""

import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from timing import best_of, ereg_problem, sized  # noqa: E402

def line(title, cuda, cpu, unit):
    """One figure: ``unit`` is "stimuli/s" (higher is better) or "s" (lower is better); the ratio is CUDA's speed-up."""
    ratio = cuda / cpu if unit != "s" else cpu / cuda
    print(f"gpu-bench {title}: cuda {cuda:.3g} {unit} | cpu {cpu:.3g} {unit} | cuda speed-up {ratio:.1f}x", flush=True)


def bench_extraction(name, weights, n):
    import brainbench
    from brainbench.testing import tiny_stimulus_set

    stimuli = tiny_stimulus_set(n=n, size=224, seed=1)
    model = brainbench.get_model(name, weights=weights)
    layers = model.default_layers
    rates = {}
    for device in ("cuda", "cpu"):
        model.extract(tiny_stimulus_set(n=4, size=224), layers, device=device, cache=False, progress=False)  # warm-up
        seconds, _ = best_of(lambda: model.extract(stimuli, layers, device=device, cache=False, progress=False), repeats=2)
        rates[device] = n / seconds
    line(f"extraction {name} ({weights}), {n} stimuli x {len(layers)} layers", rates["cuda"], rates["cpu"], "stimuli/s")


def bench_ridge(dtype_name):
    import torch

    from brainbench.plugins.metrics.deepjuice import ALPHAS
    from brainbench.encoding.regression import eigenbasis, ridge_path

    dtype = getattr(torch, dtype_name)
    Ztr, Zte, Ytr = (torch.from_numpy(a).to(dtype) for a in ereg_problem())

    def kernel(device):
        def run():
            basis = eigenbasis(Ztr.to(device), Zte.to(device))
            best = ridge_path(*basis, Ytr.to(device), torch.tensor(ALPHAS, dtype=dtype, device=device), "pearson")[0]
            return best.cpu().numpy()  # waits for the device

        return run

    kernel("cuda")()  # warm-up: CUDA context, cuSOLVER handles
    times, chosen = {}, {}
    for device in ("cuda", "cpu"):
        times[device], chosen[device] = best_of(kernel(device), repeats=2)
    same = np.mean(chosen["cuda"] == chosen["cpu"])
    line(f"eReg ridge kernel {dtype_name}, {len(Ztr)} training stimuli x {Ztr.shape[1]} features x {Ytr.shape[1]} neuroids "
         f"(cuda chose the cpu's alphas for {same:.2%} of neuroids)", times["cuda"], times["cpu"], "s")


def main():
    import torch

    if not torch.cuda.is_available():
        print("gpu-bench: no CUDA device (torch.cuda.is_available() is False); skipped", flush=True)
        return
    start = time.perf_counter()
    print(f"gpu-bench on {torch.cuda.get_device_name(0)}, torch {torch.__version__}, {os.cpu_count()} CPU cores",
          flush=True)
    bench_extraction("resnet18", "random", sized(256))
    bench_extraction("efficientnet_lite0", "imagenet1k", sized(256))
    bench_ridge("float64")
    bench_ridge("float32")
    print(f"gpu-bench took {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
