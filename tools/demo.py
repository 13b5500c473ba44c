"""``make demo``: two real models scored on real macaque V4 recordings and on the built-in simulation, then the
built-in leaderboard ``brain`` regenerated over real and simulated benchmarks, with its html report and plots.

efficientnet_lite0 (ImageNet-trained) and a randomly initialised resnet18 are scored on
``cowley2023.V4`` (Cowley et al. 2023: 50 V4 units x 640 natural images), whose files come from the
publisher or from ``BRAINBENCH_MIRROR``, then on ``synthetic.*`` (simulated neuroids, no download).
The real-data leaderboard is shown first. Where the V4 files cannot be reached, one line says so and
the simulation still runs. Last, ``brainbench leaderboard regenerate brain`` computes the board's missing cells
(efficientnet_lite0 and its random-weight twin on ``cowley2023.V4``, ``kriegeskorte2008.IT`` and ``synthetic.*``;
cells already scored above are reused), and the demo writes ``demo-output/brain.html`` (the report to open in a
browser) and three plots beside it. Cells whose data cannot be reached are shown failed, with the reason. When ``BRAINBENCH_MIRROR`` is unset and a ``shared/data`` folder lies
beside the checkout (this project's workspace), that folder is the mirror.

Every step is the ``brainbench`` command a user would type, so the output is what they will see.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODELS = (["--model", "efficientnet_lite0"], ["--model", "resnet18", "--weights", "random"])
REAL, SIMULATED = "cowley2023.V4", "synthetic.*"


def brainbench(*args: str, check: bool = True, quiet: bool = False) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("brainbench")
    command = [str(exe) if exe.exists() else "brainbench", *args]
    if not quiet:
        print(f"\n$ brainbench {' '.join(args)}", flush=True)
    done = subprocess.run(command, text=True, capture_output=quiet)
    if check and done.returncode != 0:
        sys.exit(done.returncode)
    return done


def main(models: tuple[list[str], ...] = MODELS) -> int:
    """Run the demo; ``models`` are the ``brainbench score`` arguments naming each model."""
    shared = REPO.parent / "shared" / "data"
    if not os.environ.get("BRAINBENCH_MIRROR") and shared.is_dir():
        os.environ["BRAINBENCH_MIRROR"] = str(shared)
        print(f"demo: BRAINBENCH_MIRROR is unset; using {shared} as the data mirror", flush=True)
    fetched = brainbench("data", "fetch", "cowley2023", "--quiet", check=False, quiet=True)
    real = fetched.returncode == 0
    if not real:
        print("demo: the Cowley 2023 V4 recordings cannot be reached (neither the publisher nor BRAINBENCH_MIRROR), so "
              "only the simulation is scored; `brainbench data fetch cowley2023` says why and how to provide them",
              flush=True)
    for model in models:
        brainbench("score", *model, "--benchmark", *([REAL, "--benchmark"] if real else []), SIMULATED, "--quiet")
    if real:
        brainbench("leaderboard", "cowley2023")
    brainbench("leaderboard", "synthetic")
    if brainbench("data", "fetch", "kriegeskorte2008", "--quiet", check=False, quiet=True).returncode != 0:
        print("demo: the Kriegeskorte 2008 RDMs cannot be reached (neither rsatoolbox's repository nor "
              "BRAINBENCH_MIRROR), so the board's IT cells will show as failed with the reason", flush=True)
    out = REPO / "demo-output"
    out.mkdir(exist_ok=True)
    brainbench("leaderboard", "regenerate", "brain", "--quiet")
    brainbench("leaderboard", "show", "brain", "--format", "html", "-o", str(out / "brain.html"))
    brainbench("leaderboard", "show", "brain", "--format", "markdown", "-o", str(out / "brain.md"))
    brainbench("plot", "board", "brain", "-o", str(out / "brain-board.png"))
    brainbench("plot", "scatter", "brain", "efficientnet_lite0", "efficientnet_lite0[random]", "-o",
               str(out / "brain-scatter.png"))
    brainbench("plot", "depth", "-m", "efficientnet_lite0*", "-b", REAL if real else "synthetic.*", "-o",
               str(out / "depth.png"))
    print(f"\ndemo: open {out / 'brain.html'} in a browser", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
