"""The results store as brainbench wrote it before the regeneration tables (``create_all`` up to bf2677e): one
ScoreResult per row of ``results``, one interpretability record per row of ``interpretability``.

Revision ID: 0001
Revises: (none)
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "results",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created", sa.String(40), nullable=False),
        sa.Column("model", sa.String(255), nullable=False, index=True),
        sa.Column("weights", sa.String(255), nullable=False),
        sa.Column("weights_hash", sa.String(64), nullable=False),
        sa.Column("benchmark", sa.String(255), nullable=False, index=True),
        sa.Column("benchmark_version", sa.String(32), nullable=False),
        sa.Column("metric", sa.String(255), nullable=False),
        sa.Column("metric_version", sa.String(32), nullable=False),
        sa.Column("layer", sa.String(255), nullable=False),
        sa.Column("raw", sa.Float, nullable=False),
        sa.Column("ceiling", sa.Float),
        sa.Column("normalised", sa.Float),
        sa.Column("brainbench_version", sa.String(32), nullable=False),
        sa.Column("result_json", sa.Text, nullable=False),
    )
    op.create_table(
        "interpretability",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created", sa.String(40), nullable=False),
        sa.Column("model", sa.String(255), nullable=False, index=True),
        sa.Column("weights_hash", sa.String(64), nullable=False),
        sa.Column("layer", sa.String(255), nullable=False),
        sa.Column("probe", sa.String(255), nullable=False),
        sa.Column("probe_hash", sa.String(64), nullable=False),
        sa.Column("distance", sa.String(255), nullable=False),
        sa.Column("distance_version", sa.String(32), nullable=False),
        sa.Column("k", sa.Integer, nullable=False),
        sa.Column("readout", sa.String(32), nullable=False),
        sa.Column("n_units", sa.Integer, nullable=False),
        sa.Column("ii_mean", sa.Float, nullable=False),
        sa.Column("ii_sd", sa.Float, nullable=False),
        sa.Column("baseline_mean", sa.Float, nullable=False),
        sa.Column("normalised_mean", sa.Float, nullable=False),
        sa.Column("brainbench_version", sa.String(32), nullable=False),
        sa.Column("result_json", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("interpretability")
    op.drop_table("results")
