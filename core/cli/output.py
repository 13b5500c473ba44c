"""Output and errors shared by the command groups (:mod:`brainbench.cli.commands`, :mod:`brainbench.cli.data`):
rich consoles and tables, number formatting, checks of files and folders a command will write, and
:func:`handle_errors`, which turns brainbench's errors into a message and an exit code.

Exit codes: 0 success; :data:`EXIT_FAILED` (1) the work failed (bad data, missing weights, store errors);
:data:`EXIT_USAGE` (2) the request was wrong (unknown names, bad options).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any

from ..errors import BrainbenchError, ConfigError, UnknownNameError

__all__ = ["EXIT_FAILED", "EXIT_USAGE", "PIPED_WIDTH", "console", "file_to_write", "folder_to_write", "format_value",
           "handle_errors", "plot_formats", "print_error", "rich_table"]

EXIT_FAILED, EXIT_USAGE = 1, 2
PIPED_WIDTH = 400  # columns of rich output that goes to a file or pipe


def console(stderr: bool = False):
    """Rich output; to a file or pipe (no terminal, no ``COLUMNS``) tables keep whole rows instead of folding at 80."""
    import os

    from rich.console import Console

    console = Console(stderr=stderr, soft_wrap=True)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(stderr=stderr, soft_wrap=True, width=PIPED_WIDTH)
    return console


def file_to_write(path: str, option: str, formats: Mapping[str, str] | None = None) -> None:
    """Refuse, before any work, a file the command would write at its end into a missing or read-only folder, or
    (``formats``: suffix -> description) in a format it cannot write."""
    import os
    from pathlib import Path

    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{option} {path} is a folder; give a file name in it, e.g. {p / 'plot.png'}")
    if not p.parent.is_dir():
        raise ConfigError(f"{option} {path}: the folder {p.parent} does not exist; create it or choose another path")
    if not os.access(p.parent, os.W_OK):
        raise ConfigError(f"{option} {path}: the folder {p.parent} is not writable; choose another path")
    if formats is not None and p.suffix.lower().lstrip(".") not in formats:
        raise ConfigError(f"{option} {path}: {p.suffix or 'no suffix'} is not a format it can write; end the name "
                          f"with one of {', '.join('.' + f for f in sorted(formats))}")


def folder_to_write(path: str, option: str) -> None:
    """Refuse, before any work, an output folder that is a file or lies where nothing can be written."""
    import os
    from pathlib import Path

    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ConfigError(f"{option} {path} is a file; give a folder (it is created if missing)")
    existing = next(a for a in (p, *p.parents) if a.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise ConfigError(f"{option} {path}: nothing can be written in {existing}; choose a folder you can write to")


def plot_formats() -> Mapping[str, str]:
    """The file formats matplotlib can write (suffix -> description)."""
    from matplotlib.backend_bases import FigureCanvasBase

    return FigureCanvasBase.get_supported_filetypes()


def print_error(exc: Exception) -> None:
    """``error: <message>`` in bold red on stderr (the message escaped, so brackets in names print as written)."""
    from rich.markup import escape

    console(stderr=True).print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run a command; an unknown name, bad option or malformed name prints its message and exits with
    :data:`EXIT_USAGE`, any other brainbench error with :data:`EXIT_FAILED`."""
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (UnknownNameError, ConfigError) as exc:
            print_error(exc)
            sys.exit(EXIT_USAGE)
        except BrainbenchError as exc:  # data, weights, store: the request was fine, the work failed
            print_error(exc)
            sys.exit(EXIT_FAILED)
        except ValueError as exc:  # malformed names and filters
            print_error(exc)
            sys.exit(EXIT_USAGE)

    return wrapper


def rich_table(title: str, columns: list[str], rows: list[list[Any]]):
    """A rich table titled ``title``: the first column (and ``model``) never wraps, the others fold; cells go
    through :func:`format_value`, everything escaped."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(title), title_justify="left")
    for i, column in enumerate(columns):  # names stay whole; other columns fold on narrow terminals
        table.add_column(escape(column), overflow="fold", no_wrap=i == 0 or column == "model")
    for row in rows:
        table.add_row(*(escape(format_value(v)) for v in row))
    return table


def format_value(value: Any) -> str:
    """A table cell: empty for None and NaN, whole floats >= 1 without decimals, other floats to 4 decimals."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() and abs(value) >= 1 else f"{value:.4f}"
    return str(value)
