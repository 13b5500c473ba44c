"""The results store's Alembic migrations on both backends: fresh stores, stores written before migrations (real
files written by main's own store code, tests/results/data/make_legacy_stores.py), the data migration of per-unit
values (0003) and back, several processes opening one store at once, a store from a newer brainbench."""

import json
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, inspect, select, text

from brainbench import ResultsStoreError, ScoreResult
from brainbench.results.interpretability import InterpretabilityRecord
from brainbench.results.schema import HEAD, known_revisions
from brainbench.results.store import ResultsStore, _metadata

DATA = Path(__file__).parent / "data"
MAIN_STORE = DATA / "store_0002_main.sqlite"  # core/results/store.py at 4288615: six tables, create_all, no alembic
V1_STORE = DATA / "store_0001.sqlite"  # core/results/store.py at bf2677e: results and interpretability only
TABLES_0002 = ["results", "interpretability", "runs", "cells", "failures", "snapshots"]


def _legacy_rows(path):
    """{table: [row dicts]} of a legacy SQLite file, read with sqlite3 (not brainbench)."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    out = {name: [dict(r) for r in conn.execute(f"SELECT * FROM {name} ORDER BY id")] for name in names}
    conn.close()
    return out


def _legacy_store(path, store_url, tmp_path):
    """The legacy store at ``path`` on the backend of ``store_url``: the file copied (SQLite), or (PostgreSQL) its
    tables made as that code made them (the migrations up to the revision it matches, then alembic_version dropped:
    no trace of Alembic) and every row copied."""
    if store_url.startswith("sqlite"):
        copy = tmp_path / path.name
        shutil.copy(path, copy)
        return f"sqlite:///{copy}"
    from alembic import command

    from brainbench.results.schema import _config

    rows = _legacy_rows(path)
    revision = "0002" if "runs" in rows else "0001"
    engine = create_engine(store_url)
    with engine.begin() as conn:
        command.upgrade(_config(conn), revision)
        conn.execute(text("DROP TABLE alembic_version"))
    with engine.begin() as conn:
        for name in TABLES_0002:
            if rows.get(name):
                table = _metadata.tables[name]
                conn.execute(insert(table), [{k: v for k, v in r.items()} for r in rows[name]])
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                  f"(SELECT max(id) FROM {name}))"))
    engine.dispose()
    return store_url


def _revision(url):
    engine = create_engine(url)
    with engine.connect() as conn:
        found = [r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))]
    engine.dispose()
    return found


@pytest.mark.parametrize("legacy", [MAIN_STORE, V1_STORE], ids=["main-0002", "v1-0001"])
def test_a_store_written_before_migrations_is_recognised_stamped_and_converted(legacy, store_url, tmp_path,
                                                                                generator_results):
    rows = _legacy_rows(legacy)
    url = _legacy_store(legacy, store_url, tmp_path)
    store = ResultsStore(url)
    assert [r["id"] for r in store.rows(latest=False)] == [r["id"] for r in rows["results"]]
    for row in rows["results"]:  # every stored result comes back exactly as main's code stored it
        assert store.get(row["id"]) == ScoreResult.from_json(row["result_json"])
    assert store.get(1).neuroids["test_r"][:3] == [0.822449, 0.673958, 0.79597]  # the generator's known values
    assert store.get_interpretability(1) == InterpretabilityRecord.from_json(rows["interpretability"][0]["result_json"])
    assert _revision(url) == [HEAD]
    engine = create_engine(url)
    with engine.connect() as conn:
        assert set(TABLES_0002) <= set(inspect(conn).get_table_names())
        stored = conn.execute(select(text("result_json, neuroid_values")).select_from(text("results"))).all()
    engine.dispose()
    assert all(json.loads(t)["neuroids"] == {} and blob is not None for t, blob in stored)  # long lists moved out
    assert sum(len(t) + len(b) for t, b in stored) < 0.6 * sum(len(r["result_json"]) for r in rows["results"])
    if "runs" in rows:
        assert [f["error"] for f in store.failures()] == ["RuntimeError: boom"]
        assert store.add_cell(generator_results["synthetic.early"], run_id=1, cell_key="c" * 64) == (3, False)
    new = store.add(generator_results["synthetic.late"])
    assert new == len(rows["results"]) + 1 and ResultsStore(url).get(new) == generator_results["synthetic.late"]


def test_the_migrations_build_the_tables_the_store_declares(store_url):
    """Fresh store: alembic at head, and Alembic's comparison finds no difference between the migrated schema and
    the store's tables (core/results/store.py)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    assert ResultsStore(store_url).rows() == []
    assert _revision(store_url) == [HEAD] and known_revisions() == ("0001", "0002", "0003", "0004")
    engine = create_engine(store_url)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), _metadata) == []
    engine.dispose()


def test_downgrading_0003_puts_the_lists_back_into_the_json(store_url, tmp_path):
    from alembic import command

    from brainbench.results.schema import _config

    rows = _legacy_rows(MAIN_STORE)
    url = _legacy_store(MAIN_STORE, store_url, tmp_path)
    ResultsStore(url).rows()
    engine = create_engine(url)
    with engine.begin() as conn:
        command.downgrade(_config(conn), "0002")
    with engine.connect() as conn:
        back = [r[0] for r in conn.execute(text("SELECT result_json FROM results ORDER BY id"))]
        assert "neuroid_values" not in {c["name"] for c in inspect(conn).get_columns("results")}
    engine.dispose()
    assert [json.loads(t) for t in back] == [json.loads(r["result_json"]) for r in rows["results"]]


OPENER = textwrap.dedent("""
    import sys
    from brainbench import ScoreResult
    from brainbench.results.store import ResultsStore
    result = ScoreResult.from_json(open(sys.argv[2]).read())
    store = ResultsStore(sys.argv[1])
    store.add(result.model_copy(update={"model": sys.argv[3]}))
""")


@pytest.mark.parametrize("start", ["fresh", "main-0002"])
def test_processes_opening_one_store_at_once_migrate_it_once(start, store_url, tmp_path, generator_results):
    url = store_url if start == "fresh" else _legacy_store(MAIN_STORE, store_url, tmp_path)
    before = [] if start == "fresh" else _legacy_rows(MAIN_STORE)["results"]
    payload = tmp_path / "result.json"
    payload.write_text(generator_results["synthetic.late"].to_json())
    procs = [subprocess.Popen([sys.executable, "-c", OPENER, url, str(payload), f"p{i}"], stderr=subprocess.PIPE,
                              text=True) for i in range(4)]
    errors = [p.communicate(timeout=180)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    assert _revision(url) == [HEAD]
    store = ResultsStore(url)
    rows = store.rows(latest=False)
    assert len(rows) == len(before) + 4 and sorted(r["model"] for r in rows[len(before):]) == ["p0", "p1", "p2", "p3"]
    for row in before:
        assert store.get(row["id"]) == ScoreResult.from_json(row["result_json"])
    late = generator_results["synthetic.late"]
    assert all(store.get(r["id"]) == late.model_copy(update={"model": r["model"]}) for r in rows[len(before):])


def test_a_store_from_a_newer_brainbench_is_refused_and_left_alone(store_url, tmp_path, generator_results):
    store = ResultsStore(store_url)
    store.add(generator_results["synthetic.late"])
    engine = create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0999'"))
    engine.dispose()
    snapshot = Path(store_url.removeprefix("sqlite:///")).read_bytes() if store_url.startswith("sqlite") else None
    for action in (lambda s: s.add(generator_results["synthetic.early"]), lambda s: s.rows()):
        with pytest.raises(ResultsStoreError, match=r"written by a newer brainbench \(schema revision '0999'; this "
                                                    r"brainbench knows 0001, 0002, 0003, 0004.*upgrade brainbench"
                                                    r".*Nothing was written"):
            action(ResultsStore(store_url))
    assert _revision(store_url) == ["0999"]
    if snapshot is not None:
        assert Path(store_url.removeprefix("sqlite:///")).read_bytes() == snapshot
    engine = create_engine(store_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM results")).scalar() == 1
    engine.dispose()


def test_tables_that_match_no_revision_are_a_clear_error(tmp_path):
    path = tmp_path / "odd.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY)")
    conn.close()
    with pytest.raises(ResultsStoreError, match=r"has tables \['runs'\] but no 'results' table: it matches no "
                                                "brainbench schema"):
        ResultsStore(f"sqlite:///{path}").rows()


def test_a_store_from_before_interpretability_gets_its_table(tmp_path):
    """brainbench before issue 21 wrote only ``results``: recognised as 0001 with its missing table made."""
    path = tmp_path / "results_only.sqlite"
    shutil.copy(V1_STORE, path)
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE interpretability")
    conn.commit()
    conn.close()
    rows = _legacy_rows(V1_STORE)["results"]
    store = ResultsStore(f"sqlite:///{path}")
    assert [store.get(r["id"]) for r in rows] == [ScoreResult.from_json(r["result_json"]) for r in rows]
    assert store.interpretability_rows() == [] and _revision(f"sqlite:///{path}") == [HEAD]
