"""A result's per-unit values (``ScoreResult.neuroids``) move from ``result_json`` to the binary column
``results.neuroid_values`` (:mod:`brainbench.results.compact`); rows already stored are converted, in batches of
500, in the migration's transaction (a crash leaves the store at 0002, untouched).

Revision ID: 0003
Revises: 0002
"""

import json

import sqlalchemy as sa
from alembic import op

from brainbench.results.compact import pack, unpack

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_results = sa.table("results", sa.column("id", sa.Integer), sa.column("result_json", sa.Text),
                    sa.column("neuroid_values", sa.LargeBinary))
_BATCH = 500


def _convert(forward: bool) -> None:
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(sa.select(_results.c.id, _results.c.result_json, _results.c.neuroid_values)
                            .where(_results.c.id > last).order_by(_results.c.id).limit(_BATCH)).all()
        if not rows:
            return
        for row_id, text, blob in rows:
            data = json.loads(text)
            if forward and blob is None and data.get("neuroids"):
                neuroids, data["neuroids"] = data["neuroids"], {}
                bind.execute(sa.update(_results).where(_results.c.id == row_id)
                             .values(result_json=json.dumps(data, ensure_ascii=False, separators=(",", ":")),
                                     neuroid_values=pack(neuroids)))
            elif not forward and blob is not None:
                data["neuroids"] = unpack(blob)
                bind.execute(sa.update(_results).where(_results.c.id == row_id)
                             .values(result_json=json.dumps(data, ensure_ascii=False, separators=(",", ":"))))
        last = rows[-1][0]


def upgrade() -> None:
    op.add_column("results", sa.Column("neuroid_values", sa.LargeBinary, nullable=True))
    _convert(forward=True)


def downgrade() -> None:
    _convert(forward=False)
    with op.batch_alter_table("results") as batch:  # SQLite drops a column by copying the table
        batch.drop_column("neuroid_values")
