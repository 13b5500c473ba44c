"""``import brainbench`` and listing stay light: no torch, timm, open_clip or lpips."""

import subprocess
import sys

HEAVY = ("torch", "timm", "open_clip", "lpips", "torchvision")


def run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def test_import_brainbench_does_not_import_heavy_libraries():
    out = run(f"import sys, brainbench; print([m for m in {HEAVY!r} if m in sys.modules])")
    assert out.strip() == "[]"


def test_listing_models_and_benchmarks_does_not_import_heavy_libraries():
    code = (
        "import sys, brainbench; "
        "models = brainbench.list_models(); benches = brainbench.list_benchmarks(); "
        f"print(len(models) > 0, len(benches) > 0, [m for m in {HEAVY!r} if m in sys.modules])"
    )
    assert run(code).strip() == "True True []"
