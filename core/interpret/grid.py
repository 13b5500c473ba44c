"""Maximally exciting image (MEI) grids: one row per unit, its top-k probe images left to right, best first, each
captioned with its stimulus id and activation, written as one PNG.

Tiles are the probe images resized to ``tile`` x ``tile`` pixels (bilinear, RGB) and placed without rescaling of
their values; the row label names the unit. The file is written atomically (a failed write leaves no file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..checks import check_count
from ..errors import ConfigError
from .units import UnitTopImages

__all__ = ["CAPTION", "LABEL", "mei_grid"]

CAPTION = 14  # pixels below each tile for "id  activation"
LABEL = 64  # pixels left of each row for "unit N"
GAP = 4


def mei_grid(top: UnitTopImages, stimuli: Any, path: str | Path, *, tile: int = 96, units: int | None = None,
             labels: list[str] | None = None) -> Path:
    """Write the MEI grid of ``top`` (from :func:`~.units.unit_top_images`) for the first ``units`` units (default:
    all) to ``path`` (.png) and return it. Rows are labelled ``unit N``, or by ``labels`` (one per row, e.g. the
    voxel an encoding model predicts; the label column then widens to 6 pixels a character). Tile ``(row r, column
    c)`` has its top-left pixel at ``(label + c * (tile + GAP), r * (tile + CAPTION + GAP))``, ``label`` being
    ``LABEL`` for unit labels. Raises :class:`~brainbench.errors.ConfigError` for a path that is not .png, a
    stimulus the set does not have, or labels not one per row."""
    from PIL import Image, ImageDraw

    from ..data.files import atomic_path

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ConfigError(f"{path}: an MEI grid is written as PNG; give a path ending in .png")
    tile = check_count(tile, "tile size", minimum=8)
    rows = len(top.units) if units is None else min(check_count(units, "units"), len(top.units))
    k = top.indices.shape[1]
    known = set(stimuli.ids)
    missing = [s for row in top.stimulus_ids[:rows] for s in row if s not in known]
    if missing:
        raise ConfigError(f"stimulus {missing[0]!r} of these top images is not in the stimulus set given; pass the "
                          "probe set the top images were computed on")
    names = [f"unit {int(u)}" for u in top.units[:rows]] if labels is None else [str(label) for label in labels]
    if len(names) != rows:
        raise ConfigError(f"{len(names)} labels for {rows} rows; give one label per row")
    label = LABEL if labels is None else max(LABEL, 8 + 6 * max(len(n) for n in names))
    canvas = Image.new("RGB", (label + k * (tile + GAP), rows * (tile + CAPTION + GAP)), "white")
    draw = ImageDraw.Draw(canvas)
    for r in range(rows):
        y = r * (tile + CAPTION + GAP)
        draw.text((4, y + tile // 2 - 6), names[r], fill="black")
        for c, (sid, value) in enumerate(zip(top.stimulus_ids[r], top.values[r], strict=True)):
            x = label + c * (tile + GAP)
            canvas.paste(stimuli.image(sid).convert("RGB").resize((tile, tile), Image.BILINEAR), (x, y))
            draw.text((x + 2, y + tile + 1), f"{sid}  {value:.3g}", fill="black")
    with atomic_path(path) as tmp:
        canvas.save(tmp, format="PNG")
    return path
