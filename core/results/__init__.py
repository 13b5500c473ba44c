"""Scores once computed: the score result, the results store (SQLite or any SQLAlchemy URL), leaderboards
and plots. Imports :mod:`brainbench.registry`, :mod:`brainbench.data` and the base modules."""
