"""Alembic migrations of the results store's schema (run by :mod:`brainbench.results.schema`, no alembic.ini):
``versions/0001`` the tables results and interpretability, ``0002`` the regeneration tables runs, cells, failures and
snapshots, ``0003`` the per-unit values of a result in a binary column (:mod:`brainbench.results.compact`), ``0004``
hash, version and key columns 255 characters wide (PostgreSQL enforces widths SQLite ignored).

A change to the tables of :mod:`brainbench.results.store` is a new revision here (``down_revision`` the last one,
:data:`brainbench.results.schema.HEAD` moved to it); tests/results/test_migrations.py checks that the migrated schema
and the store's tables agree on both backends."""
