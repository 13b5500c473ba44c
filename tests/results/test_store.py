"""The results store on both backends (a SQLite file; a real PostgreSQL server, tests/helpers/postgres.py): real
concurrent processes; read-only and locked SQLite files; unreachable servers."""

import sqlite3
import subprocess
import sys
import textwrap

import pytest

from brainbench import ResultsStoreError, ScoreResult
from brainbench.results.store import ResultsStore


def test_add_get_and_latest_rows(generator_results, store_url):
    store = ResultsStore(store_url)
    early, late = generator_results["synthetic.early"], generator_results["synthetic.late"]
    first = store.add(early)
    store.add(late)
    newest = store.add(early)
    assert store.get(first) == early
    rows = store.rows()
    assert [(r["benchmark"], r["id"]) for r in rows] == [("synthetic.late", 2), ("synthetic.early", newest)]
    assert len(store.rows(latest=False)) == 3 and store.rows(benchmark="*.late")[0]["layer"] == "block3"
    assert store.rows(model="resnet*") == []
    with pytest.raises(ResultsStoreError, match="no result with id 99"):
        store.get(99)


def test_default_location_is_the_data_home(monkeypatch, tmp_path):
    monkeypatch.setenv("BRAINBENCH_HOME", str(tmp_path))
    assert ResultsStore().url == f"sqlite:///{tmp_path / 'results.sqlite'}"
    monkeypatch.setenv("BRAINBENCH_DB", "sqlite:///elsewhere.sqlite")
    assert ResultsStore().url == "sqlite:///elsewhere.sqlite"


WRITER = textwrap.dedent("""
    import sys
    from brainbench import ScoreResult
    from brainbench.results.store import ResultsStore
    result = ScoreResult.from_json(open(sys.argv[2]).read())
    store = ResultsStore(sys.argv[1])
    for i in range(int(sys.argv[3])):
        store.add(result.model_copy(update={"model": f"{sys.argv[4]}-{i}"}))
""")


def test_two_processes_writing_at_once_lose_nothing(generator_results, tmp_path, store_url):
    url = store_url
    ResultsStore(url).add(generator_results["synthetic.late"])  # schema exists before the race
    payload = tmp_path / "result.json"
    payload.write_text(generator_results["synthetic.late"].to_json())
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, url, str(payload), "30", name]) for name in ("a", "b")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    rows = ResultsStore(url).rows(latest=False)
    assert len(rows) == 61
    assert {r["model"] for r in rows} >= {f"{n}-{i}" for n in "ab" for i in range(30)}
    store = ResultsStore(url)
    assert all(isinstance(store.get(r["id"]), ScoreResult) for r in rows[::10])


def test_read_only_store_is_a_clear_error_and_writes_nothing(generator_results, tmp_path):
    path = tmp_path / "ro.sqlite"
    ResultsStore(f"sqlite:///{path}").add(generator_results["synthetic.late"])
    read_only = ResultsStore(f"sqlite:///file:{path}?mode=ro&uri=true")
    assert len(read_only.rows()) == 1
    with pytest.raises(ResultsStoreError, match="cannot write to the results store .* it is read-only.*nothing was written"):
        read_only.add(generator_results["synthetic.early"])
    assert len(ResultsStore(f"sqlite:///{path}").rows(latest=False)) == 1


def test_locked_store_is_a_clear_error(generator_results, tmp_path):
    path = tmp_path / "locked.sqlite"
    ResultsStore(f"sqlite:///{path}").add(generator_results["synthetic.late"])
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(ResultsStoreError, match="another process holds a lock"):
            ResultsStore(f"sqlite:///{path}", timeout=0.2).add(generator_results["synthetic.early"])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    ResultsStore(f"sqlite:///{path}").add(generator_results["synthetic.early"])
    assert len(ResultsStore(f"sqlite:///{path}").rows(latest=False)) == 2


def test_bad_urls(tmp_path):
    with pytest.raises(ResultsStoreError, match="bad results database URL"):
        ResultsStore("nosuchdialect://x")
    with pytest.raises(ResultsStoreError, match="cannot be opened"):
        ResultsStore(f"sqlite:///{tmp_path / 'missing-dir' / 'r.sqlite'}").rows()


def _ii_record(model="synthetic_generator", weights_hash="sha256:" + "ab" * 32):
    from brainbench.results.interpretability import InterpretabilityProvenance, InterpretabilityRecord

    prov = InterpretabilityProvenance(
        model=model, weights="default", weights_hash=weights_hash, code={"forward": "1"}, probe="families",
        probe_hash="sha256:" + "cd" * 32, n_probe=90, distance="pixel-rms", distance_name="pixel RMS distance",
        distance_version="7", image_size=8, k=3, readout="mean", unit_selection="all", seed=0, baseline_sets=4,
        brainbench_version="0.1.0", created="2026-11-30T00:00:00+00:00", device="cpu")
    return InterpretabilityRecord(model=model, layer="block1", units=[0, 1], ii=[0.25, 0.5], mean_distance=[0.75, 0.5],
                                  normalised=[1.0, 2.5], top_images=[["a", "b", "c"], ["d", "e", "f"]],
                                  top_values=[[3.0, 2.0, 1.0]] * 2, baseline=[0.1, 0.2, 0.15, 0.05], provenance=prov)


def test_interpretability_records_and_long_hashes_on_both_backends(generator_results, store_url):
    """``sha256:<hex>`` hashes (71 characters) are stored whole: PostgreSQL had refused them in 64-wide columns."""
    store = ResultsStore(store_url)
    record = _ii_record()
    row = store.add_interpretability(record)
    assert store.get_interpretability(row) == record
    summary = store.interpretability_rows("synthetic*")
    assert [(r["id"], r["layer"], r["k"], r["n_units"]) for r in summary] == [(row, "block1", 3, 2)]
    assert summary[0]["ii_mean"] == pytest.approx(0.375) and summary[0]["normalised_mean"] == pytest.approx(1.75)
    long_hash = generator_results["synthetic.late"].provenance.model_copy(update={"weights_hash": "sha256:" + "e" * 64})
    result = generator_results["synthetic.late"].model_copy(update={"provenance": long_hash})
    assert store.get(store.add(result)).provenance.weights_hash == "sha256:" + "e" * 64


def test_a_cell_of_a_run_that_does_not_exist_is_a_clear_error(generator_results, store_url):
    store = ResultsStore(store_url)
    with pytest.raises(ResultsStoreError, match=r"cannot store cell 'k1' of run 99 in .*: the store has no run 99; "
                                                r"start the run with "
                                                r"start_run\(\) first\. Nothing was written"):
        store.add_cell(generator_results["synthetic.late"], run_id=99, cell_key="k1")
    assert store.rows(latest=False) == []


CELL_WRITER = textwrap.dedent("""
    import sys
    from brainbench import ScoreResult
    from brainbench.results.store import ResultsStore
    url, payload, run, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
    result = ScoreResult.from_json(open(payload).read())
    store = ResultsStore(url)
    for i in range(n):
        store.add(result.model_copy(update={"model": f"{name}-add-{i}"}))
        # every cell writer writes the same cells: one of them stores each, the other gets its id back
        store.add_cell(result.model_copy(update={"model": f"cell-{i}"}), run_id=run, cell_key=f"key-{i}")
""")


def test_concurrent_writers_of_results_and_the_same_cells(generator_results, tmp_path, store_url):
    """Four processes at once on each backend: each adds 12 results and writes the same 12 cells of one run;
    exactly 4 x 12 + 12 results, 12 cells, none twice, each read back equal to what was written."""
    store = ResultsStore(store_url)
    run = store.start_run(leaderboard="t", n_planned=12)
    late = generator_results["synthetic.late"]
    payload = tmp_path / "result.json"
    payload.write_text(late.to_json())
    names = ["a", "b", "c", "d"]
    procs = [subprocess.Popen([sys.executable, "-c", CELL_WRITER, store_url, str(payload), str(run), name, "12"],
                              stderr=subprocess.PIPE, text=True) for name in names]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    rows = store.rows(latest=False)
    models = sorted(r["model"] for r in rows)
    assert models == sorted([f"{n}-add-{i}" for n in names for i in range(12)] + [f"cell-{i}" for i in range(12)])
    for r in rows:
        assert store.get(r["id"]) == late.model_copy(update={"model": r["model"]})
    from sqlalchemy import select

    from brainbench.results.store import cells_table

    with store.engine.connect() as conn:
        cells = conn.execute(select(cells_table.c.cell_key, cells_table.c.result_id, cells_table.c.model)).all()
    by_id = {r["id"]: r["model"] for r in rows}
    assert sorted(c.cell_key for c in cells) == sorted(f"key-{i}" for i in range(12))
    assert all(by_id[c.result_id] == c.model == f"cell-{c.cell_key.split('-')[1]}" for c in cells)


def _closed_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the socket is: nothing listens there


@pytest.mark.parametrize("where", ["closed port", "unknown host"])
def test_an_unreachable_database_server_is_a_clear_error(where, generator_results):
    host = f"127.0.0.1:{_closed_port()}" if where == "closed port" else "no-such-host.invalid:5432"
    url = f"postgresql://bb:secret@{host}/results"
    store = ResultsStore(url, connect_timeout=2)
    with pytest.raises(ResultsStoreError) as info:
        store.add(generator_results["synthetic.late"])
    message = str(info.value)
    assert f"cannot open the results store postgresql://bb:***@{host}/results" in message
    assert "cannot be reached (gave up after connect_timeout=2 s" in message and "secret" not in message
    assert "check the host and port in the URL, that the server runs" in message and "nothing was written" in message


def test_without_postgresql_its_tests_skip_unless_services_are_required(tmp_path, monkeypatch):
    from helpers.postgres import binaries, missing

    bindir, why = binaries(debian=tmp_path, path=str(tmp_path))  # nothing on this PATH, no Debian folder
    assert bindir is None and "apt-get install postgresql" in why
    (tmp_path / "15" / "bin").mkdir(parents=True)
    for name in ("pg_ctl", "initdb"):
        (tmp_path / "15" / "bin" / name).touch()
    assert binaries(debian=tmp_path, path=str(tmp_path)) == (tmp_path / "15" / "bin", "")
    monkeypatch.delenv("BRAINBENCH_REQUIRE_SERVICES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install postgresql"):
        missing(why)
    monkeypatch.setenv("BRAINBENCH_REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception, match="BRAINBENCH_REQUIRE_SERVICES=1 requires them"):
        missing(why)
