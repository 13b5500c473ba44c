"""Regeneration at scale, on paper: 1,000 models x 200 benchmarks on 1, 16 and 256 workers, simulated
(``brainbench.results.simulation``) with per-cell costs measured here.

Brain-Score's board holds ~560 models x ~100 benchmarks; this asks what regenerating a board twice that size takes,
and what limits it. The costs fed to the simulation are measured in this run, on this machine:

- **extraction**, seconds per image and feature bytes per image (the extraction plan's estimate), for real offline
  networks (efficientnet_lite0/1/2 with their ImageNet weights, resnet18 and the synthetic generator at random
  weights) over 16 synthetic-benchmark images; the simulated zoo of 1,000 models draws each model's cost from these
  five with a seeded log-normal spread (sd 0.5 in log units: model zoos span roughly 10x in cost);
- **a metric cell**: the ridge metric of ``synthetic.early`` on a warm activation cache (so extraction is not in it),
  per stimulus, scaled linearly with each simulated stimulus set's size (an assumption: ridge with leave-one-out
  alphas costs O(n p min(n, p)); linear in n is optimistic for the largest sets);
- **a store write**: ``ResultsStore.add`` of a real result, per row, on SQLite (and on PostgreSQL when
  ``BRAINBENCH_BENCH_PG_URL`` names one);
- **the scheduler**: Dask's round trip per task (``client.map`` of 400 no-op tasks on a 2-process LocalCluster), where
  ``distributed`` imports.

The 200 benchmarks lie on 20 stimulus sets (10 regions or metrics each) of the sizes of real sets (640 and 1,200:
Cowley et al. 2023; 92: Kriegeskorte et al. 2008; 78: Algonauts 2019; 1,000: NSD's shared images; 3,200:
Majaj-Hong 2015), so features are extracted once per model and stimulus set: 20,000 extraction tasks instead of
200,000 cells each extracting its own. ``BENCH_SCALE`` shrinks the zoo for a quick look.

Then **a small real run**: 50 cheap real networks (the synthetic generator at 50 random seeds) x 10 benchmarks (the
two synthetic regions under ridge, CKA, biased CKA, RSA and Brain-Score's ridge) = 500 cells, regenerated on a
LocalCluster of 4 worker processes into a throwaway PostgreSQL server (tests/helpers/postgres.py, fsync on), then
checked row by row: every cell stored exactly once, no failure, no duplicate; the overhead per cell (wall time minus
the cells' own time over the workers, per cell) is printed. Skipped, with the reason, where PostgreSQL's binaries
are missing.
"""

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from timing import SCALE  # noqa: E402

SET_SIZES = (640, 1200, 92, 78, 1000, 3200)
MODELS = (("efficientnet_lite0", None), ("efficientnet_lite1", None), ("efficientnet_lite2", None),
          ("resnet18", "random"), ("synthetic_generator", "random"))


def measure_extraction(n_images=16):
    import brainbench
    from brainbench.extraction.plan import plan_extraction
    from brainbench.registry.entries import get_dataset

    stimuli = get_dataset("synthetic").stimulus_set()
    stimuli = stimuli.subset(list(stimuli.ids)[:n_images])
    costs = {}
    for name, weights in MODELS:
        model = brainbench.get_model(name, weights=weights) if weights else brainbench.get_model(name)
        layers = model.default_layers
        bytes_per_image = plan_extraction(model, stimuli, layers).total_bytes / n_images
        brainbench.extract(model, stimuli.subset(list(stimuli.ids)[:2]), layers, progress=False, cache=False)  # warm
        start = time.perf_counter()
        brainbench.extract(model, stimuli, layers, progress=False, cache=False)
        costs[model.label] = ((time.perf_counter() - start) / n_images, bytes_per_image)
    return costs


def measure_metric_and_store():
    import brainbench
    from brainbench.registry.entries import get_dataset
    from brainbench.results.store import ResultsStore

    with tempfile.TemporaryDirectory() as home:
        os.environ["BRAINBENCH_HOME"] = home
        model = brainbench.get_model("synthetic_generator", weights="random")
        brainbench.score(model, "synthetic.early", layers=["block1"], progress=False)  # fills the activation cache
        start = time.perf_counter()
        result = brainbench.score(model, "synthetic.early", layers=["block1"], progress=False)
        n = len(get_dataset("synthetic").stimulus_set().ids)
        metric_per_stimulus = (time.perf_counter() - start) / n
        writes = {}
        store = ResultsStore(f"sqlite:///{Path(home) / 'w.sqlite'}")
        store.add(result)
        start = time.perf_counter()
        for _ in range(100):
            store.add(result)
        writes["SQLite"] = (time.perf_counter() - start) / 100
        url = os.environ.get("BRAINBENCH_BENCH_PG_URL")
        if url:
            pg = ResultsStore(url)
            pg.add(result)
            start = time.perf_counter()
            for _ in range(100):
                pg.add(result)
            writes["PostgreSQL"] = (time.perf_counter() - start) / 100
    return metric_per_stimulus, writes


def measure_scheduler(n=400):
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        return None
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        client.gather(client.map(int, range(20)))  # warm
        start = time.perf_counter()
        client.gather(client.map(int, range(n), pure=False))
        return (time.perf_counter() - start) / n


def zoo(costs, metric_per_stimulus, n_models, n_sets, per_set, seed=0):
    from brainbench.results.simulation import Task

    rng = np.random.default_rng(seed)
    per_image = np.array([c[0] for c in costs.values()])
    tasks = []
    for m in range(n_models):
        base = per_image[m % len(per_image)] * float(np.exp(rng.normal(0, 0.5)))
        for s in range(n_sets):
            n = SET_SIZES[s % len(SET_SIZES)]
            tasks.append(Task(base * n, tuple([metric_per_stimulus * n] * per_set), label=f"model{m}/set{s}"))
    return tasks


def main():
    from brainbench.results.simulation import simulate

    costs = measure_extraction()
    for label, (seconds, nbytes) in costs.items():
        print(f"measured extraction {label}: {seconds * 1000:.1f} ms/image, plan {nbytes / 2**20:.2f} MiB/image")
    metric, writes = measure_metric_and_store()
    print(f"measured ridge metric cell: {metric * 1000:.2f} ms per stimulus (warm activation cache)")
    for name, seconds in writes.items():
        print(f"measured store write ({name}): {seconds * 1000:.2f} ms/row")
    scheduler = measure_scheduler()
    if scheduler is None:
        print("distributed does not import: no scheduler cost measured; simulated with none")
        scheduler = 0.0
    else:
        print(f"measured Dask round trip per task (2-process LocalCluster): {scheduler * 1000:.2f} ms")
    n_models = max(10, int(1000 * SCALE))
    tasks = zoo(costs, metric, n_models, 20, 10)
    cells = sum(len(t.metric_s) for t in tasks)
    extraction_grouped = sum(t.extract_s for t in tasks)
    print(f"zoo: {n_models} models x 200 benchmarks = {cells} cells in {len(tasks)} tasks (model x stimulus set); "
          f"extraction {extraction_grouped / 3600:.0f} CPU-hours grouped against {extraction_grouped * 10 / 3600:.0f} "
          "if every cell extracted its own features (10x)")
    for store_name, write_s in writes.items():
        servers = 1 if store_name == "SQLite" else 4
        for workers in (1, 16, 256):
            result = simulate(tasks, workers, scheduler_s=scheduler / 2, write_s=write_s, store_servers=servers)
            print(f"  {store_name} ({servers} server{'s' if servers > 1 else ''}): {result.summary()}")
            bounds = ", ".join(f"{k} {v / 3600:.2f} h" for k, v in result.bounds.items())
            print(f"    lower bounds: {bounds}")
    real_run(max(4, int(50 * SCALE)))


def _warm():
    import brainbench.scoring.regenerate  # noqa: F401 - torch, the scorer and the store, imported in each worker

    return os.getpid()


def real_run(n_models=50, workers=4):
    """Regenerate n_models x 10 cheap cells on a LocalCluster into PostgreSQL; check the store row by row."""
    import logging

    from helpers.postgres import binaries, postgres_server

    bindir, why = binaries()
    if bindir is None:
        print(f"real run skipped: {why}")
        return
    from distributed import Client, LocalCluster
    from sqlalchemy import func, select

    from brainbench.registry.cards import LeaderboardSpec
    from brainbench.results.store import ResultsStore, cells_table, failures_table, results_table
    from brainbench.scoring.regenerate import regenerate

    logging.getLogger("distributed").setLevel(logging.ERROR)
    models = [f"synthetic_generator[random:{seed}]" for seed in range(1, n_models + 1)]
    benchmarks = [f"synthetic.{region}{suffix}" for region in ("early", "late")
                  for suffix in ("", "-cka", "-cka_biased", "-rsa", "-bs_ridge")]
    with tempfile.TemporaryDirectory() as tmp, postgres_server(fsync=True) as url:
        os.environ["BRAINBENCH_ACTIVATIONS"] = str(Path(tmp) / "activations")  # the workers inherit it
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            client.run(_warm)
            store = ResultsStore(url)
            spec = LeaderboardSpec(name="scale", models=models, benchmarks=benchmarks)
            start = time.perf_counter()
            run = regenerate(spec, store, scheduler=cluster.scheduler_address)
            wall = time.perf_counter() - start
        with store.engine.connect() as conn:
            n_results = conn.execute(select(func.count()).select_from(results_table)).scalar()
            n_cells = conn.execute(select(func.count()).select_from(cells_table)
                                   .where(cells_table.c.run_id == run.run_id)).scalar()
            distinct = conn.execute(select(func.count(func.distinct(cells_table.c.cell_key)))
                                    .where(cells_table.c.run_id == run.run_id)).scalar()
            n_failures = conn.execute(select(func.count()).select_from(failures_table)).scalar()
    planned = len(models) * len(benchmarks)
    busy = sum(e.seconds or 0.0 for e in run.done)
    held = n_results == n_cells == distinct == planned and n_failures == 0 and run.counts["ok"] == planned
    print(f"real run: {planned} cells ({n_models} models x {len(benchmarks)} benchmarks) on a LocalCluster of {workers} "
          f"worker processes into PostgreSQL in {wall:.1f} s: {n_results} result rows, {n_cells} cell rows "
          f"({distinct} distinct), {n_failures} failures -> {'held: no lost or duplicated row' if held else 'FAILED'}; "
          f"the cells' own time {busy:.1f} s, so {(wall - busy / workers) / planned * 1000:.0f} ms of overhead per "
          f"cell (scheduling, store, plan and board over {workers} workers on {os.cpu_count()} cores)", flush=True)
    if not held:
        raise SystemExit("the real run lost or duplicated rows")


if __name__ == "__main__":
    main()
