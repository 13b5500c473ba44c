"""Results store writes: rows per second from 4 concurrent writer processes, SQLite and PostgreSQL, against the driver.

Each writer process stores ``N`` results, one transaction each, as a leaderboard cell's worker does:
brainbench's ``ResultsStore.add`` (the result validated, its JSON and per-unit blob made, SQLAlchemy) against the
database driver itself (``sqlite3`` / ``psycopg2``) inserting the very same rows (made beforehand), one INSERT and
COMMIT each. The four processes start together behind a barrier; rows per second = all rows / wall time from the
barrier to the last writer's end. The store is fresh and already migrated; PostgreSQL is a throwaway local server
(tests/helpers/postgres.py, fsync on, as a real server runs), skipped with its reason where its binaries are
absent.

The result is realistic in size: the generator network's stored synthetic.late result with its per-unit values
widened to 2,000 units (six-decimal r values and reliabilities, as the scorer rounds them); the bytes one row takes
in the old JSON-only form and in the compact form (schema 0003) are printed too.
"""

import json
import multiprocessing as mp
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

from timing import sized  # noqa: E402

WRITERS = 4
UNITS = 2000
SOURCE = Path(__file__).parents[1] / "tests" / "results" / "data" / "store_0002_main.sqlite"


def realistic_result():
    from brainbench import ScoreResult

    conn = sqlite3.connect(SOURCE)
    text = conn.execute("SELECT result_json FROM results WHERE benchmark = 'synthetic.late'").fetchone()[0]
    conn.close()
    result = ScoreResult.from_json(text)
    rng = np.random.default_rng(0)
    neuroids = {"neuroid_id": [f"s{i % 8 + 1}.late.{i:04d}" for i in range(UNITS)],
                "subject": [f"s{i % 8 + 1}" for i in range(UNITS)],
                "test_r": np.round(rng.normal(0.3, 0.15, UNITS), 6).tolist(),
                "reliability": np.round(rng.uniform(0.2, 0.9, UNITS), 6).tolist()}
    return result.model_copy(update={"neuroids": neuroids})


def _ours(url, result, name, n, barrier, out):
    from brainbench.results.store import ResultsStore

    store = ResultsStore(url)
    store.rows()  # connected and schema checked before the clock
    barrier.wait()
    for i in range(n):
        store.add(result.model_copy(update={"model": f"{name}-{i}"}))
    out.put(time.perf_counter())


def _driver(url, rows, name, n, barrier, out):
    from sqlalchemy.engine import make_url

    columns = list(rows[0])
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        conn = sqlite3.connect(parsed.database, timeout=60)
        marks = ", ".join("?" for _ in columns)
    else:
        import psycopg2

        conn = psycopg2.connect(host=parsed.host, port=parsed.port, user=parsed.username, dbname=parsed.database)
        marks = ", ".join("%s" for _ in columns)
    sql = f"INSERT INTO results ({', '.join(columns)}) VALUES ({marks})"
    barrier.wait()
    for i in range(n):
        row = dict(rows[i % len(rows)], model=f"{name}-{i}")
        cur = conn.cursor()
        cur.execute(sql, [row[c] for c in columns])
        conn.commit()
    conn.close()
    out.put(time.perf_counter())


def race(target, url, payload, n):
    """Rows per second of WRITERS processes running ``target`` at once (n rows each)."""
    ctx = mp.get_context("fork")
    barrier, out = ctx.Barrier(WRITERS + 1), ctx.Queue()
    procs = [ctx.Process(target=target, args=(url, payload, f"w{k}", n, barrier, out)) for k in range(WRITERS)]
    for p in procs:
        p.start()
    barrier.wait()
    start = time.perf_counter()
    ends = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise RuntimeError(f"a writer failed with exit code {p.exitcode}")
    return WRITERS * n / (max(ends) - start)


def _fresh(kind, folder, server, k):
    from brainbench.results.store import ResultsStore

    if kind == "SQLite":
        url = f"sqlite:///{folder / f'bench{k}.sqlite'}"
    else:
        from helpers.postgres import create_database

        url = create_database(server, f"bench_{k}")
    ResultsStore(url).rows()  # migrated to head
    return url


def _count(url):
    from brainbench.results.store import ResultsStore

    return len(ResultsStore(url).rows(latest=False))


def main():
    from brainbench.results.store import ResultsStore

    result = realistic_result()
    n = sized(150)
    row = ResultsStore._row(result)
    old = len(result.to_json())
    new = len(row["result_json"]) + len(row["neuroid_values"])
    print(f"one row, {UNITS} units: {old:,} bytes as JSON (schema 0002) | {new:,} bytes compact (0003: JSON "
          f"{len(row['result_json']):,} + blob {len(row['neuroid_values']):,}) | ratio (old/new) {old / new:.2f}x",
          flush=True)
    rows = [ResultsStore._row(result.model_copy(update={"model": f"x{i}"})) for i in range(4)]
    from helpers.postgres import binaries, postgres_server

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        backends = [("SQLite", None)]
        bindir, why = binaries()
        server_cm = postgres_server(fsync=True) if bindir is not None else None
        server = server_cm.__enter__() if server_cm is not None else None
        try:
            if server is not None:
                backends.append(("PostgreSQL", server))
            for k, (kind, srv) in enumerate(backends):
                ours_url, ref_url = _fresh(kind, folder, srv, 2 * k), _fresh(kind, folder, srv, 2 * k + 1)
                ours = race(_ours, ours_url, result, n)
                ref = race(_driver, ref_url, rows, n)
                assert _count(ours_url) == _count(ref_url) == WRITERS * n
                print(f"{kind}, {WRITERS} writer processes x {n} results, one transaction each: brainbench "
                      f"{ours:.0f} rows/s | {'sqlite3' if kind == 'SQLite' else 'psycopg2'} driver, same rows "
                      f"{ref:.0f} rows/s | ratio (ours/ref) {ours / ref:.2f}x", flush=True)
            if server is None:
                print(f"PostgreSQL: skipped ({why})", flush=True)
        finally:
            if server_cm is not None:
                server_cm.__exit__(None, None, None)


if __name__ == "__main__":
    main()
