"""Hash, version and key columns 255 characters wide (they were 16 to 64): SQLite never enforced those lengths, but
PostgreSQL does, and a hash such as ``"sha256:<64 hex>"`` (71 characters, the form tuned models and stored SAEs use
elsewhere) could not be written there.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

WIDENED = {
    "results": {"weights_hash": 64, "benchmark_version": 32, "metric_version": 32, "brainbench_version": 32},
    "interpretability": {"weights_hash": 64, "probe_hash": 64, "distance_version": 32, "readout": 32,
                         "brainbench_version": 32},
    "runs": {"status": 16, "brainbench_version": 32},
    "cells": {"cell_key": 64},
    "failures": {"cell_key": 64},
}


def _alter(wide: bool) -> None:
    for table, columns in WIDENED.items():
        with op.batch_alter_table(table) as batch:  # SQLite: the table copied with the new types; elsewhere ALTER
            for column, narrow in columns.items():
                old, new = (narrow, 255) if wide else (255, narrow)
                batch.alter_column(column, type_=sa.String(new), existing_type=sa.String(old))


def upgrade() -> None:
    _alter(wide=True)


def downgrade() -> None:
    _alter(wide=False)
