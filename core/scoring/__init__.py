"""Turning a model and a benchmark into a score: the scorer's steps, target preparation, ceiling rules,
splits, held-out data, inference statistics and paired model comparison. Imports everything below it
(extraction, rdm, encoding, results, registry, data, base)."""
