"""The results store: SQLAlchemy; a SQLite file in the data home unless ``BRAINBENCH_DB`` names a URL (PostgreSQL
through psycopg2: ``postgresql://user:password@host:5432/dbname``).

Each result is written in one transaction, so a crash or a concurrent writer never leaves a
half-written row; SQLite writers wait for each other up to ``timeout`` seconds. The schema is Alembic's
(:mod:`brainbench.results.schema`): opening a store upgrades it to the head revision, once, under a lock.
A result's per-unit values are kept in a binary column (:mod:`brainbench.results.compact`), not in its JSON.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import (Column, Float, ForeignKey, Integer, LargeBinary, MetaData, String, Table, Text,
                        UniqueConstraint, create_engine, event, insert, select, update)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from ..errors import ResultsStoreError
from ..names import matches
from .compact import pack, unpack
from .result import ScoreResult

if TYPE_CHECKING:
    from .interpretability import InterpretabilityRecord

__all__ = ["DB_ENV", "II_SUMMARY", "ResultsStore", "default_url"]

DB_ENV = "BRAINBENCH_DB"
_metadata = MetaData()
results_table = Table(
    "results",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created", String(40), nullable=False),
    Column("model", String(255), nullable=False, index=True),
    Column("weights", String(255), nullable=False),
    Column("weights_hash", String(255), nullable=False),
    Column("benchmark", String(255), nullable=False, index=True),
    Column("benchmark_version", String(255), nullable=False),
    Column("metric", String(255), nullable=False),
    Column("metric_version", String(255), nullable=False),
    Column("layer", String(255), nullable=False),
    Column("raw", Float, nullable=False),
    Column("ceiling", Float),
    Column("normalised", Float),
    Column("brainbench_version", String(255), nullable=False),
    Column("result_json", Text, nullable=False),  # the ScoreResult without its per-unit values ("neuroids": {})
    Column("neuroid_values", LargeBinary),  # its per-unit values (compact.pack); NULL where result_json holds them
)
SUMMARY = ("id", "created", "model", "benchmark", "metric", "layer", "raw", "ceiling", "normalised")
interpretability_table = Table(
    "interpretability",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created", String(40), nullable=False),
    Column("model", String(255), nullable=False, index=True),
    Column("weights_hash", String(255), nullable=False),
    Column("layer", String(255), nullable=False),
    Column("probe", String(255), nullable=False),
    Column("probe_hash", String(255), nullable=False),
    Column("distance", String(255), nullable=False),
    Column("distance_version", String(255), nullable=False),
    Column("k", Integer, nullable=False),
    Column("readout", String(255), nullable=False),
    Column("n_units", Integer, nullable=False),
    Column("ii_mean", Float, nullable=False),
    Column("ii_sd", Float, nullable=False),
    Column("baseline_mean", Float, nullable=False),
    Column("normalised_mean", Float, nullable=False),
    Column("brainbench_version", String(255), nullable=False),
    Column("result_json", Text, nullable=False),
)
# The tables as of the head revision (brainbench.results.schema.HEAD); a change here is a new migration in
# core/results/migrations/versions.
# Leaderboard regeneration (brainbench leaderboard regenerate): runs, the cells each computed (one row per cell and
# run, unique: a cell rerun after a worker died never stores a second result), failures with their traceback, and
# snapshots of a board as it was shown.
runs_table = Table(
    "runs",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created", String(40), nullable=False),
    Column("finished", String(40)),
    Column("leaderboard", String(255)),
    Column("status", String(255), nullable=False),  # running | done | interrupted
    Column("host", String(255), nullable=False),
    Column("brainbench_version", String(255), nullable=False),
    Column("n_planned", Integer, nullable=False),
    Column("options_json", Text, nullable=False),
)
cells_table = Table(
    "cells",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False, index=True),
    Column("cell_key", String(255), nullable=False),
    Column("result_id", Integer, ForeignKey("results.id"), nullable=False),
    Column("model", String(255), nullable=False),
    Column("benchmark", String(255), nullable=False),
    Column("created", String(40), nullable=False),
    UniqueConstraint("run_id", "cell_key", name="uq_cells_run_cell"),
)
failures_table = Table(
    "failures",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id"), index=True),
    Column("cell_key", String(255), nullable=False),
    Column("model", String(255), nullable=False, index=True),
    Column("benchmark", String(255), nullable=False, index=True),
    Column("created", String(40), nullable=False),
    Column("error", Text, nullable=False),  # "ExceptionType: message"
    Column("traceback", Text, nullable=False),
)
snapshots_table = Table(
    "snapshots",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("leaderboard", String(255), nullable=False, index=True),
    Column("created", String(40), nullable=False),
    Column("run_id", Integer, ForeignKey("runs.id")),
    Column("board_json", Text, nullable=False),
)
II_SUMMARY = ("id", "created", "model", "layer", "probe", "distance", "k", "readout", "n_units", "ii_mean", "ii_sd",
              "baseline_mean", "normalised_mean")


def default_url() -> str:
    from ..data.home import data_home

    return os.environ.get(DB_ENV) or f"sqlite:///{data_home() / 'results.sqlite'}"


class ResultsStore:
    """Stored :class:`ScoreResult` rows, and interpretability indices
    (:class:`~brainbench.results.interpretability.InterpretabilityRecord`, table ``interpretability``); ``url`` is
    any SQLAlchemy database URL. ``timeout``: seconds a SQLite writer waits for another's lock;
    ``connect_timeout``: seconds to reach a database server (PostgreSQL) before a ResultsStoreError says which URL
    and what to check. The first use upgrades the store's schema to the head revision
    (:func:`brainbench.results.schema.open_schema`)."""

    def __init__(self, url: str | None = None, *, timeout: float = 30.0, connect_timeout: int = 10):
        self.url = url or default_url()
        self.connect_timeout = connect_timeout
        kwargs: dict[str, Any] = {}
        try:
            parsed = make_url(self.url)
            if parsed.drivername == "postgresql":  # no driver named: psycopg2 (SQLAlchemy 2.1 would pick psycopg)
                parsed = parsed.set(drivername="postgresql+psycopg2")
            if parsed.get_backend_name() == "sqlite":
                kwargs["connect_args"] = {"timeout": timeout}
            elif parsed.get_dialect().driver == "psycopg2":
                kwargs["connect_args"] = {"connect_timeout": max(1, int(connect_timeout))}
            self.engine = create_engine(parsed, **kwargs)
        except (SQLAlchemyError, ValueError, ImportError) as exc:
            shown = _hide_password(self.url)
            raise ResultsStoreError(f"bad results database URL {shown!r}: {exc}; set {DB_ENV} to a SQLAlchemy URL "
                                    "(sqlite:///path/results.sqlite, postgresql://user:password@host:5432/db)"
                                    ) from None
        if self.url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._ready = False

    @property
    def shown_url(self) -> str:
        """The URL as messages show it (any password as ``***``)."""
        return _hide_password(self.url)

    def _ensure_schema(self) -> None:
        if not self._ready:
            from .schema import open_schema

            with self._errors("open"):
                open_schema(self.engine, _metadata, url=self.shown_url)
            self._ready = True

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn database errors into a :class:`ResultsStoreError` that says why and what to do."""
        try:
            yield
        except DBAPIError as exc:
            text = " ".join(str(exc.orig or exc).split())  # one line: drivers add a hint on a second
            lowered = text.lower()
            if "readonly" in lowered or "read-only" in lowered:
                why = "it is read-only"
            elif "locked" in lowered or "busy" in lowered:
                why = "another process holds a lock on it (waited for the timeout); retry, or use another database"
            elif "unable to open" in lowered:
                why = "the file cannot be opened (missing directory or no permission)"
            elif any(s in lowered for s in _UNREACHABLE):
                why = (f"the database server cannot be reached (gave up after connect_timeout={self.connect_timeout} s:"
                       f" {text}); check the host and port in the URL, that the server runs and accepts "
                       "connections from this machine, and the user name and password")
            else:
                why = text
            raise ResultsStoreError(
                f"cannot {action} the results store {self.shown_url}: {why}. "
                f"Point {DB_ENV} (or --db) at a writable database; nothing was written."
            ) from None

    def add(self, result: ScoreResult) -> int:
        """Write one result in one transaction; returns its row id."""
        self._ensure_schema()
        with self._errors("write to"), self.engine.begin() as conn:
            return int(conn.execute(insert(results_table).values(**self._row(result))).inserted_primary_key[0])

    @staticmethod
    def _row(result: ScoreResult) -> dict[str, Any]:
        p = result.provenance
        return {
            "created": p.created, "model": result.model, "weights": p.weights, "weights_hash": p.weights_hash,
            "benchmark": result.benchmark, "benchmark_version": p.benchmark_version, "metric": result.metric,
            "metric_version": p.metric_version, "layer": result.layer, "raw": result.raw, "ceiling": result.ceiling,
            "normalised": result.normalised, "brainbench_version": p.brainbench_version,
            "result_json": result.model_copy(update={"neuroids": {}}).to_json(),
            "neuroid_values": pack(result.neuroids),
        }

    def rows(
        self,
        model: str | Iterable[str] | None = None,
        benchmark: str | Iterable[str] | None = None,
        *,
        latest: bool = True,
    ) -> list[dict[str, Any]]:
        """Summary rows filtered by fnmatch patterns; ``latest`` keeps the newest per (model, benchmark, metric)."""
        self._ensure_schema()
        columns = [results_table.c[name] for name in SUMMARY]
        with self._errors("read"), self.engine.connect() as conn:
            found = [dict(r._mapping) for r in conn.execute(select(*columns).order_by(results_table.c.id))]
        found = [r for r in found if matches(r["model"], model) and matches(r["benchmark"], benchmark)]
        if latest:
            newest = {(r["model"], r["benchmark"], r["metric"]): r for r in found}
            found = sorted(newest.values(), key=lambda r: r["id"])
        return found

    def get(self, row_id: int) -> ScoreResult:
        self._ensure_schema()
        with self._errors("read"), self.engine.connect() as conn:
            row = conn.execute(select(results_table.c.result_json, results_table.c.neuroid_values)
                               .where(results_table.c.id == row_id)).first()
        if row is None:
            raise ResultsStoreError(f"no result with id {row_id} in {self.shown_url}; list them with "
                                    "`brainbench results`")
        data = json.loads(row.result_json)
        if row.neuroid_values is not None:
            data["neuroids"] = unpack(row.neuroid_values)
        return ScoreResult.model_validate(data)


    def add_interpretability(self, record: InterpretabilityRecord) -> int:
        """Write one II record (all its units, in one transaction: never half a layer); returns its row id."""
        self._ensure_schema()
        p = record.provenance
        row = {
            "created": p.created, "model": record.model, "weights_hash": p.weights_hash, "layer": record.layer,
            "probe": p.probe, "probe_hash": p.probe_hash, "distance": p.distance, "distance_version": p.distance_version,
            "k": p.k, "readout": p.readout, "n_units": len(record.units), "ii_mean": record.ii_mean,
            "ii_sd": record.ii_sd, "baseline_mean": record.baseline_mean, "normalised_mean": record.normalised_mean,
            "brainbench_version": p.brainbench_version, "result_json": record.to_json(),
        }
        with self._errors("write to"), self.engine.begin() as conn:
            return int(conn.execute(insert(interpretability_table).values(**row)).inserted_primary_key[0])

    def interpretability_rows(self, model: str | Iterable[str] | None = None, layer: str | Iterable[str] | None = None,
                              *, latest: bool = True) -> list[dict[str, Any]]:
        """II summary rows (:data:`II_SUMMARY`) filtered by fnmatch patterns on model and layer; ``latest`` keeps
        the newest per (model, layer, probe, distance, k, readout)."""
        self._ensure_schema()
        columns = [interpretability_table.c[name] for name in II_SUMMARY]
        with self._errors("read"), self.engine.connect() as conn:
            found = [dict(r._mapping) for r in conn.execute(select(*columns).order_by(interpretability_table.c.id))]
        found = [r for r in found if matches(r["model"], model) and matches(r["layer"], layer)]
        if latest:
            newest = {(r["model"], r["layer"], r["probe"], r["distance"], r["k"], r["readout"]): r for r in found}
            found = sorted(newest.values(), key=lambda r: r["id"])
        return found

    def get_interpretability(self, row_id: int) -> InterpretabilityRecord:
        """The stored II record ``row_id``; a ResultsStoreError when there is none."""
        from .interpretability import InterpretabilityRecord

        self._ensure_schema()
        with self._errors("read"), self.engine.connect() as conn:
            text = conn.execute(select(interpretability_table.c.result_json)
                                .where(interpretability_table.c.id == row_id)).scalar()
        if text is None:
            raise ResultsStoreError(f"no interpretability result with id {row_id} in {self.shown_url}; list them "
                                    "with `brainbench results --ii`")
        return InterpretabilityRecord.from_json(text)


    # -- leaderboard regeneration ---------------------------------------------------------------------------------

    def start_run(self, *, leaderboard: str | None, n_planned: int, options: dict[str, Any] | None = None) -> int:
        """Record a regeneration run (status ``running``); returns its id."""
        import json
        import socket

        from .._version import __version__

        self._ensure_schema()
        row = {"created": _now(), "leaderboard": leaderboard, "status": "running", "host": socket.gethostname(),
               "brainbench_version": __version__, "n_planned": int(n_planned),
               "options_json": json.dumps(options or {}, sort_keys=True)}
        with self._errors("write to"), self.engine.begin() as conn:
            return int(conn.execute(insert(runs_table).values(**row)).inserted_primary_key[0])

    def finish_run(self, run_id: int, status: str = "done") -> None:
        """Mark run ``run_id`` finished with ``status`` (``done`` or ``interrupted``)."""
        self._ensure_schema()
        with self._errors("write to"), self.engine.begin() as conn:
            conn.execute(update(runs_table).where(runs_table.c.id == run_id).values(status=status, finished=_now()))

    def add_cell(self, result: ScoreResult, *, run_id: int, cell_key: str) -> tuple[int, bool]:
        """Store the result of one leaderboard cell of run ``run_id``: the result row and its ``cells`` row in one
        transaction. Returns ``(result_id, written)``; when the run already stored this cell (a rerun after a worker
        died), nothing is written and the stored result's id comes back with ``written=False``: never a duplicate."""
        self._ensure_schema()
        existing = self.cell_result(run_id, cell_key)
        if existing is not None:
            return existing, False
        row = self._row(result)
        try:
            with self._errors("write to"), _integrity_passes(), self.engine.begin() as conn:
                result_id = int(conn.execute(insert(results_table).values(**row)).inserted_primary_key[0])
                conn.execute(insert(cells_table).values(run_id=run_id, cell_key=cell_key, result_id=result_id,
                                                        model=result.model, benchmark=result.benchmark,
                                                        created=_now()))
            return result_id, True
        except _Integrity as exc:  # a concurrent writer stored the same cell first; this transaction rolled back
            found = self.cell_result(run_id, cell_key)
            if found is None:  # not the unique cell: another constraint, most likely the run's foreign key
                with self._errors("read"), self.engine.connect() as conn:
                    run_known = conn.execute(select(runs_table.c.id).where(runs_table.c.id == run_id)).scalar()
                why = f"the store has no run {run_id}; start the run with start_run() first" if run_known is None \
                    else f"the database refused it ({exc})"
                raise ResultsStoreError(f"cannot store cell {cell_key!r} of run {run_id} in {self.shown_url}: {why}. "
                                        "Nothing was written.") from None
            return found, False

    def cell_result(self, run_id: int, cell_key: str) -> int | None:
        """The result id run ``run_id`` stored for cell ``cell_key`` (a task rerun after its worker died), or None."""
        self._ensure_schema()
        with self._errors("read"), self.engine.connect() as conn:
            return conn.execute(select(cells_table.c.result_id).where(
                (cells_table.c.run_id == run_id) & (cells_table.c.cell_key == cell_key))).scalar()

    def add_failure(self, *, run_id: int | None, cell_key: str, model: str, benchmark: str, error: BaseException | str,
                    traceback: str) -> int:
        """Record a failed cell with its error (``"Type: message"``) and full traceback; returns the row id."""
        self._ensure_schema()
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        with self._errors("write to"), self.engine.begin() as conn:
            return int(conn.execute(insert(failures_table).values(
                run_id=run_id, cell_key=cell_key, model=model, benchmark=benchmark, created=_now(), error=text,
                traceback=traceback)).inserted_primary_key[0])

    def failures(self, model: str | Iterable[str] | None = None, benchmark: str | Iterable[str] | None = None,
                 *, latest: bool = True) -> list[dict[str, Any]]:
        """Failure rows filtered by fnmatch patterns; ``latest`` keeps the newest per (model, benchmark)."""
        self._ensure_schema()
        with self._errors("read"), self.engine.connect() as conn:
            found = [dict(r._mapping) for r in conn.execute(select(failures_table).order_by(failures_table.c.id))]
        found = [r for r in found if matches(r["model"], model) and matches(r["benchmark"], benchmark)]
        if latest:
            found = sorted({(r["model"], r["benchmark"]): r for r in found}.values(), key=lambda r: r["id"])
        return found

    def add_snapshot(self, leaderboard: str, board_json: str, *, run_id: int | None = None) -> int:
        """Keep a board as shown (its JSON, :meth:`brainbench.results.board.Board.to_json`); returns the row id."""
        self._ensure_schema()
        with self._errors("write to"), self.engine.begin() as conn:
            return int(conn.execute(insert(snapshots_table).values(
                leaderboard=leaderboard, created=_now(), run_id=run_id, board_json=board_json)).inserted_primary_key[0])


class _Integrity(Exception):
    """A constraint refused a write (carried past :meth:`ResultsStore._errors`, which turns database errors into
    ResultsStoreError, to the caller that knows what the constraint means)."""


@contextmanager
def _integrity_passes() -> Iterator[None]:
    try:
        yield
    except IntegrityError as exc:
        raise _Integrity(" ".join(str(exc.orig or exc).split())) from None


def _hide_password(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (SQLAlchemyError, ValueError):
        return url


# What drivers say when the server is not there (psycopg2/libpq: refused, timed out, unknown host).
_UNREACHABLE = ("could not connect", "connection refused", "timeout expired", "could not translate host name",
                "name or service not known", "no route to host", "network is unreachable", "connection timed out")


def _now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")

def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
