"""Stimulus sets: a table of stimuli (``stimulus_id`` + metadata) and a way to load each image."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import AssemblyError, DataFileError, ImageError

if TYPE_CHECKING:
    import pandas as pd
    from PIL import Image

__all__ = ["BACKGROUND", "IMAGE_SUFFIXES", "StimulusSet", "folder_images", "to_rgb_image"]

TEXT_COLUMNS = ("caption", "text")
TABLE_SUFFIXES = {".csv", ".tsv", ".txt"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


BACKGROUND = (255, 255, 255)  # white: transparency is composited on it, as image viewers show transparent stimuli
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")
_PILLOW_COLOUR = ("RGB", "RGBX", "L", "1", "CMYK", "YCbCr", "HSV", "LAB")  # no alpha: Pillow's own conversion
_KEYED = ("1", "L", "RGB", "I", *SIXTEEN_BIT_MODES)  # modes whose PNG tRNS names one transparent gray or colour
_WITH_ALPHA = {"LA": False, "RGBA": False, "La": True, "RGBa": True}  # mode -> premultiplied
_MODES = (*_PILLOW_COLOUR, "P", "PA", *_WITH_ALPHA, *SIXTEEN_BIT_MODES, "I", "F")
_INT32_AS_16_BIT = ("PNG", "PPM")  # formats whose decoders give mode I only for 16-bit samples (0..65535)


def to_rgb_image(image: object, *, source: str = "the image") -> Image.Image:
    """The 8-bit RGB PIL image a model sees, from a PIL image of any mode or an array: the one conversion every
    stimulus goes through (``StimulusSet`` files, loaders and arrays, NSD's PNG writing), returned as a new
    ``(W, H)`` image.

    Bit depth is rescaled by the range of the mode or dtype, rounded to nearest (halves up): 8-bit as is, 16-bit
    ``round(v * 255 / 65535)``, 1-bit and bool 0 -> 0 and 1 -> 255, floats ``round(v * 255)`` for v in [0, 1].
    Transparency of every kind (an alpha band in ``LA``, ``RGBA``, ``PA``; premultiplied ``La``, ``RGBa``; a
    palette with alpha; a PNG/GIF ``transparency`` index, palette alpha (tRNS) or colour in ``1``, ``L``, ``P``,
    ``RGB``, ``I;16*``) is composited on white: ``round(c * a + 255 * (1 - a))`` with ``a`` in [0, 1]
    (premultiplied: ``c_pm + 255 * (1 - a)``). ``CMYK``, ``YCbCr``, ``HSV``, ``LAB`` and ``RGBX`` convert by
    Pillow's formulas (``LAB`` through littlecms; no ICC profile is applied to any mode).

    - ``I`` (32-bit integers) has no white of its own: it is read as 16-bit (0..65535) when the file's format
      decodes only 16-bit samples to it (PNG in older Pillow versions, PGM/PPM, whose maxval Pillow scales to 65535;
      Pillow 13 gives ``I;16`` for a 16-bit PNG) or is a TIFF with 16-bit unsigned samples, and is refused
      otherwise (32-bit or signed TIFFs, images built in memory).
    - ``F`` and float arrays must lie in [0, 1] (1 = white); any other range is refused rather than guessed per
      image (a guess would make a dark 0-255 image 255x brighter than its neighbours).
    - Arrays: ``(H, W)``, ``(H, W, C)`` or channel-first ``(C, H, W)`` with C = 1 (gray), 2 (gray, alpha),
      3 (RGB) or 4 (RGBA, straight alpha); dtype bool, uint8, uint16 or float in [0, 1]. Other integer dtypes
      (signed, uint32, uint64) have no defined white and are refused; so are NaN and infinite values.

    Raises :class:`~brainbench.errors.ImageError` naming ``source`` (e.g. ``"stimulus 'cat' of 'photos'"``), the
    mode or dtype, what was wrong and what to do.

    Sources: compositing is Porter & Duff's "over" (1984) on an opaque background; tRNS, 16-bit samples and
    sample-depth scaling v * (2^8 - 1) / (2^16 - 1) follow the PNG specification (W3C, 2003: tRNS chunk, sample
    depth scaling); CMYK -> RGB is Pillow's ``(255 - C)(255 - K) / 255``, YCbCr -> RGB its JFIF (BT.601) matrix.
    """
    from PIL import Image

    if isinstance(image, Image.Image):
        if image.mode in _PILLOW_COLOUR and not (image.mode in _KEYED and "transparency" in image.info):
            return _pillow_convert(image, "RGB", source)
        if image.mode == "P" and "transparency" not in image.info and getattr(image.palette, "mode", "") != "RGBA":
            return _pillow_convert(image, "RGB", source)
        colour, alpha, premultiplied = _image_planes(image, source)
    else:
        colour, alpha, premultiplied = _array_planes(image, source)
    return Image.fromarray(_on_background(colour, alpha, premultiplied), "RGB")


def _refuse(source: str, message: str) -> ImageError:
    return ImageError(f"{source}: {message}")


def _pillow_convert(image: Image.Image, mode: str, source: str) -> Image.Image:
    try:
        return image.convert(mode)
    except ValueError as exc:  # e.g. LAB where Pillow was built without littlecms
        raise _refuse(source, f"Pillow cannot convert mode {image.mode} to {mode} ({exc}); save the image as RGB "
                              "(e.g. PNG or JPEG)") from None


def _image_planes(image: Image.Image, source: str) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """(colour (H, W) or (H, W, 3), alpha (H, W) or None, premultiplied) of a PIL image, each uint8 or float in
    [0, 1]."""
    mode = image.mode
    if mode in ("P", "PA"):  # a transparency index, palette alpha (tRNS) or an RGBA palette, or the PA band
        rgba = np.asarray(_pillow_convert(image, "RGBA", source))
        return rgba[..., :3], rgba[..., 3], False
    if mode in _WITH_ALPHA:
        pixels = np.asarray(image)
        return pixels[..., :-1], pixels[..., -1], _WITH_ALPHA[mode]
    if mode == "I":
        pixels = np.asarray(image)
        if not _int32_is_16_bit(image):
            raise _refuse(source, f"mode I (32-bit integers, values {pixels.min()}..{pixels.max()}, from "
                                  f"{image.format or 'memory'}) has no defined white; save it as an 8-bit (L) or "
                                  "16-bit (I;16) PNG, or pass a uint8 or uint16 array or floats in [0, 1]")
        if pixels.min() < 0 or pixels.max() > 65535:
            raise _refuse(source, f"mode I from a 16-bit {image.format} file holds values {pixels.min()}.."
                                  f"{pixels.max()} outside 0..65535; the file is corrupt, export it again")
        colour = pixels / 65535
    elif mode in SIXTEEN_BIT_MODES:
        pixels = np.asarray(image)
        colour = pixels / 65535
    elif mode == "F":
        pixels = np.asarray(image)
        colour = _unit_floats(pixels, source, "mode F image")
    elif mode in _KEYED:  # 1, L or RGB with a transparent gray level or colour
        pixels = np.asarray(image)
        colour = pixels.astype(np.uint8) * 255 if pixels.dtype == bool else pixels
    else:
        raise _refuse(source, f"mode {mode} is not an image mode brainbench reads (it reads {', '.join(_MODES)}); "
                              "save the image as RGB (e.g. PNG or JPEG)")
    alpha = None
    transparent = image.info.get("transparency")
    if mode in _KEYED and isinstance(transparent, (int, tuple)):  # tRNS: pixels of this gray level or colour
        opaque = pixels != np.asarray(transparent, dtype=pixels.dtype)
        alpha = (opaque.any(axis=-1) if pixels.ndim == 3 else opaque).astype(np.uint8) * 255
    return colour, alpha, False


def _int32_is_16_bit(image: Image.Image) -> bool:
    """Whether a mode-I image holds 16-bit samples: its file format decodes only those to I, or it is a TIFF
    with 16-bit unsigned samples (BitsPerSample 258, SampleFormat 339)."""
    if image.format in _INT32_AS_16_BIT:
        return True
    tags = getattr(image, "tag_v2", None)
    if image.format != "TIFF" or tags is None:
        return False
    bits, sample_format = tags.get(258), tags.get(339, 1)
    bits = bits[0] if isinstance(bits, tuple) else bits
    sample_format = sample_format[0] if isinstance(sample_format, tuple) else sample_format
    return bits == 16 and sample_format == 1


def _array_planes(array: object, source: str) -> tuple[np.ndarray, np.ndarray | None, bool]:
    try:
        arr = np.asarray(array)
    except (TypeError, ValueError, RuntimeError) as exc:  # a CUDA or grad-tracking tensor, bfloat16
        raise _refuse(source, f"cannot be read as an array ({exc}); pass a numpy array, a PIL image or a CPU "
                              "tensor (tensor.detach().cpu().float())") from None
    shape = arr.shape
    if arr.ndim == 3 and arr.shape[-1] not in (1, 2, 3, 4) and arr.shape[0] in (1, 2, 3, 4):
        arr = np.moveaxis(arr, 0, -1)  # channel-first, as torch tensors are
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[-1] not in (1, 2, 3, 4) or 0 in arr.shape:
        raise _refuse(source, "an image array must be (H, W), (H, W, C) or channel-first (C, H, W) with C = 1 "
                              f"(gray), 2 (gray, alpha), 3 (RGB) or 4 (RGBA); got shape {shape}")
    if arr.dtype == bool:
        pixels = arr.astype(np.uint8) * 255
    elif arr.dtype == np.uint8:
        pixels = arr
    elif arr.dtype == np.uint16:
        pixels = arr / 65535
    elif arr.dtype.kind in "iu":
        raise _refuse(source, f"the image array is {arr.dtype} (values {arr.min()}..{arr.max()}), which has no "
                              "defined white; pass uint8 (0..255) or uint16 (0..65535) - e.g. "
                              "array.astype(np.uint8) if its values are 0..255 - or floats in [0, 1]")
    elif arr.dtype.kind == "f":
        pixels = _unit_floats(arr, source, f"{arr.dtype} image array")
    else:
        raise _refuse(source, f"an image array must hold numbers; got dtype {arr.dtype}")
    channels = arr.shape[-1]
    if channels in (2, 4):
        return pixels[..., :-1], pixels[..., -1], False
    return pixels, None, False


def _unit_floats(pixels: np.ndarray, source: str, what: str) -> np.ndarray:
    """Float pixels as float64, checked to be finite and in [0, 1]."""
    finite = np.isfinite(pixels)
    if not finite.all():
        raise _refuse(source, f"the {what} holds {int((~finite).sum())} NaN or infinite values; replace them with "
                              "values in [0, 1]")
    lo, hi = float(pixels.min()), float(pixels.max())
    if lo < 0 or hi > 1:
        def shown(v: float) -> str:  # 1.0000001 is not "1": show the digits that put it outside [0, 1]
            short = f"{v:g}"
            return short if float(short) == v else str(pixels.dtype.type(v))
        raise _refuse(source, f"a {what} must hold values in [0, 1] (1 = white); this one holds {shown(lo)}..{shown(hi)}. "
                              "Divide a 0..255 image by 255 (or pass it as uint8), or rescale other ranges to "
                              "[0, 1] the same way for every stimulus (np.clip(image, 0, 1) for values just outside "
                              "it from rounding)")
    return pixels.astype(np.float64)


def _on_background(colour: np.ndarray, alpha: np.ndarray | None, premultiplied: bool) -> np.ndarray:
    """(H, W, 3) uint8: ``colour`` ((H, W) or (H, W, 3); uint8, or float in [0, 1]) over :data:`BACKGROUND`
    through ``alpha`` ((H, W), same kinds; ``premultiplied``: colour already times alpha), rounded to nearest,
    halves up."""
    if colour.ndim == 2:
        colour = colour[..., None]
    if alpha is None and colour.dtype == np.uint8:
        out = colour
    else:
        c = colour / 255 if colour.dtype == np.uint8 else colour
        if alpha is not None:
            a = (alpha / 255 if alpha.dtype == np.uint8 else alpha)[..., None]
            behind = (1 - a) * (np.asarray(BACKGROUND) / 255)
            c = c + behind if premultiplied else c * a + behind
        out = np.floor(np.clip(c, 0, 1) * 255 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(np.broadcast_to(out, (*out.shape[:2], 3)))


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
        """Images held in memory: arrays (or tensors, or PIL images), read by :func:`to_rgb_image` when used;
        ids ``"0"``, ``"1"``, ... unless given, or the keys of a mapping ``{id: array}``."""
        from collections.abc import Mapping

        import pandas as pd

        from .tables import id_strings

        if isinstance(arrays, Mapping):
            if ids is not None:
                raise AssemblyError("give the images as a mapping {id: array} or as arrays with ids=, not both")
            ids, arrays = list(arrays.keys()), list(arrays.values())
        ids = id_strings(ids if ids is not None else range(len(arrays)), "stimulus ids")
        if len(ids) != len(arrays):
            raise AssemblyError(f"{len(arrays)} image arrays but {len(ids)} ids; give one id per array")
        lookup = dict(zip(ids, arrays, strict=True))
        return cls(pd.DataFrame({"stimulus_id": ids}), identifier=identifier, loader=lookup.__getitem__)

    @classmethod
    def from_texts(cls, texts: Sequence[str], ids: Sequence[str] | None = None, *, identifier: str = "texts") -> StimulusSet:
        """Captions or sentences, for text models."""
        import pandas as pd

        from .tables import id_strings

        if isinstance(texts, str):
            raise AssemblyError("texts must be a list of captions, not one string; pass [text] for a single caption")
        ids = id_strings(ids if ids is not None else range(len(texts)), "stimulus ids")
        if len(ids) != len(texts):
            raise AssemblyError(f"{len(texts)} texts but {len(ids)} ids; give one id per text")
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
        non-blank lines). Every cell and caption is kept as written (:mod:`brainbench.data.tables`)."""
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
        """The stimulus as the 8-bit RGB PIL image a model sees, through :func:`to_rgb_image` (from its file, or
        from what the loader returns: a PIL image or an array). Raises :class:`~brainbench.errors.ImageError` for
        an image with no one right RGB reading and :class:`~brainbench.errors.DataFileError` for a missing or
        unreadable file, both naming the stimulus."""
        source = f"stimulus {stimulus_id!r} of {self.identifier!r}"
        if self._loader is not None:
            return to_rgb_image(self._loader(stimulus_id), source=source)
        from PIL import Image, UnidentifiedImageError

        path = self.path(stimulus_id)
        try:
            with Image.open(path) as img:  # converted while open: the format decides how mode I is read
                return to_rgb_image(img, source=f"{source} ({path})")
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
        """sha256 over ids and image pixels (the RGB images :meth:`image` gives, so a changed conversion changes
        it too): changes whenever any stimulus changes (computed once)."""
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
