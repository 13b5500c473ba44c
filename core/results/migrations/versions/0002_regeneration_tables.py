"""Leaderboard regeneration (4288615): runs, the cells each run computed (unique per run and cell key), failures with
their traceback, snapshots of boards.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created", sa.String(40), nullable=False),
        sa.Column("finished", sa.String(40)),
        sa.Column("leaderboard", sa.String(255)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("brainbench_version", sa.String(32), nullable=False),
        sa.Column("n_planned", sa.Integer, nullable=False),
        sa.Column("options_json", sa.Text, nullable=False),
    )
    op.create_table(
        "cells",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False, index=True),
        sa.Column("cell_key", sa.String(64), nullable=False),
        sa.Column("result_id", sa.Integer, sa.ForeignKey("results.id"), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("benchmark", sa.String(255), nullable=False),
        sa.Column("created", sa.String(40), nullable=False),
        sa.UniqueConstraint("run_id", "cell_key", name="uq_cells_run_cell"),
    )
    op.create_table(
        "failures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), index=True),
        sa.Column("cell_key", sa.String(64), nullable=False),
        sa.Column("model", sa.String(255), nullable=False, index=True),
        sa.Column("benchmark", sa.String(255), nullable=False, index=True),
        sa.Column("created", sa.String(40), nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("traceback", sa.Text, nullable=False),
    )
    op.create_table(
        "snapshots",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("leaderboard", sa.String(255), nullable=False, index=True),
        sa.Column("created", sa.String(40), nullable=False),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id")),
        sa.Column("board_json", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in ("snapshots", "failures", "cells", "runs"):
        op.drop_table(table)
