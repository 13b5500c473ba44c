"""The data home: ``$BRAINBENCH_HOME``, else the platform's user cache dir."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["HOME_ENV", "OFFLINE_ENV", "data_home", "offline"]

HOME_ENV = "BRAINBENCH_HOME"
OFFLINE_ENV = "BRAINBENCH_OFFLINE"


def data_home() -> Path:
    """Where datasets, caches and the default results database live (created on demand)."""
    root = os.environ.get(HOME_ENV)
    if root:
        path = Path(root).expanduser()
    else:
        import platformdirs

        path = Path(platformdirs.user_cache_dir("brainbench"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def offline() -> bool:
    """True when downloads must not be attempted (``BRAINBENCH_OFFLINE=1``)."""
    return os.environ.get(OFFLINE_ENV, "").lower() in {"1", "true", "yes"}
