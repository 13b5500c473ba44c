"""Where the checkout and the real data beside it are."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"
SHARED_DATA = REPO.parent / "shared" / "data"  # the real brain data, where ../shared/data sits beside the checkout
