r"""Encoder warping: tune a network toward a region only through a d-dimensional Fastfood subspace of its parameters
(:mod:`.fastfood`), and compare networks by :math:`d_{warp}`, the smallest d at which the held-out score reaches a
threshold (the encoder-warping project; Li et al. 2018's intrinsic dimension; Aghajanyan et al. 2021).

:func:`tune_fastfood` fits at one d: the parameters of the modules that run up to the readout layer (or those
matching ``train_parameters``) move as :math:`\theta_0 + P z` (optionally with SAID scales, one per top-level
block, counted in d); ``z`` starts at 0 and trains with the linear readout (warmed up by ridge on the frozen
network, so d = 0 would be the plain linear encoding model), by the neural loss, with the shared loop's early
stopping on the validation stimuli. Its held-out score is the readout's mean Pearson r on the benchmark's test
stimuli (split ``split``).

:func:`warp` sweeps d over a grid (default: log-spaced, 1 to D) and reports the curve and :math:`d_{warp}` under an
explicit :class:`ThresholdRule`: ``absolute`` (the score itself must reach ``value``) or ``relative`` (``value`` times
a reference score: ``"readout"``, the warm-up readout on the frozen network; or ``"full"``, the same loop training
every chosen parameter directly). The two rules give different d (Li et al.'s MNIST network: 750 at an absolute
0.90 accuracy, 525 at 90 % of its baseline), so the rule is part of every result. No d of the grid reaching the
threshold gives ``d_warp = None``, never the largest d.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from .._version import __version__
from ..checks import check_seed
from ..device import pick_device
from ..errors import ConfigError
from .data import (capture, chosen_parameters, layer_info, load_tuning_data, mean_pearson, model_inputs,
                   modules_run_before, readout_features, ridge_readout)
from ..extraction.layers import first_tensor
from .fastfood import LowDimensional
from .losses import label_free_cost, neural_loss
from .train import TrainConfig, train

__all__ = ["FASTFOOD_VERSION", "FastfoodConfig", "ThresholdRule", "WarpResult", "default_grid", "find_d_warp",
           "load_warps", "plot_warps", "tune_fastfood", "warp"]

FASTFOOD_VERSION = "1"


@dataclass(frozen=True)
class FastfoodConfig:
    """One Fastfood fit's settings (module docstring). ``full_lr``: the learning rate of the full fine-tune that a
    relative rule's ``"full"`` reference fits (every chosen parameter trains directly); ``None`` uses ``train.lr``,
    which suits z but usually wrecks a pretrained network trained directly (~1e-4 suits one). ``lr_grid``: learning rates
    that :func:`warp` tries at every d, keeping the fit with the lowest validation loss (:func:`_select_fit`); None
    tries ``train.lr`` alone."""

    layer: str
    neural: Literal["mse", "pearson"] = "mse"
    pool: Literal["flatten", "mean"] = "flatten"
    train_parameters: tuple[str, ...] | None = None
    said: bool = False
    projection_seed: int = 0
    split: int = 0
    val_fraction: float = 0.1
    train: TrainConfig = field(default_factory=lambda: TrainConfig(lr=1e-2))
    full_lr: float | None = None
    lr_grid: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.full_lr is not None and not (math.isfinite(self.full_lr) and self.full_lr > 0):
            raise ConfigError(f"full_lr must be a positive number (or None for train.lr); got {self.full_lr!r}")
        if self.lr_grid is not None:
            rates = tuple(self.lr_grid)
            if not rates or not all(isinstance(r, (int, float)) and math.isfinite(r) and r > 0 for r in rates):
                raise ConfigError(f"lr_grid must be one or more positive learning rates; got {self.lr_grid!r}")
            if len(set(rates)) != len(rates):
                raise ConfigError(f"lr_grid names a learning rate twice: {list(rates)}")
            object.__setattr__(self, "lr_grid", tuple(float(r) for r in rates))

    def rates(self) -> tuple[float, ...]:
        """The learning rates each warp fit tries: ``lr_grid``, else ``train.lr`` alone."""
        return self.lr_grid if self.lr_grid is not None else (self.train.lr,)

    def as_record(self) -> dict[str, Any]:
        record = dataclasses.asdict(self)
        record["train_parameters"] = list(self.train_parameters) if self.train_parameters else None
        record["lr_grid"] = list(self.lr_grid) if self.lr_grid is not None else None
        return record


@dataclass(frozen=True)
class ThresholdRule:
    """How d_warp is read off the curve: ``kind`` ``"absolute"`` (score >= ``value``) or ``"relative"`` (score >=
    ``value`` x the ``reference`` score, ``"readout"`` or ``"full"``)."""

    kind: Literal["absolute", "relative"] = "relative"
    value: float = 0.9
    reference: Literal["readout", "full"] = "full"

    def __post_init__(self) -> None:
        if self.kind not in ("absolute", "relative"):
            raise ConfigError(f"threshold kind {self.kind!r} is not 'absolute' or 'relative'")
        if self.reference not in ("readout", "full"):
            raise ConfigError(f"reference {self.reference!r} is not 'readout' or 'full'")
        if not math.isfinite(self.value) or (self.kind == "relative" and self.value <= 0):
            raise ConfigError(f"a {self.kind} threshold needs a {'positive ' if self.kind == 'relative' else ''}"
                              f"number; got {self.value!r}")

    def describe(self, reference_score: float | None) -> str:
        if self.kind == "absolute":
            return f"held-out score >= {self.value:g} (absolute)"
        return f"held-out score >= {self.value:g} x the {self.reference} score ({reference_score:.4f})"


def find_d_warp(scores: dict[int, float], threshold: float) -> int | None:
    """The smallest d whose score reaches ``threshold`` (None when none does)."""
    reached = [d for d in sorted(scores) if scores[d] >= threshold]
    return reached[0] if reached else None


def default_grid(D: int, n: int = 8) -> list[int]:
    """``n`` log-spaced whole numbers from 1 to ``D`` (distinct, increasing)."""
    return sorted({int(round(v)) for v in np.logspace(0, math.log10(max(D, 1)), n)})


@dataclass
class WarpResult:
    """A d sweep: ``curve`` rows (``d``, held-out ``score``, ``val_loss`` of the weights kept, ``epochs``, the ``lr``
    chosen on the validation loss and each tried rate's ``lr_val_loss``, and the label-free cost), the ``rule``, the reference and
    readout scores, the ``threshold`` it implies, ``d_warp`` (None: not reached on the grid), D, the grid and seeds."""

    model: str
    benchmark: str
    layer: str
    D: int
    curve: list[dict[str, Any]]
    rule: ThresholdRule
    readout_score: float
    reference_score: float | None
    threshold: float
    d_warp: int | None
    record: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """The result as ``brainbench warp --json`` prints it (JSON-ready; :meth:`from_dict` reads it back)."""
        return {"model": self.model, "benchmark": self.benchmark, "layer": self.layer, "D": self.D,
                "d_warp": self.d_warp, "threshold": self.threshold, "rule": dataclasses.asdict(self.rule),
                "reference_score": self.reference_score, "readout_score": self.readout_score,
                "curve": self.curve, "record": self.record}

    @classmethod
    def from_dict(cls, data: Any, source: str = "the data") -> WarpResult:
        """A result from :meth:`as_dict`'s form. Raises ConfigError naming ``source`` and the first missing or
        malformed field."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source} is not a warp result (a JSON object from `brainbench warp --json`)")
        missing = [k for k in ("model", "benchmark", "layer", "D", "d_warp", "threshold", "rule", "readout_score",
                               "curve", "record") if k not in data]
        if missing:
            raise ConfigError(f"{source} is not a warp result: it lacks {', '.join(missing)} (write one with "
                              "`brainbench warp ... --json`)")
        curve = data["curve"]
        if not isinstance(curve, list) or not all(isinstance(r, dict) and {"d", "score"} <= set(r) for r in curve):
            raise ConfigError(f"{source}: its curve is not a list of {{'d', 'score', ...}} rows")
        rule = data["rule"]
        if not isinstance(rule, dict) or not {"kind", "value", "reference"} <= set(rule):
            raise ConfigError(f"{source}: its rule is not {{'kind', 'value', 'reference'}}")
        return cls(model=str(data["model"]), benchmark=str(data["benchmark"]), layer=str(data["layer"]),
                   D=int(data["D"]), curve=curve, rule=ThresholdRule(rule["kind"], float(rule["value"]),
                                                                     rule["reference"]),
                   readout_score=float(data["readout_score"]), reference_score=data.get("reference_score"),
                   threshold=float(data["threshold"]), d_warp=data["d_warp"], record=data["record"])

    def summary(self) -> str:
        found = f"d_warp = {self.d_warp}" if self.d_warp is not None else "d_warp not reached on the grid"
        return (f"{self.model} {self.layer} -> {self.benchmark} (D = {self.D}): {found} under "
                f"{self.rule.describe(self.reference_score)}; readout alone {self.readout_score:.4f}")

    def plot(self, path: str | None = None) -> Any:
        """Held-out score against d (log axis), the threshold and d_warp; returns the figure, written to ``path``
        (.png or .svg) when given."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        ds = [row["d"] for row in self.curve]
        ax.plot(ds, [row["score"] for row in self.curve], marker="o", label="Fastfood fit at d")
        ax.axhline(self.threshold, color="tab:red", ls="--", label=self.rule.describe(self.reference_score))
        ax.axhline(self.readout_score, color="grey", ls=":", label="linear readout, frozen network")
        if self.d_warp is not None:
            ax.axvline(self.d_warp, color="tab:red", alpha=0.4)
            ax.annotate(f"d_warp = {self.d_warp}", (self.d_warp, self.threshold), textcoords="offset points",
                        xytext=(5, -14), fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel(f"d (subspace dimension; D = {self.D})")
        ax.set_ylabel("held-out score (mean Pearson r)")
        ax.set_title(f"{self.model} {self.layer} -> {self.benchmark}", fontsize=10)
        ax.legend(fontsize=7)
        fig.tight_layout()
        if path is not None:
            from ..results.plots import save_figure

            save_figure(fig, path)
        return fig


def plot_warps(results: Sequence[WarpResult], path: str | None = None) -> Any:
    """Several sweeps side by side (``brainbench warp -m A -m B``): each model's held-out score against d (log axis),
    its threshold (dashed) and its d_warp (dotted, annotated), one colour per model; returns the figure, written to
    ``path`` (.png or .svg, :func:`~brainbench.results.plots.save_figure`) when given. Raises ConfigError for no
    results."""
    if not results:
        raise ConfigError("plot_warps needs one or more warp results; got none")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    one_layer = len({r.layer for r in results}) == 1
    for i, result in enumerate(results):
        colour = colours[i % len(colours)]
        found = f"d_warp = {result.d_warp}" if result.d_warp is not None else "d_warp not reached"
        name = result.model if one_layer else f"{result.model} {result.layer}"
        ax.plot([row["d"] for row in result.curve], [row["score"] for row in result.curve], marker="o",
                color=colour, label=f"{name} (D = {result.D}; {found})")
        ax.axhline(result.threshold, color=colour, ls="--", alpha=0.7)
        if result.d_warp is not None:
            ax.axvline(result.d_warp, color=colour, ls=":", alpha=0.7)
            ax.annotate(f"d_warp = {result.d_warp}", (result.d_warp, result.threshold), textcoords="offset points",
                        xytext=(5, -14 - 10 * i), fontsize=8, color=colour)
    ax.set_xscale("log")
    ax.set_xlabel("d (subspace dimension)")
    ax.set_ylabel("held-out score (mean Pearson r)")
    first = results[0]
    rule = first.rule
    reached = (f"score >= {rule.value:g}" if rule.kind == "absolute"
               else f"score >= {rule.value:g} x each model's {rule.reference} score")
    where = f"{first.layer} -> {first.benchmark}" if one_layer else first.benchmark
    ax.set_title(f"{where}; dashed: each model's threshold ({reached})", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    if path is not None:
        from ..results.plots import save_figure

        save_figure(fig, path)
    return fig


def load_warps(path: str | Path) -> list[WarpResult]:
    """The warp results in a ``brainbench warp --json`` file: one (a single ``-m``) or several (``{"models": [...]}``).
    Raises ConfigError for a missing or unreadable file, or one that is not a warp result (naming the file)."""
    import json

    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"no warp result at {path}: write one with `brainbench warp ... --json > {path.name}`") \
            from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path} is not a JSON file from `brainbench warp --json` ({type(exc).__name__}: "
                          f"{exc})") from None
    entries = data["models"] if isinstance(data, dict) and "models" in data else [data]
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path} holds no warp result")
    return [WarpResult.from_dict(entry, source=f"{path}" + (f" (entry {i + 1})" if len(entries) > 1 else ""))
            for i, entry in enumerate(entries)]


@dataclass
class _Prepared:
    data: Any
    info: Any
    inputs: torch.Tensor
    responses: torch.Tensor
    readout_weight: torch.Tensor
    readout_bias: torch.Tensor
    readout_score: float
    chosen: list[str]
    groups: list[list[str]] | None
    parent_logits: torch.Tensor | None  # the parent's class logits on the held-out stimuli (None: not a classifier)


def _prepare(model: Any, benchmark: str, config: FastfoodConfig, device: str) -> _Prepared:
    seed = check_seed(config.train.seed)
    data = load_tuning_data(benchmark, split=config.split, val_fraction=config.val_fraction, seed=seed)
    info = layer_info(model, config.layer)
    inputs = model_inputs(model, data.stimuli, data.ids)
    network = copy.deepcopy(model.module).eval().to(device)  # the parent itself stays where it is
    feats, logits = [], []
    with torch.no_grad():
        for i in range(0, len(inputs), 64):
            with capture(network, info) as captured:
                out = first_tensor(network(inputs[i:i + 64].to(device)))
            feats.append(readout_features(captured["out"], config.pool).float().cpu())
            logits.append(out.float().cpu())
    features = torch.cat(feats).numpy()
    parent_logits = torch.cat(logits)[torch.from_numpy(data.test)] if logits[0].ndim == 2 else None
    weight, bias, _ = ridge_readout(features[data.train], data.responses[data.train])
    readout_score = mean_pearson(features[data.test] @ weight.T + bias, data.responses[data.test])
    reached = modules_run_before(network, info, inputs[:1].to(device))
    chosen = chosen_parameters(network, config.train_parameters, reached)
    groups = None
    if config.said:
        tops = sorted({name.split(".", 1)[0] for name in chosen})
        groups = [[f"{top}.*", top] for top in tops]
    return _Prepared(data, info, inputs, torch.from_numpy(data.responses), torch.from_numpy(weight).float(),
                     torch.from_numpy(bias).float(), readout_score, chosen, groups, parent_logits)


def _cost(network: torch.nn.Module, prepared: _Prepared, device: str) -> dict[str, float]:
    """The tuned network's label-free cost on the held-out stimuli (:func:`~.losses.label_free_cost`); empty when
    the network's output is not class logits."""
    if prepared.parent_logits is None:
        return {}
    network.eval()
    rows, out = prepared.data.test, []
    with torch.no_grad():
        for i in range(0, len(rows), 64):
            out.append(first_tensor(network(prepared.inputs[rows[i:i + 64]].to(device))).float().cpu())
    return label_free_cost(torch.cat(out), prepared.parent_logits)


def _fit(model: Any, prepared: _Prepared, config: FastfoodConfig, d: int | None, device: str,
         progress: bool, checkpoint: str | None = None) -> tuple[torch.nn.Module, float, Any, Any]:
    """Fit at ``d`` (None: every chosen parameter trains directly, the "full" reference); returns the tuned network
    (its parameters materialised), the held-out score, the loop's result and the low-dimensional wrapper."""
    data, info = prepared.data, prepared.info
    network = copy.deepcopy(model.module).to(device)
    for p in network.parameters():
        p.requires_grad_(False)
    for n, p in network.named_parameters():
        p.requires_grad_(n in prepared.chosen)
    low = None
    if d is not None:
        low = LowDimensional(network, d, parameters=prepared.chosen, groups=prepared.groups,
                             seed=config.projection_seed)
    readout = torch.nn.Linear(prepared.readout_weight.shape[1], prepared.readout_weight.shape[0]).to(device)
    with torch.no_grad():
        readout.weight.copy_(prepared.readout_weight), readout.bias.copy_(prepared.readout_bias)
    run = low if low is not None else network

    class Tuned(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.run, self.readout = run, readout

    tuned = Tuned()

    def features(rows: np.ndarray) -> torch.Tensor:
        with capture(network, info) as captured:
            run(prepared.inputs[rows].to(device))
        return readout_features(captured["out"], config.pool)

    def batch_loss(indices: np.ndarray) -> torch.Tensor:
        rows = data.train[indices]
        return neural_loss(readout(features(rows)), prepared.responses[rows].to(device), config.neural)

    def val_loss() -> float:
        return float(neural_loss(readout(features(data.val)), prepared.responses[data.val].to(device), config.neural))

    train_config = config.train
    if d is None and config.full_lr is not None:
        train_config = dataclasses.replace(train_config, lr=config.full_lr)
    result = train(tuned, batch_loss, len(data.train), config=train_config, val_loss=val_loss, progress=progress,
                   checkpoint=checkpoint, fingerprint=f"{data.fingerprint()} {model.weights_hash()} d={d} "
                   f"{config.as_record()}", description=f"{model.label} at d = {d if d is not None else 'D'}")
    with torch.no_grad():
        predicted = readout(features(data.test)).cpu().numpy()
    score = mean_pearson(predicted, data.responses[data.test])
    if low is not None:
        network.load_state_dict(low.tuned_state())
    return network, score, result, low


def _selection_loss(result: Any, keep: str) -> float:
    """The validation loss a fit is chosen by: that of the weights it ends with (``keep`` ``"best"``: the lowest of
    the start and every epoch; ``"last"``: the last epoch's)."""
    losses = list(result.curves.get("val_loss", []))
    if keep == "best":
        losses = [v for v in [result.initial_val_loss, *losses] if v is not None]
        return min(losses) if losses else math.inf
    return losses[-1] if losses else math.inf


def _select_fit(model: Any, prepared: _Prepared, config: FastfoodConfig, d: int, device: str,
               progress: bool) -> tuple[torch.nn.Module, float, Any, dict[str, Any]]:
    """Fit at ``d`` once per learning rate of ``config.rates()`` and keep the fit whose validation loss (on the
    validation stimuli inside the training split; :func:`_selection_loss`) is lowest, so the held-out stimuli never
    enter the choice. A rate whose loss becomes non-finite (:class:`~brainbench.errors.TrainingError`) loses; every
    rate failing raises the last rate's error, naming the rates tried. Returns the kept network, its held-out score,
    its loop's result, and the choice: ``{"lr": rate, "lr_val_loss": {rate as str: loss or None for a failed
    rate}, "lr_at_edge": "smallest" | "largest" | None}`` (a rate at the grid's edge: one beyond it may fit
    better, so widen the grid that way). Why: a step size that suits one network diverges on another (Adam moves every coordinate of z by
    about lr per step, a parameter-space step growing as sqrt(d)), and a d curve read at one fixed rate compares
    the rate's fit to each network rather than the networks (Li et al. 2018 tune the optimiser per network)."""
    from ..errors import TrainingError

    best: tuple[float, torch.nn.Module, float, Any, float] | None = None
    losses: dict[str, float | None] = {}
    error: TrainingError | None = None
    for rate in config.rates():
        trial = dataclasses.replace(config, train=dataclasses.replace(config.train, lr=rate))
        try:
            net, score, result, _low = _fit(model, prepared, trial, d, device, progress)
        except TrainingError as exc:
            losses[f"{rate:g}"], error = None, exc
            continue
        loss = _selection_loss(result, config.train.keep)
        losses[f"{rate:g}"] = loss
        if best is None or loss < best[0]:
            best = (loss, net, score, result, rate)
    if best is None:
        assert error is not None
        raise TrainingError(f"every learning rate tried at d = {d} failed ({', '.join(losses)}); the last: "
                            f"{error}") from error
    _loss, net, score, result, rate = best
    rates = config.rates()
    edge = None
    if len(rates) > 1 and rate in (min(rates), max(rates)):
        edge = "smallest" if rate == min(rates) else "largest"
    return net, score, result, {"lr": rate, "lr_val_loss": losses, "lr_at_edge": edge}


def tune_fastfood(model: Any, benchmark: str, d: int, config: FastfoodConfig, *, name: str | None = None,
                  device: str | None = None, checkpoint: str | None = None, progress: bool = False) -> Any:
    """Tune ``model`` toward ``benchmark`` through a ``d``-dimensional Fastfood subspace (module docstring); returns
    a :class:`~brainbench.registry.contracts.TuningResult` (the tuned network as a new TorchModel, and its record:
    tuner, parent, data and exact stimulus ids, config, d, D, seeds, curves, held-out and readout-only scores).
    Raises ConfigError for d larger than the D parameters that move (never a silent truncation) and the errors of
    :func:`~.lwf.tune_lwf`'s data and layer checks."""
    from ..extraction.torch_model import TorchModel
    from ..registry.contracts import TuningResult

    device_name = pick_device(device)
    prepared = _prepare(model, benchmark, config, device_name)
    network, score, result, low = _fit(model, prepared, config, d, device_name, progress, checkpoint)
    new_model = TorchModel(network.cpu(), model.preprocess, model.card if not name else
                           model.card.model_copy(update={"name": name}), weights="tuned",
                           default_layers=model.default_layers, seed=model.seed)
    record = {
        "tuner": "fastfood", "tuner_version": FASTFOOD_VERSION, "parent": model.card.name,
        "parent_weights": model.weights, "parent_weights_hash": model.weights_hash(), "data": prepared.data.benchmark,
        "data_version": prepared.data.benchmark_version, "dataset": prepared.data.dataset, "stimulus_ids": prepared.data.used_ids(),
        "config": config.as_record(), "seed": config.train.seed, "d": d, "D": low.D if low else None,
        "curves": result.curves, "initial_val_loss": result.initial_val_loss, "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "resumed_from": result.resumed_from, "trained_parameters": prepared.chosen,
        "held_out": {"score": score, "readout_score": prepared.readout_score, "metric": "mean Pearson r of the readout",
                     **_cost(network, prepared, device_name)},
        "device": device_name, "brainbench_version": __version__,
    }
    new_model.tuned_on = prepared.data.tuned_on()
    return TuningResult(model=new_model, record=record)


def warp(model: Any, benchmark: str, config: FastfoodConfig, *, ds: Sequence[int] | None = None,
         rule: ThresholdRule = ThresholdRule(), device: str | None = None, progress: bool = False,
         on_fit: Callable[[int, float], None] | None = None) -> WarpResult:
    """Sweep d over ``ds`` (default :func:`default_grid` of D), fitting :func:`tune_fastfood`'s way at each, and
    read d_warp off the curve under ``rule`` (module docstring). With ``config.lr_grid``, each d keeps the fit of the
    rate with the lowest validation loss (:func:`_select_fit`). ``on_fit(d, score)`` is called after each d.
    Raises ConfigError for an empty grid, a d < 1 or a d larger than D (named, before any fit)."""
    device_name = pick_device(device)
    prepared = _prepare(model, benchmark, config, device_name)
    named = dict(model.module.named_parameters())
    D = sum(named[n].numel() for n in prepared.chosen)
    grid = sorted(set(ds)) if ds is not None else default_grid(D)
    if not grid:
        raise ConfigError("the d grid is empty; give one or more d (e.g. --d 10,100,1000)")
    bad = [d for d in grid if not isinstance(d, (int, np.integer)) or d < 1 or d > D]
    if bad:
        raise ConfigError(f"d = {bad[0]} is outside 1..D = {D} (the parameters that move: {len(prepared.chosen)} "
                          f"tensors up to {config.layer}); choose d in 1..{D}")
    reference = None
    if rule.kind == "relative":
        if rule.reference == "readout":
            reference = prepared.readout_score
        else:
            _net, reference, _result, _low = _fit(model, prepared, config, None, device_name, progress)
    threshold = rule.value if rule.kind == "absolute" else rule.value * float(reference)
    curve = []
    for d in grid:
        net, score, result, chosen = _select_fit(model, prepared, config, int(d), device_name, progress)
        curve.append({"d": int(d), "score": score, "val_loss": _selection_loss(result, config.train.keep),
                      "epochs": result.epochs_run, **chosen, **_cost(net, prepared, device_name)})
        if on_fit is not None:
            on_fit(int(d), score)
    d_warp = find_d_warp({row["d"]: row["score"] for row in curve}, threshold)
    record = {"config": config.as_record(), "grid": [int(d) for d in grid], "rule": dataclasses.asdict(rule),
              "seed": config.train.seed, "projection_seed": config.projection_seed,
              "stimulus_ids": prepared.data.used_ids(), "parent_weights_hash": model.weights_hash(),
              "brainbench_version": __version__, "device": device_name}
    return WarpResult(model=model.label, benchmark=prepared.data.benchmark, layer=prepared.info.name, D=D,
                      curve=curve, rule=rule, readout_score=prepared.readout_score, reference_score=reference,
                      threshold=threshold, d_warp=d_warp, record=record)
