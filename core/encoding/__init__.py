"""Encoding models as array kernels (torch, any device): ridge with leave-one-out alpha choice, PLS,
least squares, CKA, the statistics of a layer's feature space, and the one step every encoding metric runs
before its kernel (:mod:`brainbench.encoding.align`). Imports :mod:`brainbench.registry`,
:mod:`brainbench.data` and the base modules."""
