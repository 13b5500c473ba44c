"""Tuning a network toward the brain (issue 22, being built): :mod:`~brainbench.tuning.fastfood`, the Fastfood
low-dimensional reparameterisation (theta = theta_0 + P z) that ``brainbench tune fastfood`` and ``brainbench warp``
train through.

Imports torch, the base modules and the folders below it (scoring, interpret, extraction, encoding, results,
registry, data)."""
