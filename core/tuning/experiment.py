"""The neural-tuning experiment end to end: does tuning a network toward a brain region change how interpretable its
units are, and what does it cost on the network's own task?

:func:`neural_tuning` tunes ``model`` toward ``benchmark`` twice with Learning without Forgetting
(:func:`~.lwf.tune_lwf`): with the distillation weight ``lambda_`` given (LwF) and with ``lambda_ = 0`` (plain neural
fine-tuning, the control), and reports for the parent and both children:

- the benchmark's held-out score: the readout's mean Pearson r on the held-out stimuli (from the tuning records;
  the parent's is its warm-up ridge readout's, ``parent_score``);
- the original-task cost (:mod:`.cost`): top-1 accuracy on a labelled set whose classes the network's logits are
  (``task="digits"`` or ``"cifar10"``), or, for a parent whose classes no set here maps to (``task="agreement"``,
  the default: an ImageNet network offline), the top-1 agreement with the parent on the held-out stimuli (the
  parent's own is 1 by definition), stated as such;
- the interpretability index of ``layer``'s units (:func:`~brainbench.interpret.measure.measure_interpretability`)
  over a probe set (default: the benchmark's own stimuli) under one image distance (default
  ``efficientnet_lite0-perceptual``, offline), with its tests (:mod:`brainbench.interpret.stats`): Welch's t,
  permutation p and Cohen's d for each pair, a one-way ANOVA and eta squared across the three.

This is the neural-tuning study's table (ResNet-18 on CIFAR-10 tuned toward NSD V4 with LwF: CIFAR-10 accuracy and
II-LPIPS per model, a one-way ANOVA), with the lambda = 0 control beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..checks import check_count
from ..errors import ConfigError
from .cost import AGREEMENT, TASK_SETS, agreement, task_accuracy
from .lwf import LwFConfig, tune_lwf
from .train import TrainConfig

__all__ = ["NeuralTuningResult", "neural_tuning"]

TASKS = ("agreement", *TASK_SETS)


@dataclass
class NeuralTuningResult:
    """The experiment's numbers for ``labels`` (parent, LwF child, lambda = 0 child), each a list in that order:
    ``held_out`` scores, ``task`` dicts (:func:`~.cost.task_accuracy` / :func:`~.cost.agreement`), ``ii`` results
    (:class:`~brainbench.interpret.measure.InterpretabilityResult`); ``pairs`` ``{(i, j): PairComparison}`` (group i
    minus group j, over units' II), the ``anova`` across the three, and the two :class:`TuningResult`\\ s."""

    model: str
    benchmark: str
    layer: str
    lambda_: float
    labels: list[str]
    held_out: list[float]
    task: list[dict[str, Any]]
    ii: list[Any]
    pairs: dict[tuple[int, int], Any]
    anova: Any
    tuned: list[Any] = field(repr=False)
    probe: str = ""

    @property
    def distance(self) -> str:
        """II's image distance: its registered name (or the callable's name)."""
        first = self.ii[0]
        return str(first.provenance.distance if first.provenance else first.distance)

    def rows(self) -> list[dict[str, Any]]:
        """One row per model: label, held-out score, the task measure and value, II mean and sd over units, units."""
        return [{"model": label, "held_out_score": score, "task_measure": task["measure"], "task_value": task["value"],
                 "task_dataset": task["dataset"], "ii_mean": ii.mean, "ii_sd": ii.sd, "units": int(ii.ii.size)}
                for label, score, task, ii in zip(self.labels, self.held_out, self.task, self.ii, strict=True)]

    def as_dict(self) -> dict[str, Any]:
        """Every number, JSON-ready: the rows, each model's per-unit II and normalised II, the pair tests, the
        ANOVA, the II settings and the two tuning records."""
        first = self.ii[0]
        return {
            "model": self.model, "benchmark": self.benchmark, "layer": self.layer, "lambda": self.lambda_,
            "held_out_metric": "mean Pearson r of the readout on the benchmark's held-out stimuli",
            "rows": self.rows(), "task": self.task,
            "ii": {"distance": self.distance,
                   "distance_description": first.distance, "k": first.k, "probe": self.probe,
                   "values": {label: [float(v) for v in r.ii] for label, r in zip(self.labels, self.ii, strict=True)},
                   "normalised": {label: [float(v) for v in r.normalised]
                                  for label, r in zip(self.labels, self.ii, strict=True)},
                   "baseline_mean": [float(r.baseline.mean) for r in self.ii]},
            "pairs": [{"a": self.labels[i], "b": self.labels[j], "difference": p.difference, "welch_t": p.welch_t,
                       "welch_df": p.welch_df, "welch_p": p.welch_p, "permutation_p": p.permutation_p,
                       "n_permutations": p.n_permutations, "cohens_d": p.cohens_d}
                      for (i, j), p in self.pairs.items()],
            "anova": {"f": self.anova.f, "p": self.anova.p, "eta_squared": self.anova.eta_squared},
            "records": {self.labels[1]: self.tuned[0].record, self.labels[2]: self.tuned[1].record},
        }

    def plot(self, path: str | None = None) -> Any:
        """Bars of the held-out score, the task measure and mean II per model, and the per-unit II as violins; the
        matplotlib figure, written to ``path`` (.png or .svg) when given."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 4, figsize=(16, 4.2))
        x = np.arange(len(self.labels))
        colours = ["tab:grey", "tab:blue", "tab:orange"]
        measure = f"{self.task[1]['measure']} ({self.task[1]['dataset']})"
        for ax, values, title in ((axes[0], self.held_out, f"{self.benchmark} held-out r"),
                                  (axes[1], [t["value"] for t in self.task], measure),
                                  (axes[2], [r.mean for r in self.ii], f"mean II ± sd ({self.distance})")):
            ax.bar(x, values, color=colours)
            ax.set_xticks(x, self.labels, rotation=15, ha="right", fontsize=8)
            ax.set_title(title, fontsize=9)
        axes[2].errorbar(x, [r.mean for r in self.ii], yerr=[r.sd for r in self.ii], fmt="none", color="black")
        axes[3].violinplot([r.ii for r in self.ii], positions=x, showextrema=False)
        rng = np.random.default_rng(0)
        for xi, r in zip(x, self.ii, strict=True):
            axes[3].scatter(xi + rng.uniform(-0.08, 0.08, r.ii.size), r.ii, s=6, color="black", alpha=0.5, zorder=3)
        axes[3].set_xticks(x, self.labels, rotation=15, ha="right", fontsize=8)
        axes[3].set_title(f"per-unit II of {self.layer} (ANOVA p = {self.anova.p:.3g})", fontsize=9)
        fig.suptitle(f"{self.model} tuned toward {self.benchmark} (LwF lambda = {self.lambda_:g} and lambda = 0)",
                     fontsize=10)
        fig.tight_layout()
        if path is not None:
            from ..results.plots import save_figure

            save_figure(fig, path)
        return fig


def neural_tuning(model: Any, benchmark: str, layer: str, *, lambda_: float = 1.0, train: TrainConfig | None = None,
                  lwf: dict[str, Any] | None = None, task: str = "agreement", task_root: str | None = None,
                  task_n: int | None = None, probe: Any = None, distance: Any = "efficientnet_lite0-perceptual",
                  k: int = 9, n_units: int | None = None, baseline_sets: int = 100, n_permutations: int = 10_000,
                  seed: int = 0, save: str | None = None, device: str | None = None,
                  progress: bool = False) -> NeuralTuningResult:
    """Run the experiment (module docstring) on ``model`` (a brainbench TorchModel, never changed) toward
    ``benchmark``, reading out at and measuring II on ``layer``. ``train`` is both runs' loop settings (one seed,
    so both see the same minibatches), ``lwf`` further :class:`~.lwf.LwFConfig` fields (``T``, ``pool``,
    ``neural``, ...); ``probe`` a stimulus set (default: the benchmark's stimuli); ``distance``, ``k``, ``n_units``,
    ``baseline_sets`` and ``seed`` go to :func:`~brainbench.interpret.measure.measure_interpretability`;
    ``n_permutations`` to :func:`~brainbench.interpret.stats.compare_pair`. ``save``: a prefix; the children are
    stored as ``<prefix>-lwf`` and ``<prefix>-control`` (:meth:`TuningResult.save`), otherwise not at all.

    Raises, before any training: ConfigError for lambda 0 (that is the control itself), an unknown task, task_n or
    task_root with the task "agreement", a task set whose classes the parent's logits are not, a probe set smaller
    than k, a ``save`` prefix whose names cannot be stored (a bad name, a name taken), LwFConfig's errors; UnknownNameError for an unknown distance or benchmark; then those of
    :func:`~.lwf.tune_lwf`, :func:`~.cost.task_accuracy` and the II measurement."""
    from ..interpret.measure import measure_interpretability
    from ..interpret.stats import compare_groups, compare_pair

    if not (isinstance(lambda_, (int, float)) and lambda_ > 0):
        raise ConfigError(f"lambda must be > 0 for the LwF child (lambda 0 is the control, run beside it); got "
                          f"{lambda_!r}")
    if task not in TASKS:
        raise ConfigError(f"task {task!r} is not one of {', '.join(TASKS)} ('agreement': {AGREEMENT} on the "
                          "benchmark's held-out stimuli, for a parent whose classes no labelled set here has)")
    k = check_count(k, "k (images per unit)", minimum=2)
    options = dict(lwf or {})
    for reserved in ("layer", "lambda_", "train"):
        if reserved in options:
            raise ConfigError(f"give {reserved} as its own argument, not in lwf")
    train = train or TrainConfig()
    configs = [LwFConfig(layer=layer, lambda_=float(lambda_), train=train, **options),
               LwFConfig(layer=layer, lambda_=0.0, train=train, **options)]

    def cost(net: Any, record: dict[str, Any] | None) -> dict[str, Any]:
        if task == "agreement":
            return agreement(record, model=net, parent=model, device=device)
        return task_accuracy(net, task, root=task_root, n=task_n, device=device)

    if task == "agreement" and (task_n is not None or task_root is not None):
        raise ConfigError("task_n and task_root choose the images of a labelled set (task 'digits' or 'cifar10'); "
                          f"the task 'agreement' is measured on the benchmark's held-out stimuli")
    if not callable(distance):  # an unknown distance fails here, before any training
        from ..registry.entries import get_registry

        get_registry("image_distance").get(distance)
    if probe is None:
        from ..registry.catalog import get_benchmark
        from ..registry.entries import get_dataset

        probe = get_dataset(get_benchmark(benchmark).dataset).stimulus_set()
    if save:  # a name that cannot be stored fails here, not after both tunings
        from ..registry.tuning import _check_name

        for suffix in ("lwf", "control"):
            _check_name(f"{save}-{suffix}", False)
    if len(probe) < k:
        raise ConfigError(f"the probe set {probe.identifier} has {len(probe)} images, fewer than k = {k}; give a "
                          "larger probe set or a smaller k")
    parent_task = cost(model, None)  # a task the parent's logits do not map to fails here, before training
    label = model.label
    labels = [label, f"{label} LwF (lambda {float(lambda_):g})", f"{label} lambda 0"]
    tuned = [tune_lwf(model, benchmark, config, name=name, device=device, progress=progress)
             for config, name in zip(configs, (f"{label}-lwf", f"{label}-control"), strict=True)]
    held_out = [float(tuned[0].record["held_out"]["parent_score"])] + [float(t.record["held_out"]["score"])
                                                                      for t in tuned]
    tasks = [parent_task] + [cost(t.model, t.record) for t in tuned]
    nets = [model] + [t.model for t in tuned]
    ii = [measure_interpretability(net, probe, layer, k=k, distance=distance, n_units=n_units,
                                   baseline_sets=baseline_sets, seed=seed, device=device, progress=progress)
          for net in nets]
    values = [r.ii for r in ii]
    pairs = {(i, j): compare_pair(values[i], values[j], n_permutations=n_permutations, seed=seed)
             for i, j in ((1, 0), (2, 0), (1, 2))}
    result = NeuralTuningResult(model=label, benchmark=tuned[0].record["data"], layer=layer, lambda_=float(lambda_),
                                labels=labels, held_out=held_out, task=tasks, ii=ii, pairs=pairs,
                                anova=compare_groups(*values), tuned=tuned, probe=str(probe.identifier))
    if save:
        for t, suffix in zip(tuned, ("lwf", "control"), strict=True):
            t.save(f"{save}-{suffix}", description=f"{label} tuned toward {benchmark} ({suffix}, neural-tuning "
                                                   "experiment)")
    return result
