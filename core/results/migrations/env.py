"""Alembic's environment for the results store: always given a live connection by
:func:`brainbench.results.schema.open_schema` (``config.attributes["connection"]``), which holds the migration lock
and commits; never run offline (``--sql``)."""

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("the results store's migrations run through brainbench.results.schema.open_schema, which passes "
                       "a connection; they are not run from the alembic command line")
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
