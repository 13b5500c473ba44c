"""Behaviour contracts: what a model, dataset, metric and tuner *do* (small ABCs).

Hooks (:mod:`brainbench.registry.hookspecs`) say what exists; these say what it does. Heavy
libraries (torch, xarray) are only named in annotations, never imported here.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pathlib import Path

    import xarray as xr

    from .cards import DatasetCard, MetricCard, ModelCard, TunerCard
    from .tuning import TuningResult
    from ..data.downloads import RemoteFile
    from ..scoring.held_out import HeldOut
    from ..scoring.splits import Split
    from ..data.stimuli import StimulusSet

__all__ = ["KIND_TARGETS", "Dataset", "ImportOption", "Metric", "MetricResult", "MetricTarget", "Model", "ModelMetric",
           "ImageDistance", "Tuner", "TuningResult"]


class Model(ABC):
    """A network whose named layers can be read out on a stimulus set.

    ``extract`` returns, per layer, a feature assembly with dims ``(presentation, neuroid)``:
    presentations carry ``stimulus_id``, neuroids carry ``layer`` and ``unit`` (flattened index).
    """

    card: ModelCard
    weights: str
    seed: int = 0

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def label(self) -> str:
        """Name as shown on leaderboards: ``resnet18``, or ``resnet18[imagenet1k_v1]`` for non-default weights;
        random weights carry their seed unless it is 0 (``resnet18[random]``, ``resnet18[random:3]``), so that
        random baselines over seeds stay apart in the results store."""
        default = self.card.weights[0] if self.card.weights else self.weights
        if self.weights == default:
            return self.name
        seeded = self.weights == "random" and self.seed
        return f"{self.name}[{self.weights}:{self.seed}]" if seeded else f"{self.name}[{self.weights}]"

    @property
    @abstractmethod
    def layers(self) -> list[str]:
        """Every addressable layer, as dotted module paths, in forward order."""

    @property
    @abstractmethod
    def default_layers(self) -> list[str]:
        """The candidate layers a benchmark scores unless told otherwise."""

    @abstractmethod
    def extract(
        self,
        stimuli: StimulusSet,
        layers: Sequence[str] | None = None,
        *,
        batch_size: int | None = None,
        device: str | None = None,
        progress: bool = True,
        **options: Any,
    ) -> Mapping[str, xr.DataArray]:
        """Features of ``stimuli`` at ``layers`` (default: :attr:`default_layers`), one assembly per layer,
        in forward order. The scorer passes ``batch_size`` and ``device``, and as ``options`` the other fields of
        :class:`~brainbench.ExtractionOptions` set away from their defaults (``options.keywords()``); a model that
        cannot honour one raises :class:`~brainbench.ConfigError`."""

    @abstractmethod
    def weights_hash(self) -> str:
        """A content hash of the state the features are computed with, read when called (for provenance and the
        activation cache): every parameter and buffer, and anything else of the state that changes the features
        (a module left in training mode). It must follow the state: a model whose weights or buffers change after
        it was built (an optimiser step, ``load_state_dict``, a write in place, batch-norm statistics) must
        return a new hash, or scores and cached features carry the old one. Cache it only behind a check that
        sees every change (:class:`~brainbench.extraction.torch_model.TorchModel` recomputes it when a content fingerprint
        of the state changes; :mod:`brainbench.extraction.identity`)."""

    def code_versions(self) -> dict[str, str]:
        """The versions of the code that computes the features (for provenance and the activation cache), read
        when called, so that a replaced part of the model changes them; none known by default."""
        return {}


RESERVED_IMPORT_OPTIONS = ("source", "root", "quiet", "progress")  # the import command's own parameters


@dataclass(frozen=True)
class ImportOption:
    """One option of a dataset's :meth:`Dataset.import_data`, declared so that ``brainbench data import <dataset>``
    shows it in ``--help`` and parses it (``--<name>``, underscores as dashes).

    ``kind``: ``"text"`` (a string), ``"int"``, ``"ints"`` or ``"texts"`` (comma-separated on the command line, a
    list in Python), ``"choice"`` (one of ``choices``), ``"flag"`` (True when given). ``default`` is what the
    command line passes when the option is not given; None leaves it out, so ``import_data``'s own default applies.
    A name the import command uses itself (:data:`RESERVED_IMPORT_OPTIONS`) or a choice without choices is a
    :class:`~brainbench.errors.PluginError`."""

    name: str
    help: str
    kind: Literal["text", "int", "ints", "texts", "choice", "flag"] = "text"
    choices: tuple[str, ...] = ()
    default: Any = None

    def __post_init__(self) -> None:
        from ..errors import PluginError

        if not self.name.isidentifier() or self.name in RESERVED_IMPORT_OPTIONS:
            raise PluginError(f"import option {self.name!r} must be a Python identifier other than "
                              f"{', '.join(RESERVED_IMPORT_OPTIONS)} (the import command's own parameters)")
        if self.kind not in ("text", "int", "ints", "texts", "choice", "flag"):
            raise PluginError(f"import option {self.name!r} has kind {self.kind!r}; the kinds are text, int, ints, "
                              "texts, choice, flag")
        if (self.kind == "choice") != bool(self.choices):
            raise PluginError(f"import option {self.name!r}: choices go with kind 'choice' and it needs them")


class Dataset(ABC):
    """A stimulus set and, for brain data, its neural assembly.

    A dataset that downloads declares its ``files`` (:class:`brainbench.data.downloads.RemoteFile`,
    each with URL and checksum); they live in ``<data home>/datasets/<folder>``, and
    ``path(name)`` fetches one on first use (from the mirror, else the publisher). ``brainbench data``
    works through ``download``, ``local_files`` and ``remove_local``, which a dataset fetched in parts
    (NSD) or imported from the user's files overrides; ``terms`` are shown and accepted once before a
    download.

    A dataset that can be built from the user's own copy of its files (NSD from a local copy in NSD's layout)
    implements :meth:`import_data`, says what its source is (``import_source``) and declares its options
    (``import_options``); ``brainbench data import <dataset> SOURCE [--option ...]`` then works for it, with those
    options in its ``--help`` (:func:`brainbench.registry.user_datasets.import_dataset`)."""

    card: DatasetCard
    files: tuple[RemoteFile, ...] = ()
    terms: str | None = None
    import_source: str = "a file or folder"  # what SOURCE of `brainbench data import <dataset> SOURCE` is
    import_options: tuple[ImportOption, ...] = ()  # the keyword options import_data takes

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def folder(self) -> str:
        """The dataset's folder in the data home and in a mirror."""
        return self.name

    def path(self, name: str, *, progress: bool = True) -> Path:
        """Local, verified copy of the declared file ``name``."""
        from ..data.downloads import fetch
        from ..errors import UnknownNameError

        by_name = {f.name: f for f in self.files}
        if name not in by_name:
            raise UnknownNameError(f"file of dataset {self.name}", name, by_name)
        return fetch(by_name[name], self.folder, progress=progress)

    def check_download(self, **options: Any) -> None:
        """Refuse fetch ``options`` this dataset does not have (a ConfigError listing what it has) before anything
        is asked or fetched: ``brainbench data fetch`` calls it before showing the terms of use."""
        from ..errors import ConfigError

        if options:
            raise ConfigError(f"dataset {self.name} takes no fetch options ({', '.join(options)}); it fetches its "
                              "declared files")

    def download(self, *, progress: bool = True, **options: Any) -> list[Path]:
        """Fetch every declared file; a dataset fetched in parts takes ``options`` (e.g. NSD's subjects)."""
        self.check_download(**options)
        return [self.path(f.name, progress=progress) for f in self.files]

    def local_files(self) -> list[Path]:
        """The dataset's files present in the data home."""
        from ..data.downloads import dataset_dir

        return [p for f in self.files if (p := dataset_dir(self.folder) / f.name).is_file()]

    def remove_local(self) -> list[Path]:
        """Delete the dataset's files (and what belongs to them) from the data home; returns what was removed."""
        from ..data.downloads import remove

        return [p for f in self.files for p in remove(f, self.folder)]

    @property
    def importable(self) -> bool:
        """Whether this dataset implements :meth:`import_data`."""
        return type(self).import_data is not Dataset.import_data

    def import_data(self, source: str | Path, *, progress: bool = True, **options: Any) -> Path:
        """Build the dataset in the data home from the user's files at ``source`` (``import_source`` says what they
        are) with the declared ``import_options``; returns the folder written. A dataset that can be imported
        overrides this; this default raises :class:`~brainbench.errors.ConfigError` saying the dataset cannot be
        imported and where to see which can."""
        from ..errors import ConfigError

        raise ConfigError(f"dataset {self.name} cannot be imported from your files (it does not implement "
                          "import_data); `brainbench data list` shows which datasets can (column 'import'), and "
                          "`brainbench data import assembly` / `folder` import your own data as a new dataset")

    @abstractmethod
    def stimulus_set(self) -> StimulusSet:
        """The stimuli, in a fixed order, with their metadata."""

    @abstractmethod
    def assembly(self, region: str | Sequence[str] | None = None, subjects: Sequence[str] | None = None) -> xr.DataArray:
        """Responses ``(presentation, neuroid)``: one presentation per trial, with a ``repetition`` coord
        where trials were repeated; neuroids carry ``neuroid_id``, ``region`` and ``subject``."""


@dataclass
class MetricResult:
    """Per-split, per-neuroid scores of one feature set against one target.

    ``train`` and ``test`` have dims ``(split, neuroid)``; ``train`` is the score used to
    select layers (e.g. leave-one-out r on the training stimuli), ``test`` the held-out score.
    ``held_out`` (optional) is what ``test`` was computed from (:mod:`brainbench.scoring.held_out`), which
    confidence intervals and paired tests rescore; a metric without it scores, but has no uncertainty.
    """

    train: xr.DataArray
    test: xr.DataArray
    extra: dict[str, Any] = field(default_factory=dict)
    held_out: HeldOut | None = None


@dataclass(frozen=True)
class MetricTarget:
    """What a metric scores, which the scorer prepares for it (:mod:`brainbench.scoring.targets`).

    ``form``: ``"responses"`` (the repeat-averaged ``(presentation, neuroid)`` responses) or ``"rdms"`` (one RDM per
    subject: computed from the responses with ``distance``, or a dataset's RDMs as they are). ``unit``: what the
    metric scores one by one and the scorer averages per subject: ``"neuroid"``, ``"rdm"`` (a subject's RDM) or
    ``"subject"`` (a whole population, e.g. CKA; no ceiling). ``distance`` and ``comparison`` are the RDM distance and
    comparison (:mod:`brainbench.rdm.distances`, :mod:`brainbench.rdm.comparisons`) the target and its RDM ceilings use."""

    form: Literal["responses", "rdms"] = "responses"
    unit: Literal["neuroid", "rdm", "subject"] = "neuroid"
    distance: str = "correlation"
    comparison: str = "spearman"


# What a metric that declares no target scores, by its card's kind (MetricCard.kind).
KIND_TARGETS: dict[str, MetricTarget] = {
    "encoding": MetricTarget("responses", "neuroid"),
    "rsa": MetricTarget("rdms", "rdm"),
    "encoding_rsa": MetricTarget("responses", "rdm"),  # predicts responses, then scores one RDM per subject
    "population": MetricTarget("responses", "subject"),
}


class Metric(ABC):
    """Features x target x splits -> per-split scores (see :class:`MetricResult`).

    A metric declares what it scores as :attr:`target` (a :class:`MetricTarget`, as a class attribute or a
    property); one that does not is given its card kind's (:data:`KIND_TARGETS`)."""

    card: MetricCard

    @property
    def target(self) -> MetricTarget:
        """What this metric scores. The default, for metrics that declare none: :data:`KIND_TARGETS` of the card's
        kind, with the metric's ``distance`` and ``comparison`` attributes where it has them (as metrics written
        for brainbench 0.1 said them)."""
        base = KIND_TARGETS.get(self.card.kind, MetricTarget())
        return dataclasses.replace(base, distance=getattr(self, "distance", base.distance),
                                   comparison=getattr(self, "comparison", base.comparison))

    @abstractmethod
    def __call__(self, features: xr.DataArray, target: xr.DataArray, splits: Sequence[Split]) -> MetricResult: ...


class ModelMetric(ABC):
    """A metric that needs only a model and images (e.g. the interpretability index)."""

    card: MetricCard

    @abstractmethod
    def __call__(self, model: Model, stimuli: StimulusSet, layers: Sequence[str]) -> Mapping[str, float]: ...


class ImageDistance(ABC):
    """Distances between pairs of a fixed set of images, the similarity function of the interpretability index.

    Built over the images once (a factory registered through ``register_image_distances`` takes them as a float
    tensor ``(n, 3, height, width)`` of RGB values in [0, 1]); called with two equal-length integer index arrays
    ``a`` and ``b`` into them, it returns the float64 distances ``d(images[a[i]], images[b[i]])``, shape
    ``(len(a),)``, each pair compared on its own. ``name`` says what it is (stored with every II); a distance of an
    image to itself is 0 and similarity is ``1 - distance``."""

    name: str

    @abstractmethod
    def __call__(self, a: Any, b: Any) -> Any: ...


class Tuner(ABC):
    """(model, data, config) -> a new model plus its training record.

    ``data`` says what to tune toward: the built-in tuners (``lwf``, ``fastfood``) take a benchmark id, whose
    responses, region and split protocol fix the training and held-out stimuli (a dataset alone holds several
    regions and no split); a third-party tuner may take a :class:`Dataset`. ``config`` is the tuner's settings as a
    mapping; an unknown key is a ConfigError naming the known ones."""

    card: TunerCard

    @abstractmethod
    def tune(self, model: Model, data: Dataset | str, config: Mapping[str, Any]) -> TuningResult: ...


def __getattr__(name: str) -> Any:
    """``TuningResult`` is defined in :mod:`brainbench.registry.tuning`, beside the saving and registering of tuned
    models it does (which read the registry, and so these contracts); it is offered here too, loaded on first use."""
    if name == "TuningResult":
        from .tuning import TuningResult

        return TuningResult
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
