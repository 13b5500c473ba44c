"""Import torchvision where its compiled ops cannot load.

PyPI's torchvision wheels for Linux are built against CUDA torch; next to a CPU-only torch
their C extension fails to load, and torchvision >= 0.2x then fails at import because it
registers fake kernels for ``torchvision::nms`` unconditionally. When (and only when) the
extension is missing, declare the two op schemas it needs so that the pure-Python parts
(models, transforms) import; the detection ops still raise torchvision's own error if called.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["import_torchvision"]

_MISSING_OPS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_library = None  # keeps the op definitions alive


def _extension_loads() -> bool:
    """Whether torchvision's compiled ops load against this torch (checked without importing torchvision)."""
    import torch

    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return True  # not installed: let the import raise its own error
    package = Path(next(iter(spec.submodule_search_locations)))
    candidates = sorted(package.glob("_C*.so")) + sorted(package.glob("_C*.pyd"))
    if not candidates:
        return False
    try:
        torch.ops.load_library(str(candidates[0]))
    except (OSError, RuntimeError):
        return False
    return True


def import_torchvision() -> ModuleType:
    """``import torchvision``, working around a CPU torch paired with a CUDA torchvision build."""
    global _library
    if "torchvision" not in sys.modules and _library is None and not _extension_loads():
        import torch

        _library = torch.library.Library("torchvision", "FRAGMENT")
        for schema in _MISSING_OPS.values():
            _library.define(schema)
    return importlib.import_module("torchvision")
