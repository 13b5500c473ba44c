"""Stimulus sets named on the command line: image files and folders, one stimulus table, or a registered dataset's
(or benchmark's) stimuli; shared by ``extract``, ``interpret`` and ``sae train``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["probe_stimuli", "stimuli_from_paths"]


def stimuli_from_paths(paths: tuple[str, ...]) -> Any:
    """The stimulus set of image files and folders (a folder's images named by their path in it), or of one table
    (.csv/.tsv/.txt); ConfigError for no images, a table given with other paths, or ids naming two images."""
    from collections import Counter

    from ..errors import AssemblyError
    from ..data.stimuli import IMAGE_SUFFIXES, TABLE_SUFFIXES, StimulusSet, folder_images

    tables = [Path(p) for p in paths if Path(p).suffix.lower() in TABLE_SUFFIXES]
    if tables:
        if len(paths) > 1:
            raise ConfigError(f"give one stimulus table ({', '.join(map(str, tables))}) on its own, not with other "
                              "--stimuli")
        return StimulusSet.from_table(tables[0])
    files: list[Path] = []
    ids: list[str] = []  # a folder's images are named by their path in it: cat/001 and dog/001 stay apart
    for p in map(Path, paths):
        try:
            found, named = folder_images(p) if p.is_dir() else ([p], [p.stem])
        except AssemblyError as exc:  # two files of the folder share an id: the user's choice of files
            raise ConfigError(str(exc)) from None
        files += found
        ids += named
    if not files:
        raise ConfigError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {', '.join(paths)}")
    repeated = sorted(i for i, count in Counter(ids).items() if count > 1)
    if repeated:
        clashes = [str(f) for f, i in zip(files, ids) if i == repeated[0]]
        raise ConfigError(f"{len(repeated)} stimulus ids would name more than one image, e.g. {repeated[0]!r} for "
                          f"{' and '.join(clashes)}; rename the files or give them as separate folders")
    return StimulusSet.from_files(files, ids=ids, identifier=",".join(Path(p).name for p in paths))


def probe_stimuli(values: tuple[str, ...]) -> Any:
    """Image files/folders or one table (:func:`stimuli_from_paths`) when every value is an existing path; else one
    name: a benchmark's stimuli (``cowley2023.V4``) or a dataset's (``cowley2023``). UnknownNameError (close
    matches) for a name that is neither; ConfigError for several names or a name mixed with paths."""
    if all(Path(v).exists() for v in values):
        return stimuli_from_paths(values)
    if len(values) > 1:
        missing = [v for v in values if not Path(v).exists()]
        raise ConfigError(f"{', '.join(missing)}: no such file or folder; give image files/folders, or one dataset or "
                          "benchmark name on its own")
    from ..registry.entries import get_dataset, get_registry

    name = values[0]
    if name in get_registry("benchmark"):
        from ..registry.catalog import get_benchmark

        return get_dataset(get_benchmark(name).dataset).stimulus_set()
    return get_dataset(name).stimulus_set()
