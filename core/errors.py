"""Typed errors. Each message says what was wrong and how to fix it."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "AssemblyError",
    "BrainbenchError",
    "CeilingWarning",
    "ChecksumError",
    "ConfigError",
    "DataFileError",
    "DataWarning",
    "DownloadError",
    "DuplicateNameError",
    "ImageError",
    "MemoryBudgetError",
    "PluginError",
    "ResultsStoreError",
    "SchedulerError",
    "SplitError",
    "TrainingError",
    "UnknownNameError",
    "WeightsNotFoundError",
]


_LISTED = {"model", "dataset", "metric", "tuner", "benchmark"}  # kinds `brainbench list` shows
_SHOWN = 20


class BrainbenchError(Exception):
    """Base class of every error brainbench raises on purpose."""


class UnknownNameError(BrainbenchError, KeyError):
    """A model, dataset, metric, tuner, benchmark or leaderboard name that is not registered."""

    def __init__(self, kind: str, name: str, known: Iterable[str]):
        from .names import close_matches

        self.kind, self.name, self.known = kind, name, sorted(known)
        close = close_matches(name, self.known)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        if kind in _LISTED:
            where = (f"{len(self.known)} {kind}s are registered; see them with `brainbench list {kind}s` "
                     "(a failed plugin may be missing: `brainbench plugins`).")
        else:
            shown = ", ".join(repr(k) for k in self.known[:_SHOWN])
            more = f" and {len(self.known) - _SHOWN} more" if len(self.known) > _SHOWN else ""
            where = f"Known: {shown}{more}." if self.known else "None are known."
        super().__init__(f"unknown {kind} {name!r}.{hint} {where}")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class DuplicateNameError(BrainbenchError):
    """Two plugins registered the same name."""


class PluginError(BrainbenchError):
    """A plugin broke the contract (bad hook, wrong type, missing attribute)."""


class ConfigError(BrainbenchError, ValueError):
    """A bad option or configuration: a registry.toml entry, a contributed benchmark, an extraction option."""


class MemoryBudgetError(ConfigError):
    """The memory limit cannot hold what an extraction needs (one stimulus's forward pass, or one layer)."""


class AssemblyError(BrainbenchError, ValueError):
    """An assembly that does not have the dims, coords or values brainbench needs."""


class DataFileError(BrainbenchError, ValueError):
    """A file that is missing, truncated, corrupt or not in the expected format."""


class ImageError(BrainbenchError, ValueError):
    """A stimulus image (file, PIL image or array) whose mode, dtype, shape or values have no one right 8-bit RGB
    reading (a 32-bit integer image, floats outside [0, 1], signed integers); the message names the stimulus."""


class SplitError(BrainbenchError, ValueError):
    """A split protocol that cannot be applied to the data (e.g. too few stimuli)."""


class WeightsNotFoundError(BrainbenchError, FileNotFoundError):
    """Pretrained weights are not available locally and cannot be downloaded."""


class TrainingError(BrainbenchError):
    """A training run that failed (e.g. a non-finite loss): names the step, the loss, and what was kept."""


class ResultsStoreError(BrainbenchError):
    """The results store cannot be opened or written (read-only, locked, bad URL)."""


class SchedulerError(BrainbenchError, ConnectionError):
    """A Dask scheduler that does not answer within the stated timeout (``brainbench leaderboard regenerate
    --scheduler``): names the address, the wait and how to check it."""


class DownloadError(BrainbenchError, OSError):
    """A dataset file could not be fetched from the mirror or its publisher."""


class ChecksumError(DownloadError):
    """A fetched file's hash is not the one its dataset declares (the file is removed)."""


class CeilingWarning(UserWarning):
    """A ceiling that makes scores hard to read (e.g. subjects that barely agree); also in ``ScoreResult.notes``."""


class DataWarning(UserWarning):
    """Data that were kept but read differently from how they were given (e.g. trials renumbered so that repeated
    ``(stimulus_id, repetition)`` pairs stay apart); the message says what changed and why."""
