"""``make gpu-check``: the CUDA checks (``tests/test_cuda.py``, one line each: PASSED / FAILED / SKIPPED), then the
GPU benchmark (``benchmarks/bench_gpu.py``, one line per figure: CUDA vs CPU and the speed-up).

On a machine without a CUDA device it prints one line saying so and exits 0: there is nothing to check, and
``make test`` (which skips the same tests) is the check for such a machine. With a GPU the exit status is the
tests' (1 if any check failed), or the benchmark's if the tests passed. About 3-5 minutes on one GPU; the
checks and the benchmark are each stopped after 220 s (``GPU_CHECK_TIMEOUT``), so the whole run
stays under 8.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = float(os.environ.get("GPU_CHECK_TIMEOUT", "220"))


def run(title: str, command: list[str]) -> int:
    print(f"== gpu-check: {title}", flush=True)
    try:
        return subprocess.run(command, cwd=ROOT, timeout=TIMEOUT).returncode
    except subprocess.TimeoutExpired:
        print(f"gpu-check: {title} stopped after {TIMEOUT:.0f} s (GPU_CHECK_TIMEOUT): FAILED", flush=True)
        return 124


def main() -> int:
    import torch

    if not torch.cuda.is_available():
        print("gpu-check: no CUDA device on this machine (torch.cuda.is_available() is False); nothing to check, "
              "exit 0 (make test skips the same checks)")
        return 0
    print(f"gpu-check on {torch.cuda.get_device_name(0)} ({torch.cuda.device_count()} GPU), torch {torch.__version__}",
          flush=True)
    tests = run("CUDA paths against the CPU (pytest -m cuda)",
                [sys.executable, "-m", "pytest", "-m", "cuda", "tests/test_cuda.py", "-v", "--no-header",
                 "--tb=short"])
    bench = run("CUDA vs CPU benchmark", [sys.executable, "benchmarks/bench_gpu.py"])
    print(f"gpu-check: checks {'passed' if tests == 0 else 'FAILED'}, benchmark "
          f"{'ran' if bench == 0 else 'FAILED'}", flush=True)
    return tests or bench


if __name__ == "__main__":
    sys.exit(main())
