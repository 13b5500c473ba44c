"""The numbers and choices a user passes, checked where they enter, before a library sees them.

Each check raises :class:`~brainbench.errors.ConfigError` (exit status 2 on the command line) with what
was given, the range or the choices that exist, and how to fix it; each returns the value as the
type the rest of brainbench expects. A value that passes reaches numpy, torch and scikit-learn
only in a range they accept: seeds in ``0 .. 2**32 - 1`` (numpy's ``default_rng`` refuses negative
seeds, scikit-learn's ``random_state`` anything above 32 bits, torch anything above 64).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from numbers import Integral, Real

from .errors import ConfigError
from .names import close_matches

__all__ = ["MAX_SEED", "check_choice", "check_count", "check_level", "check_positive_numbers", "check_seed"]

MAX_SEED = 2**32 - 1  # the largest seed every random generator brainbench seeds accepts


def check_count(value: object, what: str, *, minimum: int = 1, hint: str = "") -> int:
    """``value`` as an int of at least ``minimum`` (``what`` names it: ``"batch size"``, ``"--bootstrap"``)."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ConfigError(f"{what} must be a whole number >= {minimum}; got {value!r}{f' ({hint})' if hint else ''}")
    return int(value)


def check_seed(value: object, what: str = "seed") -> int:
    """``value`` as a seed every generator accepts: a whole number from 0 to 2**32 - 1."""
    if isinstance(value, bool) or not isinstance(value, Integral) or not 0 <= value <= MAX_SEED:
        raise ConfigError(f"{what} must be a whole number from 0 to {MAX_SEED} (2**32 - 1); got {value!r}")
    return int(value)


def check_level(value: object, what: str = "confidence level") -> float:
    """``value`` as a probability strictly between 0 and 1 (a confidence level such as 0.95)."""
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 < float(value) < 1:
        raise ConfigError(f"{what} must lie strictly between 0 and 1 (e.g. 0.95); got {value!r}")
    return float(value)


def check_choice(value: object, what: str, choices: Iterable[str]) -> str:
    """``value`` if it is one of ``choices``; else an error listing them, and the close matches of a string."""
    known = list(choices)
    if value not in known:
        close = close_matches(value, known) if isinstance(value, str) and value else []
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ConfigError(f"{what} {value!r} is not one of {', '.join(map(repr, known))}{hint}")
    return str(value)


def check_positive_numbers(values: object, what: str) -> tuple[float, ...]:
    """``values`` (one number or a sequence) as a non-empty tuple of positive finite floats (a ridge alpha grid)."""
    items: Sequence[object] = [values] if isinstance(values, Real) else values  # type: ignore[assignment]
    try:
        numbers = tuple(float(v) for v in items)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be positive numbers, e.g. [0.1, 1, 10]; got {values!r}") from None
    bad = [v for v in numbers if not (math.isfinite(v) and v > 0)]
    if not numbers or bad:
        raise ConfigError(f"{what} must be one or more positive finite numbers, e.g. [0.1, 1, 10]; got {values!r}")
    return numbers
