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


BOARD = ("brain", "efficientnet_lite0", "efficientnet_lite0[random]")  # the leaderboard, and the scatter's two models


def main(models: tuple[list[str], ...] = MODELS, board: tuple[str, str, str] | None = BOARD,
         out: Path = REPO / "demo-output") -> int:
    """Run the demo; ``models`` are the ``brainbench score`` arguments naming each model; ``board`` the leaderboard
    regenerated at the end and the two models of its scatter plot (None: no board), written to ``out``."""
    shared = REPO.parent / "shared" / "data"
    if not os.environ.get("BRAINBENCH_MIRROR") and shared.is_dir():
        os.environ["BRAINBENCH_MIRROR"] = str(shared)
        print(f"demo: BRAINBENCH_MIRROR is unset; using {shared} as the data mirror", flush=True)
    sources = {"cowley2023": "the Cowley 2023 V4 recordings", "kriegeskorte2008": "the Kriegeskorte 2008 IT RDMs"}
    unreachable = [name for name in sources if (board or name == "cowley2023") and
                   brainbench("data", "fetch", name, "--quiet", check=False, quiet=True).returncode != 0]
    real = "cowley2023" not in unreachable
    if unreachable:
        print(f"demo: {' and '.join(sources[n] for n in unreachable)} cannot be reached (neither the publisher nor "
              f"BRAINBENCH_MIRROR), so {'only the simulation is scored' if not real else 'the rest is scored'}"
              f"{' and the board shows those cells as failed with the reason' if board else ''}; `brainbench data "
              f"fetch {' '.join(unreachable)}` says why and how to provide them", flush=True)
    for model in models:
        brainbench("score", *model, "--benchmark", *([REAL, "--benchmark"] if real else []), SIMULATED, "--quiet")
    if real:
        brainbench("leaderboard", "cowley2023")
    brainbench("leaderboard", "synthetic")
    if board:
        show_board(*board, out=out, depth_benchmark=REAL if real else SIMULATED)
    return 0


def show_board(name: str, model_a: str, model_b: str, *, out: Path, depth_benchmark: str) -> None:
    """Regenerate leaderboard ``name``, then write its html and markdown reports and its board, scatter (``model_a``
    against ``model_b``) and depth plots into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    brainbench("leaderboard", "regenerate", name, "--quiet")
    brainbench("leaderboard", "show", name, "--format", "html", "-o", str(out / f"{name}.html"))
    brainbench("leaderboard", "show", name, "--format", "markdown", "-o", str(out / f"{name}.md"))
    brainbench("plot", "board", name, "-o", str(out / f"{name}-board.png"))
    brainbench("plot", "scatter", name, model_a, model_b, "-o", str(out / f"{name}-scatter.png"))
    brainbench("plot", "depth", "-m", f"{model_a.split('[')[0]}*", "-b", depth_benchmark, "-o",
               str(out / f"{name}-depth.png"))
    print(f"\ndemo: open {out / f'{name}.html'} in a browser", flush=True)


if __name__ == "__main__":
    sys.exit(main())
