"""Encoding models as array kernels (torch, any device): ridge with leave-one-out alpha choice, PLS,
least squares, CKA, and the statistics of a layer's feature space. Imports :mod:`brainbench.registry`,
:mod:`brainbench.data` and the base modules."""
