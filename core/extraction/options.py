"""The extraction options, one typed object from the CLI and the Python API down to the extraction plan."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..checks import check_choice, check_count, check_seed
from ..errors import ConfigError

if TYPE_CHECKING:
    from .activation_cache import ActivationCache
    from .reduction import ReductionSpec

__all__ = ["TOKEN_MODES", "ExtractionOptions"]

TOKEN_MODES = ("all", "cls", "mean")


@dataclass(frozen=True)
class ExtractionOptions:
    """How features are extracted: the one list of the extraction options.

    ============  ==================================  ==========  ======================================================
    option        type                                default     meaning
    ============  ==================================  ==========  ======================================================
    tokens        ``"all"``, ``"cls"`` or ``"mean"``  ``"all"``   transformer token layers: every token, the CLS token,
                                                                  or the mean over patch tokens (a text model's
                                                                  padding left out)
    reduce        ``"srp:K"``, ``"pca:K[/N]"``,       None        reduce layers of more than K units on the fly
                  a ``ReductionSpec`` or None                     (:mod:`brainbench.extraction.reduction`); None: keep
    memory_limit  a size (``"4GB"``, ``"512MiB"``)    None        bytes the stored features and one batch may take;
                  or a number of bytes                            None: half of the available RAM
    batch_size    int >= 1 or None                    None        stimuli per forward pass; None: as many as fit the
                                                                  memory limit (and a CUDA device's free memory), <= 64
    device        ``"cpu"``, ``"cuda"``, ``"cuda:N"``, None        where the forward passes run; None: the best there is
                  ``"mps"``, ``"auto"`` or None
    cache         bool or an ``ActivationCache``      True        read and write the activation cache (False: neither)
    seed          int in 0..2**32-1 or None           None        seed of the passes and of srp/pca; None: the model's
    ============  ==================================  ==========  ======================================================

    Every option is checked when the object is made, before any work: ConfigError for a token mode not in
    :data:`TOKEN_MODES`, a batch size < 1, a seed outside 0..2**32-1, a reduction that is not srp:K or pca:K[/N], a
    memory limit that is not a size, a device or cache of the wrong type. :meth:`of` turns keywords into the object
    (the public keyword API: ``brainbench.score(..., memory_limit="2GB")``) and refuses an unknown one by name.
    Which options a result depends on is decided where they are used, not here: the activation cache keys the token
    mode and the reduction, the score's provenance the device (:mod:`brainbench.extraction.plan`).
    """

    tokens: str = "all"
    reduce: str | ReductionSpec | None = None
    memory_limit: str | int | None = None
    batch_size: int | None = None
    device: str | None = None
    cache: bool | ActivationCache = True
    seed: int | None = None

    def __post_init__(self) -> None:
        from .activation_cache import ActivationCache
        from .memory import parse_memory
        from .reduction import ReductionSpec

        check_choice(self.tokens, "token mode", TOKEN_MODES)
        if self.batch_size is not None:
            check_count(self.batch_size, "batch size", hint="leave it out to fit batches to the memory limit")
            object.__setattr__(self, "batch_size", int(self.batch_size))
        if self.seed is not None:
            object.__setattr__(self, "seed", check_seed(self.seed))
        if not isinstance(self.reduce, (str, ReductionSpec, type(None))):
            raise ConfigError(f"reduce must be text (srp:K or pca:K[/N]), a ReductionSpec or None; got {self.reduce!r}")
        self.reduction()  # a reduction that is not understood fails here
        if isinstance(self.memory_limit, bool) or not isinstance(self.memory_limit, (str, int, float, type(None))):
            raise ConfigError(f"memory limit must be a size such as '4GB' or a number of bytes; got {self.memory_limit!r}")
        if self.memory_limit is not None:
            parse_memory(self.memory_limit)
        if self.device is not None and not isinstance(self.device, str):
            raise ConfigError(f"device must be text (cpu, cuda, cuda:N, mps or auto) or None; got {self.device!r}")
        if not isinstance(self.cache, (bool, ActivationCache)):
            raise ConfigError(f"cache must be True, False or a brainbench ActivationCache; got {self.cache!r}")

    @classmethod
    def of(cls, options: ExtractionOptions | None = None, /, **keywords: Any) -> ExtractionOptions:
        """``options`` (default: every default) with ``keywords`` replacing its fields; a keyword that is None means
        "the default" and is left out. The one place the keyword API becomes the object.

        Raises ConfigError for a keyword that is not an option (naming the options and close matches), for
        ``options`` that is not an ExtractionOptions, and for a value out of range (as the constructor)."""
        from ..names import close_matches

        if options is not None and not isinstance(options, cls):
            raise ConfigError(f"options must be a brainbench.ExtractionOptions, not {type(options).__name__}; build "
                              f"one with ExtractionOptions(memory_limit='4GB', ...) or pass the options as keywords")
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = [key for key in keywords if key not in names]
        if unknown:
            close = sorted({match for key in unknown for match in close_matches(key, names)})
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ConfigError(f"unknown extraction option{'s' * (len(unknown) > 1)} {', '.join(map(repr, unknown))}"
                              f"{hint} The options are {', '.join(names)} (brainbench.ExtractionOptions)")
        given = {key: value for key, value in keywords.items() if value is not None}
        return dataclasses.replace(options or cls(), **given)

    def reduction(self, seed: int | None = None) -> ReductionSpec | None:
        """The reduction, parsed with ``seed`` (else :attr:`seed`, else 0); a ReductionSpec is used as given."""
        from .reduction import ReductionSpec

        if not isinstance(self.reduce, str):
            return self.reduce
        return ReductionSpec.parse(self.reduce, seed=(self.seed or 0) if seed is None else seed)

    def memory_bytes(self) -> int | None:
        """The memory limit in bytes; None for the default (:func:`brainbench.extraction.memory.default_memory_limit`)."""
        from .memory import parse_memory

        return None if self.memory_limit is None else parse_memory(self.memory_limit)

    def keywords(self) -> dict[str, Any]:
        """The options set away from their defaults, as the keywords :meth:`brainbench.Model.extract` takes (a
        third-party model is called with what it was called with before this object existed)."""
        defaults = ExtractionOptions()
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if getattr(self, f.name) != getattr(defaults, f.name)}
