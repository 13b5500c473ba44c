"""A user's tables and text files, read as written: identifiers are strings, never numbers.

Every table brainbench reads from a user or a publisher (responses, stimulus sets, brainio CSVs, captions,
imported datasets' and dataset plugins' tables) goes through :func:`read_table`:

- every cell is the text written in the file: no type inference and no guessed missing values, so ids such as
  ``000``, ``NA``, ``nan``, ``1e3``, ``TRUE`` or `` x `` stay themselves. Surrounding whitespace is kept, as
  in a file name (a table written ``a, b`` has a column `` b``); quotes are CSV quotes and are removed;
- header names are kept the same way; a repeated column name is an error (pandas would rename the second
  ``n0`` to ``n0.1``); a column without a name is called ``Unnamed: <i>`` (0-based), as pandas calls it;
- columns that hold numbers are converted only where the reader declares them (``types``), each value checked:
  ``float`` (an empty cell, ``NA``, ``N/A``, ``NaN``, ``nan``, ``null`` or ``None`` is NaN), ``int`` (whole
  numbers, no missing values), ``bool`` (``true``/``false``/``1``/``0``, any case); a value that is not one is
  an error naming the file, the column, the row and the value;
- ``.tsv`` files are tab-separated, others comma-separated; text is UTF-8 (a byte-order mark is dropped).

Identifiers that arrive as numbers anyway (the coords of a netCDF assembly written from numbers) become
strings through :func:`id_strings`: integers as written in decimal, whole floats as integers (``7.0`` is
``"7"``), bytes decoded as UTF-8; a missing (NaN) id is an error.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from ..errors import AssemblyError, DataFileError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MISSING", "id_strings", "read_lines", "read_table"]

ColumnType = Literal["text", "float", "int", "bool"]
MISSING = frozenset({"", "NA", "N/A", "n/a", "NaN", "nan", "-nan", "null", "NULL", "None", "<NA>", "#N/A"})
_TRUE, _FALSE = frozenset({"true", "1", "1.0"}), frozenset({"false", "0", "0.0"})
_SHOWN = 5


def read_table(path: str | Path, what: str, *, types: Mapping[str, ColumnType] | None = None,
               others: ColumnType = "text", required: Iterable[str] = (), ids: Iterable[str] = ()) -> pd.DataFrame:
    """The table at ``path`` (``what`` names it in errors, e.g. ``"response table"``) with every cell as written.

    ``types`` converts the named columns (absent ones are skipped); ``others`` is the type of every other column
    (``"float"`` for a response matrix). ``required`` columns must exist; ``ids`` columns must have no empty cell.
    Raises :class:`~brainbench.errors.DataFileError` for an unreadable file, a repeated column name, a missing
    required column, an empty id or a value that is not of its column's type (each message names the file).
    """
    import pandas as pd

    path = Path(path)
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        header = _header(path, sep, what)
        kinds = [(types or {}).get(name, others) for name in header]
        floats = [i for i, kind in enumerate(kinds) if kind == "float"]
        try:  # numbers parsed by pandas' C parser: as fast as its own inference
            table, parsed = _read(path, sep, header, floats), set(floats)
        except ValueError as exc:
            if isinstance(exc, (pd.errors.ParserError, UnicodeDecodeError)) or not floats:
                raise
            table, parsed = _read(path, sep, header, []), set()  # a cell that is not a number: named below
    except pd.errors.EmptyDataError:
        raise DataFileError(f"the {what} {path} is empty; it needs a header row naming its columns") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataFileError(f"cannot read the {what} {path}: {exc}") from None
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise DataFileError(f"the {what} {path} has no {_names(missing)} column{'s' * (len(missing) > 1)} "
                            f"(columns: {_columns(header)}){_spaced_hint(missing, header)}")
    for column in ids:
        if column in table.columns:
            empty = np.flatnonzero(table[column].to_numpy() == "")
            if len(empty):
                raise DataFileError(f"the {what} {path} has {len(empty)} empty {column!r} cells (rows "
                                    f"{(empty[:_SHOWN] + 1).tolist()}, counting data rows from 1); every row needs one")
    for i, (column, kind) in enumerate(zip(header, kinds, strict=True)):
        if kind != "text" and i not in parsed:
            table[column] = _convert(table[column], kind, f"the {what} {path}", column)
    return table


def _header(path: Path, sep: str, what: str) -> list[str]:
    """The header row as written (``Unnamed: <i>`` for an empty name); a repeated name is a DataFileError."""
    import pandas as pd

    first = pd.read_csv(path, sep=sep, header=None, nrows=1, dtype=str, keep_default_na=False, na_filter=False,
                        encoding="utf-8-sig", skip_blank_lines=True)
    header = [name if name != "" else f"Unnamed: {i}" for i, name in enumerate(first.iloc[0].tolist())]
    repeated = sorted(name for name, count in Counter(header).items() if count > 1)
    if repeated:
        raise DataFileError(f"the {what} {path} names {len(repeated)} columns more than once: {repeated[:_SHOWN]}; "
                            "each column needs its own name (a neuroid's, a metadata field's)")
    return header


def _read(path: Path, sep: str, header: list[str], floats: list[int]) -> pd.DataFrame:
    """The rows below the header: columns ``floats`` as float64 (the :data:`MISSING` spellings are NaN), every other
    column as the text written."""
    import pandas as pd

    positions, numbers = list(range(len(header))), set(floats)
    table = pd.read_csv(path, sep=sep, header=0, names=positions, encoding="utf-8-sig", skip_blank_lines=True,
                        dtype={i: np.float64 if i in numbers else str for i in positions}, keep_default_na=False,
                        na_values={i: sorted(MISSING) for i in floats} or None)
    table.columns = header
    return table


def read_lines(path: str | Path, what: str) -> list[str]:
    """The non-blank lines of a UTF-8 text file (``what`` names it in errors), each exactly as written but for the
    line ending; a line of only whitespace is blank."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError(f"cannot read the {what} {path}: {exc}") from None
    return [line for line in text.splitlines() if line.strip()]


def id_strings(values: Iterable[object], what: str = "ids") -> list[str]:
    """Identifiers as strings: text as it is, bytes decoded (UTF-8), integers in decimal, whole floats as integers
    (``7.0`` -> ``"7"``) and other floats as Python prints them; a NaN (a missing id) is an
    :class:`~brainbench.errors.AssemblyError` naming ``what``."""
    array = np.asarray(values) if hasattr(values, "dtype") else np.asarray(list(values), dtype=object)
    if array.dtype.kind in "US":
        return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in array.ravel().tolist()]
    out, missing = [], 0
    for v in array.ravel().tolist():
        if isinstance(v, bytes):
            v = v.decode("utf-8")
        elif isinstance(v, (float, np.floating)):
            v = float(v)
            if v != v:
                missing += 1
            v = str(int(v)) if v.is_integer() else repr(v)
        out.append(v if isinstance(v, str) else str(v))
    if missing:
        raise AssemblyError(f"{missing} {what} are missing (NaN); every one must name something")
    return out


def _convert(column: pd.Series, kind: ColumnType, where: str, name: str) -> pd.Series:
    import pandas as pd

    text = column.to_numpy(dtype=object)
    if kind == "bool":
        lowered = np.char.lower(np.char.strip(text.astype(str)))
        bad = ~np.isin(lowered, list(_TRUE | _FALSE))
        _refuse(where, name, text, bad, "true/false")
        return pd.Series(np.isin(lowered, list(_TRUE)), index=column.index, name=name)
    stripped = np.char.strip(text.astype(str))
    missing = np.isin(stripped, list(MISSING))
    numbers = pd.to_numeric(pd.Series(np.where(missing, "nan", stripped)), errors="coerce").to_numpy(dtype=float)
    bad = np.isnan(numbers) & ~missing & (np.char.lower(stripped) != "nan")
    _refuse(where, name, text, bad, "numbers")
    if kind == "int":
        whole = np.isfinite(numbers) & (numbers == np.round(numbers))
        _refuse(where, name, text, ~whole, "whole numbers (none missing)")
        return pd.Series(numbers.astype(np.int64), index=column.index, name=name)
    return pd.Series(numbers, index=column.index, name=name)


def _refuse(where: str, name: str, text: np.ndarray, bad: np.ndarray, expected: str) -> None:
    if bad.any():
        rows = np.flatnonzero(bad)
        examples = ", ".join(f"row {r + 1}: {text[r]!r}" for r in rows[:_SHOWN])
        cells = "1 cell is not" if len(rows) == 1 else f"{len(rows)} cells are not"
        raise DataFileError(f"{where}: column {name!r} must be {expected}; {cells} ({examples}; data rows count "
                            "from 1)")


def _names(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names)


def _columns(header: list[str]) -> str:
    shown = ", ".join(repr(c) for c in header[:10])
    return shown + (f" and {len(header) - 10} more" if len(header) > 10 else "")


def _spaced_hint(missing: list[str], header: list[str]) -> str:
    """A hint where a wanted column is in the header with spaces around it (names are read as written)."""
    spaced = [c for c in header if c.strip() in missing and c != c.strip()]
    return (f"; {_names(spaced)} has spaces around its name, and names are read exactly as written: remove them"
            if spaced else "")
