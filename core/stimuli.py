"""Stimulus sets: a table of stimuli (``stimulus_id`` + metadata) and a way to load each image."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import AssemblyError, DataFileError

if TYPE_CHECKING:
    import pandas as pd
    from PIL import Image

__all__ = ["IMAGE_SUFFIXES", "StimulusSet", "folder_images", "to_rgb_image"]

TEXT_COLUMNS = ("caption", "text")
TABLE_SUFFIXES = {".csv", ".tsv", ".txt"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def to_rgb_image(array_or_image: object) -> Image.Image:
    """A PIL RGB image from a PIL image or an array: (H, W), (H, W, C) or channel-first (C, H, W) with C in 1, 3, 4;
    uint8, or float in [0, 1] (scaled by 255) or [0, 255]. Gray and RGBA are converted; NaN is an error."""
    from PIL import Image

    if isinstance(array_or_image, Image.Image):
        img = array_or_image
    else:
        arr = np.asarray(array_or_image)
        if arr.ndim == 3 and arr.shape[-1] not in (1, 3, 4) and arr.shape[0] in (1, 3, 4):
            arr = np.moveaxis(arr, 0, -1)  # channel-first, as torch tensors are
        if arr.ndim == 3 and arr.shape[-1] == 1:
            arr = arr[..., 0]
        if arr.ndim not in (2, 3) or arr.ndim == 3 and arr.shape[-1] not in (3, 4):
            raise ValueError(f"an image array must be (H, W), (H, W, C) or (C, H, W) with C = 1, 3 or 4; got shape "
                             f"{arr.shape}")
        if arr.dtype != np.uint8:
            if arr.dtype.kind not in "biuf":
                raise ValueError(f"an image array must hold numbers; got dtype {arr.dtype}")
            if not np.isfinite(arr).all():
                raise ValueError(f"the image array holds {int((~np.isfinite(arr)).sum())} NaN or infinite values")
            arr = np.clip(np.round(arr * 255 if arr.max() <= 1.0 else arr), 0, 255).astype(np.uint8)
        img = Image.fromarray(arr)
    if img.mode == "RGBA":  # composite on white, as viewers show transparent stimuli
        background = Image.new("RGB", img.size, (255, 255, 255))
        background.paste(img, mask=img.getchannel("A"))
        return background
    return img.convert("RGB")


def folder_images(folder: str | Path) -> tuple[list[Path], list[str]]:
    """The images under ``folder`` (any depth, suffixes :data:`IMAGE_SUFFIXES`), sorted by path, and their ids:
    the path in the folder without suffix (``cat/001``), so class folders that reuse file names stay apart. Two
    files that would share an id (``a.png`` and ``a.jpg``) are an :class:`~brainbench.errors.AssemblyError`
    naming them."""
    folder = Path(folder)
    files = sorted(f for f in folder.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
    ids = [f.relative_to(folder).with_suffix("").as_posix() for f in files]
    _refuse_shared_ids(ids, files)
    return files, ids


def _refuse_shared_ids(ids: Sequence[str], paths: Sequence[Path]) -> None:
    """An error naming the files of every id given to more than one file."""
    from collections import Counter

    repeated = [i for i, count in Counter(ids).items() if count > 1]
    if repeated:
        clashes = "; ".join(f"{i!r} for {' and '.join(str(p) for p, j in zip(paths, ids) if j == i)}" for i in repeated[:5])
        raise AssemblyError(f"{len(repeated)} stimulus ids would name more than one image, e.g. {clashes}; each image "
                            "needs its own id: rename the files (file names without suffix are the ids)")


class StimulusSet:
    """Stimuli in a fixed order.

    ``table`` has a unique ``stimulus_id`` column and metadata columns; images come either from
    files (a ``filename`` column, relative to ``root``) or from ``loader(stimulus_id) -> array``.
    """

    def __init__(
        self,
        table: pd.DataFrame,
        *,
        identifier: str,
        root: str | Path | None = None,
        loader: Callable[[str], object] | None = None,
    ):
        import pandas as pd

        from .tables import id_strings

        if "stimulus_id" not in table.columns:
            raise AssemblyError(f"stimulus set {identifier!r} has no 'stimulus_id' column (columns: {list(table.columns)})")
        ids = pd.Series(id_strings(table["stimulus_id"].to_numpy(), f"stimulus ids of {identifier!r}"), index=table.index)
        if ids.duplicated().any():
            repeated = sorted(set(ids[ids.duplicated()]))
            rows = {s: (ids == s).to_numpy().nonzero()[0].tolist() for s in repeated[:5]}
            where = "; ".join(f"{s!r} in rows {r}" + (f" ({', '.join(map(str, table['filename'].iloc[r]))})"
                                                      if "filename" in table.columns else "") for s, r in rows.items())
            raise AssemblyError(f"stimulus set {identifier!r} repeats {len(repeated)} stimulus ids: {where}; each "
                                "stimulus needs its own id (rows count from 0)")
        if loader is None and not {"filename", *TEXT_COLUMNS} & set(table.columns):
            raise AssemblyError(f"stimulus set {identifier!r} needs a 'filename' column, an image loader, "
                                f"or (for text models) a {' or '.join(TEXT_COLUMNS)} column")
        self.table = table.assign(stimulus_id=ids).reset_index(drop=True)
        self.identifier, self.root, self._loader = identifier, Path(root) if root else None, loader
        self._row = {sid: i for i, sid in enumerate(self.table["stimulus_id"])}
        self._hash: str | None = None

    @classmethod
    def from_arrays(cls, arrays: Sequence[object], ids: Sequence[str] | None = None, *, identifier: str = "arrays") -> StimulusSet:
        import pandas as pd

        from .tables import id_strings

        ids = id_strings(ids if ids is not None else range(len(arrays)), "stimulus ids")
        lookup = dict(zip(ids, arrays, strict=True))
        return cls(pd.DataFrame({"stimulus_id": ids}), identifier=identifier, loader=lookup.__getitem__)

    @classmethod
    def from_texts(cls, texts: Sequence[str], ids: Sequence[str] | None = None, *, identifier: str = "texts") -> StimulusSet:
        """Captions or sentences, for text models."""
        import pandas as pd

        from .tables import id_strings

        ids = id_strings(ids if ids is not None else range(len(texts)), "stimulus ids")
        return cls(pd.DataFrame({"stimulus_id": ids, "caption": list(texts)}), identifier=identifier)

    @classmethod
    def from_files(cls, paths: Sequence[str | Path], *, ids: Sequence[str] | None = None,
                   identifier: str = "files") -> StimulusSet:
        """Image files; their ids are the file names without suffix unless ``ids`` are given (two files whose
        names differ only in suffix, ``a.png`` and ``a.jpg``, would share an id: an error naming them)."""
        import pandas as pd

        from .tables import id_strings

        paths = [Path(p).resolve() for p in paths]
        ids = [p.stem for p in paths] if ids is None else id_strings(ids, "stimulus ids")
        if len(ids) != len(paths):
            raise AssemblyError(f"{len(paths)} image files but {len(ids)} ids; give one id per file")
        _refuse_shared_ids(ids, paths)
        table = pd.DataFrame({"stimulus_id": ids, "filename": [str(p) for p in paths]})
        return cls(table, identifier=identifier)

    @classmethod
    def from_table(cls, path: str | Path) -> StimulusSet:
        """A ``.csv``/``.tsv`` table (columns ``stimulus_id``, optional, and ``caption``/``text`` or ``filename``
        relative to the table's folder) or a ``.txt`` file of one caption per line (ids 0, 1, ... over the
        non-blank lines). Every cell and caption is kept as written (:mod:`brainbench.tables`)."""
        from .tables import read_lines, read_table

        path = Path(path)
        if path.suffix.lower() == ".txt":
            return cls.from_texts(read_lines(path, "caption file"), identifier=path.name)
        table = read_table(path, "stimulus table", ids=["stimulus_id", "filename"])
        if "stimulus_id" not in table.columns:
            table.insert(0, "stimulus_id", [str(i) for i in range(len(table))])
        return cls(table, identifier=path.name, root=path.parent)

    def __len__(self) -> int:
        return len(self.table)

    @property
    def ids(self) -> list[str]:
        return self.table["stimulus_id"].tolist()

    def subset(self, ids: Sequence[str]) -> StimulusSet:
        """The stimuli with ``ids``, in that order."""
        missing = [s for s in ids if s not in self._row]
        if missing:
            raise AssemblyError(
                f"{len(missing)} stimulus ids are not in stimulus set {self.identifier!r}, e.g. {missing[:5]}; "
                "the assembly and the stimulus set must come from the same dataset"
            )
        table = self.table.iloc[[self._row[s] for s in ids]].reset_index(drop=True)
        return StimulusSet(table, identifier=self.identifier, root=self.root, loader=self._loader)

    def path(self, stimulus_id: str) -> Path:
        path = Path(self.table["filename"].iat[self._row[stimulus_id]])
        return path if path.is_absolute() or self.root is None else self.root / path

    def image(self, stimulus_id: str) -> Image.Image:
        """The stimulus as an RGB PIL image."""
        if self._loader is not None:
            try:
                return to_rgb_image(self._loader(stimulus_id))
            except ValueError as exc:
                raise AssemblyError(f"stimulus {stimulus_id!r} of {self.identifier!r}: {exc}") from None
        from PIL import Image, UnidentifiedImageError

        path = self.path(stimulus_id)
        try:
            with Image.open(path) as img:
                return to_rgb_image(img.copy())
        except FileNotFoundError:
            raise DataFileError(f"stimulus {stimulus_id!r}: image file {path} does not exist") from None
        except (UnidentifiedImageError, OSError) as exc:
            raise DataFileError(f"stimulus {stimulus_id!r}: {path} is not a readable image ({exc})") from None

    def text(self, stimulus_id: str) -> str:
        """The stimulus's caption (``caption`` or ``text`` column), for text models."""
        column = next((c for c in TEXT_COLUMNS if c in self.table.columns), None)
        if column is None:
            raise AssemblyError(f"stimulus set {self.identifier!r} has no caption or text column, so a text model "
                                f"cannot read it (columns: {list(self.table.columns)})")
        return str(self.table[column].iat[self._row[stimulus_id]])

    def content_hash(self) -> str:
        """sha256 over ids and image pixels: changes whenever any stimulus changes (computed once)."""
        if self._hash is not None:
            return self._hash
        h = hashlib.sha256()
        has_images = self._loader is not None or "filename" in self.table.columns
        texts = [c for c in TEXT_COLUMNS if c in self.table.columns]
        for sid in self.ids:
            h.update(sid.encode())
            if has_images:
                img = self.image(sid)
                h.update(f"{img.size}".encode())
                h.update(img.tobytes())
            for column in texts:
                h.update(f"\0{self.table[column].iat[self._row[sid]]}".encode())
        self._hash = h.hexdigest()
        return self._hash
