"""Looking inside units: the interpretability index (II) of Klindt et al. 2023 and its parts.

- :mod:`~brainbench.interpret.topk`: each unit's top-k maximally exciting images (MEIs), streamed over a probe set
  in batches, so memory depends on units x k, never on the probe set's size;
- :mod:`~brainbench.interpret.index`: II as the mean similarity over the k(k-1)/2 distinct pairs of a unit's MEIs,
  with its baseline (the same statistic over random k-image sets of the same probe set) and the index
  normalised against it;
- :mod:`~brainbench.interpret.stats`: comparing two or more models' or layers' per-unit II (Welch's t, one-way
  ANOVA, a permutation test, effect sizes);
- :mod:`~brainbench.interpret.visualize`: feature visualisation by optimisation for a unit, a channel, a direction
  or an encoding model's neuroid (torch).

The statistics (``topk``, ``index``, ``stats``) import the base modules only (numpy and scipy); the similarity
functions (LPIPS and others) are passed in. ``visualize`` needs torch, and reads benchmarks through the registry.
"""
