"""The results store's schema: Alembic migrations (:mod:`brainbench.results.migrations`) run from code, under a lock,
when a store is opened.

A store is brought to :data:`HEAD` once, whoever opens it first, in one transaction (a crash leaves the store as it
was) under a lock across processes: on PostgreSQL a transaction-level advisory lock (``pg_advisory_xact_lock``), on
SQLite the database's own write lock (``BEGIN IMMEDIATE``). A store already at head is only read. A store with no
``alembic_version`` table but with brainbench's tables (written before migrations, by ``create_all``) is recognised
from its tables and columns, stamped, and upgraded. A store stamped with a revision this brainbench does not know was
written by a newer brainbench: :class:`ResultsStoreError`, nothing written.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, MetaData, create_engine, event, inspect, text
from sqlalchemy.engine import Connection

from ..errors import ResultsStoreError

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["HEAD", "current_revision", "known_revisions", "open_schema", "recognise"]

HEAD = "0004"
MIGRATIONS = Path(__file__).with_name("migrations")
_LOCK_KEY = 0x6272_6E62  # "brnb": the advisory lock every brainbench process migrating a PostgreSQL store takes
_V1 = {"results", "interpretability"}
_V2 = {"runs", "cells", "failures", "snapshots"}


def _config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def known_revisions() -> tuple[str, ...]:
    """The revisions this brainbench ships, oldest first (``("0001", "0002", "0003", "0004")``)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_config())
    return tuple(reversed([rev.revision for rev in script.walk_revisions()]))


def current_revision(conn: Connection) -> str | None:
    """The revision stamped in ``alembic_version``, or None where the table is absent (a fresh store, or one written
    before migrations)."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def recognise(conn: Connection) -> str | None:
    """The revision an unstamped store's tables match: None for no brainbench table (a fresh store), ``"0001"`` for
    results and interpretability, ``"0002"`` with runs, cells, failures and snapshots too, ``"0003"`` where
    ``results`` has the ``neuroid_values`` column (0004 changed only column widths, which are not read back here: such
    a store is taken as 0003 and widened again, harmlessly). Tables of the recognised revision that are missing (a
    store from before interpretability had only ``results``) are created by :func:`open_schema`; a store with
    brainbench's later tables but no ``results`` table matches nothing: ResultsStoreError."""
    tables = set(inspect(conn).get_table_names())
    if not tables & (_V1 | _V2):
        return None
    if "results" not in tables:
        raise ResultsStoreError(f"the results store has tables {sorted(tables & (_V1 | _V2))} but no 'results' "
                                "table: it matches no brainbench schema; point --db (or BRAINBENCH_DB) at another "
                                "database, or restore its results table")
    columns = {c["name"] for c in inspect(conn).get_columns("results")}
    if "neuroid_values" in columns:
        return "0003"
    return "0002" if tables & _V2 else "0001"


def _newer(url: str, revision: str) -> ResultsStoreError:
    return ResultsStoreError(
        f"the results store {url} was written by a newer brainbench (schema revision {revision!r}; this brainbench "
        f"knows {', '.join(known_revisions())}, head {HEAD}); upgrade brainbench (pip install -U brainbench) to use "
        "it, or point --db (or BRAINBENCH_DB) at another database. Nothing was written.")


def _migration_engine(engine: Engine) -> Engine:
    """An engine for the upgrade. SQLite gets real transactions, DDL included (pysqlite's own handling would commit
    DDL at once), begun with ``BEGIN IMMEDIATE``: that takes the database's write lock, so processes upgrading the
    same file at once wait for each other (up to 600 s), and an interrupted upgrade leaves the store as it was."""
    if engine.dialect.name != "sqlite":
        return engine
    migrating = create_engine(engine.url, connect_args={"timeout": 600.0})

    @event.listens_for(migrating, "connect")
    def _autocommit_driver(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # foreign keys stay off: a batch migration copies a table

    @event.listens_for(migrating, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return migrating


def open_schema(engine: Engine, metadata: MetaData, *, url: str | None = None) -> str:
    """Bring the store behind ``engine`` to :data:`HEAD` (once, under the lock; ``metadata``: the store's tables, from
    which a store written before migrations gets the tables of its revision that it lacks) and return the revision it
    was at before (``"base"`` for a fresh store, the recognised one for a store written before migrations). Raises
    ResultsStoreError for a store written by a newer brainbench (nothing written) or one whose tables match no
    revision; database errors propagate (:class:`sqlalchemy.exc.DBAPIError`, turned into ResultsStoreError by the
    store)."""
    shown = url or engine.url.render_as_string(hide_password=True)
    known = known_revisions()
    with engine.connect() as conn:  # the look without a lock: a store at head (the usual case) is read only
        found = current_revision(conn)
    if found == HEAD:
        return HEAD
    if found is not None and found not in known:
        raise _newer(shown, found)
    migrating = _migration_engine(engine)
    try:
        with migrating.begin() as conn:  # SQLite: BEGIN IMMEDIATE, the database's own write lock
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            found = current_revision(conn)  # again, under the lock: another process may have migrated meanwhile
            if found is not None and found not in known:
                raise _newer(shown, found)
            from alembic import command

            config = _config(conn)
            stamped = found is not None
            if not stamped:
                found = recognise(conn)
                if found is not None:  # written before migrations: complete its revision's tables, then stamp it
                    _create_missing(conn, metadata, found)
                    command.stamp(config, found)
            before = found or "base"
            if found != HEAD:
                command.upgrade(config, HEAD)
            return before
    finally:
        if migrating is not engine:
            migrating.dispose()


def _create_missing(conn: Connection, metadata: MetaData, revision: str) -> None:
    """Create the tables of ``revision`` that an unstamped store lacks, from ``metadata`` (the store's definitions;
    the migrations after ``revision`` then bring them to head like the rest)."""
    wanted = _V1 | (_V2 if revision >= "0002" else set())
    metadata.create_all(conn, tables=[metadata.tables[name] for name in sorted(wanted)], checkfirst=True)
