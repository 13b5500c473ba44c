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
