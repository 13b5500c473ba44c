"""How tests/results/data/*.sqlite were made: stores written by brainbench's own store code before migrations.

    python tests/results/data/make_legacy_stores.py STORE_PY OUT.sqlite [--v1]

``STORE_PY`` is an old ``core/results/store.py`` (``git show 4288615:core/results/store.py`` for the store as main
wrote it before Alembic: tables results, interpretability, runs, cells, failures, snapshots, made by
``create_all``; ``git show bf2677e:core/results/store.py`` for the store before the regeneration tables: results and
interpretability only, written with ``--v1``). It is loaded as ``brainbench.results.store`` in place of the
current one, and writes the generator network's real scores on synthetic.early and synthetic.late (scored by this
checkout, whose scores main's code computes the same), one constructed II record, and with the newer store a run, a
cell, a failure and a snapshot.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


def main(store_py: str, out: str, v1: bool) -> None:
    import brainbench
    from brainbench.results.interpretability import InterpretabilityProvenance, InterpretabilityRecord

    spec = importlib.util.spec_from_file_location("brainbench.results.store", store_py)
    module = importlib.util.module_from_spec(spec)
    sys.modules["brainbench.results.store"] = module
    spec.loader.exec_module(module)
    store = module.ResultsStore(f"sqlite:///{out}")
    results = [brainbench.score("synthetic_generator", b, progress=False) for b in ("synthetic.early", "synthetic.late")]
    ids = [store.add(r) for r in results]
    prov = InterpretabilityProvenance(
        model="synthetic_generator", weights="default", weights_hash="0" * 64, code={"forward": "1"},
        probe="families", probe_hash="1" * 64, n_probe=90, distance="pixel-rms",
        distance_name="pixel RMS distance", distance_version="7", image_size=8, k=3, readout="mean",
        unit_selection="all", seed=0, baseline_sets=4, brainbench_version=brainbench.__version__,
        created="2026-11-30T00:00:00+00:00", device="cpu")
    store.add_interpretability(InterpretabilityRecord(
        model="synthetic_generator", layer="block1", units=[0, 1], ii=[0.25, 0.5], mean_distance=[0.75, 0.5],
        normalised=[1.0, 2.5], top_images=[["a", "b", "c"], ["d", "e", "f"]], top_values=[[3.0, 2.0, 1.0]] * 2,
        baseline=[0.1, 0.2, 0.15, 0.05], provenance=prov))
    if not v1:
        run = store.start_run(leaderboard="synthetic", n_planned=2, options={"workers": 1})
        store.add_cell(results[0].model_copy(update={"model": "cellmodel"}), run_id=run, cell_key="c" * 64)
        store.add_failure(run_id=run, cell_key="d" * 64, model="broken", benchmark="synthetic.late",
                          error=RuntimeError("boom"), traceback="Traceback (most recent call last): ...")
        store.add_snapshot("synthetic", '{"name": "synthetic"}', run_id=run)
        store.finish_run(run)
    print(out, ids)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], "--v1" in sys.argv[3:])
