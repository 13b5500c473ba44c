"""Leaderboard regeneration: plan the cells (model x benchmark) whose stored results are missing or out of date, and
compute exactly those, in-process or on Dask, each cell's result written where it was computed.

**The plan** (:func:`plan_regeneration`). A leaderboard's models are registry.toml entries: a registered name
(``resnet18``), ``family.weights`` (``efficientnet_lite0.random``), a leaderboard label with weights and seed
(``synthetic_generator[random:3]``, as :attr:`brainbench.Model.label` writes it), ``package.module:factory``, or a
pattern (``*``/``?``) over the registered model names. A bare ``"*"`` cannot mean every registered model (thousands,
most never meant for this board): for regeneration it means the models already scored (or failed) on the board's
benchmarks, so a regeneration brings what is there up to date. A pattern that matches no registered name, an unknown
name, or a benchmark id or pattern that matches nothing in the catalog is an UnknownNameError with close matches,
before any work. Each model is built once (no forward pass) to read its weights hash and code versions.

**Up to date** (the policy). A cell is up to date when the newest stored result for (model label, benchmark) has

- the model's current weights hash (:meth:`brainbench.Model.weights_hash`: sha256 of its state),
- the benchmark's current version and its metric's current version (registry.toml, the metric's card),
- the same brainbench release series (the major version; while brainbench is 0.x, major.minor: 0.1.0 and 0.1.5
  agree, 0.2.0 does not), and
- the same forward-code versions as its provenance records (:func:`brainbench.extraction.provenance.forward_code`:
  torch and every package defining one of the model's modules, and the module tree), brainbench's own entry judged
  by the release series above.

Otherwise it is **missing** (never scored) or **stale** (with the reason, which the board shows). A cell whose newest
attempt failed (a failure newer than its newest result) with the same inputs (the same ``cell_key``) stays
**failed** with its error unless ``retry_failed``; ``force`` recomputes every cell. A cell's ``cell_key`` is the
sha256 of everything that decides up-to-dateness: model label, weights hash, code versions, benchmark id and
version, metric id and version and the release series.

**Execution** (:func:`regenerate`). The cells to run are grouped by model: one task per model builds it once and
scores its benchmarks one after another, so the activation cache (:mod:`brainbench.extraction.activation_cache`,
keyed by model, weights, layer and the stimuli's content hash) is filled by the first benchmark on a stimulus set
and read by every later one in the same task (features once per model and stimulus set; on Dask the task, and so the
model's features, stay on one worker). In-process by default; on Dask (``dask.distributed``: a ``LocalCluster`` of
``workers`` processes with one thread each, or an existing scheduler's ``address``) each worker opens the store by
its URL and writes each cell in one transaction (:meth:`~brainbench.results.store.ResultsStore.add_cell`). A
worker that dies loses its in-flight cell only: Dask reruns the task elsewhere, and the rerun skips the cells this
run already stored (the ``cells`` table), and ``add_cell`` never stores a cell twice in a run. A cell that raises,
and a model that fails to build, are recorded with their traceback (``add_failure``) and the run goes on.
"""

from __future__ import annotations

import hashlib
import json
import time
import traceback as tb
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .._version import __version__
from ..errors import BrainbenchError, ConfigError, SchedulerError, UnknownNameError
from ..names import matches

if TYPE_CHECKING:
    from ..registry.cards import LeaderboardSpec
    from ..registry.contracts import Model
    from ..results.board import Board
    from ..results.store import ResultsStore

__all__ = ["SCHEDULER_TIMEOUT", "CellEvent", "ModelRequest", "Plan", "PlannedCell", "Regeneration", "plan_regeneration",
           "regenerate", "release_series", "run_group"]

SCHEDULER_TIMEOUT = 10.0  # seconds to wait for a scheduler address to answer
TIMED_BATCH = 16  # stimuli in the forward pass a dry run times
Status = Literal["missing", "stale", "failed", "ok"]
Events = Callable[["CellEvent"], None]


def release_series(version: str) -> str:
    """The part of a brainbench version that keeps stored results current: the major version, or major.minor while
    the major is 0 (``"0.1.4"`` -> ``"0.1"``, ``"1.2.0"`` -> ``"1"``)."""
    parts = version.split(".")
    return ".".join(parts[:2]) if parts[0] == "0" else parts[0]


def _code_policy(code: dict[str, str]) -> dict[str, str]:
    """The code versions as the policy compares them: brainbench's own entry (``brainbench==0.1.0``) by its release
    series, every other entry exactly."""
    out = dict(code)
    if "brainbench" in out:
        out["brainbench"] = "brainbench " + release_series(out["brainbench"].rpartition("==")[2] or __version__)
    return out


@dataclass(frozen=True)
class ModelRequest:
    """How to build a leaderboard's model: :func:`brainbench.get_model` ``(name, weights=..., seed=...)``."""

    name: str
    weights: str | None = None
    seed: int = 0

    @classmethod
    def parse(cls, entry: str) -> ModelRequest:
        """``name``, ``family.weights`` (left to get_model), ``name[weights]`` or ``name[weights:seed]`` (a label as
        :attr:`brainbench.Model.label` writes it). ConfigError for a malformed label."""
        if not entry.endswith("]") or "[" not in entry:
            return cls(entry)
        name, _, inside = entry[:-1].partition("[")
        weights, _, seed = inside.partition(":")
        if not name or not weights or (seed and not seed.isdigit()):
            raise ConfigError(f"model {entry!r} is not a label NAME, NAME[WEIGHTS] or NAME[WEIGHTS:SEED] (e.g. "
                              "synthetic_generator[random:3])")
        return cls(name, weights, int(seed or 0))

    def build(self) -> Model:
        from ..registry.entries import get_model

        return get_model(self.name, weights=self.weights, seed=self.seed)

    def label(self) -> str:
        """The label this request's model will carry, without building it (registered models; the request as
        written otherwise)."""
        from ..registry.entries import get_registry
        from ..names import parse_name

        registry = get_registry("model")
        name, weights = self.name, self.weights
        if name not in registry:
            family, variant = parse_name(name)
            if variant and family in registry and weights is None:
                name, weights = family, variant
        if name not in registry or ":" in name:
            return self.name if weights is None else f"{self.name}[{weights}{f':{self.seed}' if self.seed else ''}]"
        card = registry.get(name).card
        if weights is None or (card.weights and weights == card.weights[0]):
            return name
        return f"{name}[{weights}:{self.seed}]" if weights == "random" and self.seed else f"{name}[{weights}]"


@dataclass(frozen=True)
class PlannedCell:
    """One (model, benchmark) cell of the plan: ``status`` as the store says now, ``run`` whether this regeneration
    computes it, ``reason`` why it is not ``ok``, ``cell_key`` the sha256 of what decides up-to-dateness."""

    model: str
    benchmark: str
    request: ModelRequest
    status: Status
    run: bool
    cell_key: str
    reason: str | None = None


@dataclass
class Plan:
    """A leaderboard's cells: ``models`` (labels) x ``benchmarks`` (ids); ``notes`` on what was left out."""

    spec: LeaderboardSpec
    models: list[str]
    benchmarks: list[str]
    cells: list[PlannedCell]
    notes: list[str] = field(default_factory=list)

    @property
    def todo(self) -> list[PlannedCell]:
        return [c for c in self.cells if c.run]

    def stale(self) -> dict[tuple[str, str], str]:
        """(model, benchmark) -> why its stored result is out of date (``build_board(..., stale=)``)."""
        return {(c.model, c.benchmark): c.reason or "out of date" for c in self.cells if c.status == "stale"}

    def groups(self) -> list[tuple[ModelRequest, list[PlannedCell]]]:
        """The cells to run grouped by model (one task each), in the plan's order."""
        grouped: dict[ModelRequest, list[PlannedCell]] = {}
        for c in self.todo:
            grouped.setdefault(c.request, []).append(c)
        return list(grouped.items())


def _is_pattern(entry: str) -> bool:
    return "*" in entry or "?" in entry


def labelled_spec(spec: LeaderboardSpec) -> LeaderboardSpec:
    """``spec`` with each model entry that names one model (``NAME``, ``NAME.WEIGHTS``, ``NAME[WEIGHTS]``) written as
    the label its stored results carry (``efficientnet_lite0.random`` -> ``efficientnet_lite0[random]``), so that a
    board shown from the store finds the rows regeneration wrote; patterns and ``*`` are kept. Entries that do not
    parse are kept as written."""
    models = []
    for entry in spec.models:
        if entry == "*" or _is_pattern(entry):
            models.append(entry)
            continue
        try:
            models.append(ModelRequest.parse(entry).label())
        except BrainbenchError:
            models.append(entry)
    return spec.model_copy(update={"models": list(dict.fromkeys(models))})


def _benchmarks(spec: LeaderboardSpec) -> list[str]:
    """The spec's benchmark entries expanded over the catalog's ids (declared ones; ``<id>-<metric>`` literal ids are
    resolved); an entry matching nothing is an UnknownNameError naming the leaderboard, with close matches."""
    from ..registry.catalog import get_benchmark
    from ..registry.entries import get_registry

    known = [e.name for e in get_registry("benchmark").list()]
    out: list[str] = []
    for entry in spec.benchmarks:
        if _is_pattern(entry):
            hits = [b for b in known if matches(b, entry)]
            if not hits:
                raise _in_board(spec, UnknownNameError("benchmark", entry, known))
        else:
            try:
                hits = [get_benchmark(entry).id]
            except UnknownNameError as exc:
                raise _in_board(spec, exc) from None
        out.extend(h for h in hits if h not in out)
    return out


def _in_board(spec: LeaderboardSpec, exc: UnknownNameError) -> UnknownNameError:
    exc.args = (f"leaderboard {spec.name!r} (registry.toml) names an {exc.args[0]} Fix the leaderboard's entry.",)
    return exc


def _requests(spec: LeaderboardSpec, store: ResultsStore,
              benchmarks: list[str]) -> tuple[list[ModelRequest], list[str], list[str]]:
    """The spec's model entries as requests (see the module docstring for ``*``), the stored labels under ``*`` that
    name no registered model (shown, never recomputed), and notes saying so."""
    from ..registry.entries import get_registry

    registry = get_registry("model")
    names = [e.name for e in registry.list()]
    out: list[ModelRequest] = []
    notes: list[str] = []
    unregistered: list[str] = []
    for entry in spec.models:
        if entry == "*":
            stored = sorted({r["model"] for r in store.rows(benchmark=benchmarks)}
                            | {f["model"] for f in store.failures(benchmark=benchmarks)})
            for label in stored:
                request = ModelRequest.parse(label) if label.endswith("]") else ModelRequest(label)
                if _known(request.name, registry):
                    out.append(request)
                else:
                    unregistered.append(label)
                    notes.append(f"{label}: stored, but no registered model has this name; shown, not recomputed")
            continue
        if _is_pattern(entry):
            hits = [n for n in names if matches(n, entry)]
            if not hits:
                raise _in_board(spec, UnknownNameError("model", entry, names))
            out.extend(ModelRequest(h) for h in hits)
            continue
        request = ModelRequest.parse(entry)
        if not _known(request.name, registry):
            raise _in_board(spec, UnknownNameError("model", request.name, names))
        out.append(request)
    return list(dict.fromkeys(out)), unregistered, notes


def _known(name: str, registry: Any) -> bool:
    """Whether get_model can resolve ``name`` (registered, ``family.weights``, a tagged family, or a factory)."""
    from ..names import parse_name

    if ":" in name or name in registry:
        return True
    family, variant = parse_name(name)
    return bool(variant and family in registry) or bool(registry.tagged(name))


def _identity(request: ModelRequest) -> tuple[str, dict[str, Any] | None, str | None]:
    """(label, {"weights_hash", "code"} or None, the build error or None): the model built once, no forward pass."""
    try:
        model = request.build()
        return model.label, {"weights_hash": model.weights_hash(), "code": model.code_versions()}, None
    except UnknownNameError:
        raise
    except Exception as exc:  # noqa: BLE001 - a model that fails to load is a failed cell, recorded when it runs
        return request.label(), None, f"{type(exc).__name__}: {exc}"


def _benchmark_versions(benchmark: str) -> tuple[str, str, str]:
    """(benchmark version, metric id, metric version) from the catalog and the metric's card."""
    from ..registry.catalog import get_benchmark
    from ..registry.entries import get_registry

    spec = get_benchmark(benchmark)
    return spec.version, spec.metric, get_registry("metric").get(spec.metric).card.version


def cell_key(model: str, identity: dict[str, Any] | None, benchmark: str, versions: tuple[str, str, str]) -> str:
    """sha256 of what decides a cell's up-to-dateness (``identity`` None: a model that does not load)."""
    record = {"model": model, "benchmark": benchmark, "benchmark_version": versions[0], "metric": versions[1],
              "metric_version": versions[2], "series": release_series(__version__),
              "weights_hash": identity["weights_hash"] if identity else "does not load",
              "code": _code_policy(identity["code"]) if identity else {}}
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def _why_stale(provenance: Any, identity: dict[str, Any], versions: tuple[str, str, str]) -> str | None:
    """Why a stored result's provenance is out of date under the policy (None: up to date)."""
    why = []
    if provenance.weights_hash != identity["weights_hash"]:
        why.append(f"weights changed (stored {provenance.weights_hash[:12]}, now {identity['weights_hash'][:12]})")
    if provenance.benchmark_version != versions[0]:
        why.append(f"benchmark version {provenance.benchmark_version} -> {versions[0]}")
    if provenance.metric != versions[1] or provenance.metric_version != versions[2]:
        why.append(f"metric {provenance.metric} {provenance.metric_version} -> {versions[1]} {versions[2]}")
    if release_series(provenance.brainbench_version) != release_series(__version__):
        why.append(f"brainbench {provenance.brainbench_version} -> {__version__}")
    stored, now = _code_policy(provenance.code), _code_policy(identity["code"])
    changed = sorted(k for k in stored.keys() | now.keys() if stored.get(k) != now.get(k))
    if changed:
        why.append("forward code changed: " + ", ".join(f"{k} {stored.get(k, '-')} -> {now.get(k, '-')}"
                                                        for k in changed))
    return "; ".join(why) or None


def plan_regeneration(leaderboard: str | LeaderboardSpec, store: ResultsStore, *, retry_failed: bool = False,
                      force: bool = False) -> Plan:
    """The cells of ``leaderboard`` (a registry.toml name or a spec) and which of them a regeneration computes:
    missing and stale cells, failed ones only with ``retry_failed``, every one with ``force`` (the policy: the module
    docstring). Builds each model once (no forward pass) to read its weights hash and code versions.

    Raises UnknownNameError (with close matches) for an unknown leaderboard, or one naming a model or benchmark that
    does not exist (a pattern matching nothing included); ConfigError for a malformed model label."""
    from ..registry.catalog import get_leaderboard

    spec = get_leaderboard(leaderboard) if isinstance(leaderboard, str) else leaderboard
    benchmarks = _benchmarks(spec)
    requests, unregistered, notes = _requests(spec, store, benchmarks)
    versions = {b: _benchmark_versions(b) for b in benchmarks}
    built = [(request, *_identity(request)) for request in requests]
    labels = [label for _, label, _, _ in built]
    newest: dict[tuple[str, str], dict[str, Any]] = {}
    for r in store.rows(model=labels, benchmark=benchmarks, latest=False):
        newest[(r["model"], r["benchmark"])] = r  # ordered by id: the last is the newest
    failed = {(f["model"], f["benchmark"]): f for f in store.failures(model=labels, benchmark=benchmarks)}
    cells = []
    for request, label, identity, load_error in built:
        for b in benchmarks:
            key = cell_key(label, identity, b, versions[b])
            row, failure = newest.get((label, b)), failed.get((label, b))
            if row is None:
                status: Status = "missing"
                reason = "never scored" if load_error is None else f"never scored; the model does not load: {load_error}"
            elif identity is None:
                status, reason = "stale", f"the model does not load now: {load_error}"
            else:
                reason = _why_stale(store.get(row["id"]).provenance, identity, versions[b])
                status = "stale" if reason else "ok"
            if failure is not None and (row is None or failure["created"] >= row["created"]) \
                    and failure["cell_key"] == key:
                status, reason = "failed", failure["error"]
            run = force or status in ("missing", "stale") or (status == "failed" and retry_failed)
            cells.append(PlannedCell(label, b, request, status, run, key, reason))
    models = list(dict.fromkeys(labels + unregistered))
    return Plan(spec, models, benchmarks, cells, notes)


# -- running cells -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CellEvent:
    """A cell's progress, as the client sees it: ``kind`` is ``"start"`` or ``"done"``; ``status`` (done) is ``"ok"``,
    ``"failed"`` or ``"stored"`` (already stored by this run before a worker died); ``error`` for a failure."""

    kind: Literal["start", "done"]
    model: str
    benchmark: str
    status: str | None = None
    error: str | None = None
    result_id: int | None = None
    seconds: float | None = None


def run_group(url: str | ResultsStore, run_id: int, request: ModelRequest, cells: list[tuple[str, str, str]],
              score_options: dict[str, Any] | None = None, events: Events | None = None) -> list[CellEvent]:
    """Score one model's cells (``(model label, benchmark, cell_key)``) and write each to the store at ``url`` (a
    database URL, opened here, as on a Dask worker; or the store itself, in-process) in one transaction per cell: the model is built once and its benchmarks run one after another, so the activation cache
    shares features between benchmarks on the same stimuli. A cell this run already stored is skipped; a model that
    fails to build fails all its cells, a cell that raises fails alone, each recorded with its traceback. Runs in a
    Dask worker or in-process; ``events`` (default on a Dask worker: the run's event topic) hears each cell's start
    and end. Returns the cells' ``done`` events."""
    from ..results.store import ResultsStore
    from .scorer import score

    store = ResultsStore(url) if isinstance(url, str) else url
    emit = events or _worker_events(run_id)
    options = {"progress": False, **(score_options or {})}
    done: list[CellEvent] = []

    def finish(event: CellEvent) -> None:
        done.append(event)
        emit(event)

    model = None
    for label, benchmark, key in cells:
        start = time.perf_counter()
        if (stored := store.cell_result(run_id, key)) is not None:
            finish(CellEvent("done", label, benchmark, "stored", result_id=stored, seconds=0.0))
            continue
        emit(CellEvent("start", label, benchmark))
        try:
            if model is None:
                model = request.build()
            result = score(model, benchmark, **options)
            result_id, _ = store.add_cell(result, run_id=run_id, cell_key=key)
            finish(CellEvent("done", label, benchmark, "ok", result_id=result_id,
                             seconds=time.perf_counter() - start))
        except Exception as exc:  # noqa: BLE001 - a failed cell is recorded with its traceback; the run goes on
            error = f"{type(exc).__name__}: {exc}"
            store.add_failure(run_id=run_id, cell_key=key, model=label, benchmark=benchmark, error=error,
                              traceback=tb.format_exc())
            finish(CellEvent("done", label, benchmark, "failed", error=error, seconds=time.perf_counter() - start))
    return done


def _topic(run_id: int) -> str:
    return f"brainbench-regenerate-{run_id}"


def _worker_events(run_id: int) -> Events:
    """On a Dask worker: send each event to the client through the run's event topic; elsewhere: drop them."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return lambda _event: None
    return lambda event: worker.log_event(_topic(run_id), asdict(event))


@dataclass
class Regeneration:
    """What :func:`regenerate` did: the run's id (None for a dry run), the plan, every computed cell's ``done``
    event, and the board afterwards."""

    run_id: int | None
    plan: Plan
    done: list[CellEvent]
    board: Board

    @property
    def counts(self) -> dict[str, int]:
        out = {"ok": 0, "failed": 0, "stored": 0}
        for e in self.done:
            out[e.status or "ok"] += 1
        return out


def _client(workers: int | None, scheduler: str | None, timeout: float) -> tuple[Any, Any]:
    """(Dask client, the LocalCluster it started or None). ``scheduler``: connect within ``timeout`` seconds, a
    SchedulerError when it does not answer; ``workers``: a LocalCluster of that many processes, one thread each."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ConfigError(f"--workers and --scheduler run on Dask, which does not import here ({exc}); install it "
                          "with pip install 'dask[distributed]'") from None
    if scheduler:
        try:
            return Client(scheduler, timeout=timeout), None
        except (OSError, TimeoutError) as exc:
            raise SchedulerError(
                f"the Dask scheduler at {scheduler!r} did not answer within {timeout:g} s ({type(exc).__name__}: "
                f"{exc}). Check the address (tcp://HOST:8786) and that the scheduler runs (dask scheduler, or a "
                "dask-jobqueue cluster's scheduler_address), or leave --scheduler out to run here") from None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    return Client(cluster), cluster


def regenerate(leaderboard: str | LeaderboardSpec, store: ResultsStore | None = None, *, retry_failed: bool = False,
               force: bool = False, workers: int | None = None, scheduler: str | None = None,
               scheduler_timeout: float = SCHEDULER_TIMEOUT, events: Events | None = None,
               on_plan: Callable[[Plan], None] | None = None, score_options: dict[str, Any] | None = None,
               value: str = "auto") -> Regeneration:
    """Bring ``leaderboard`` up to date in ``store`` (default: the configured store): plan it
    (:func:`plan_regeneration`), record a run, compute the cells to run (in-process; on a LocalCluster of
    ``workers`` processes; or on the Dask scheduler at ``scheduler``), and keep a snapshot of the board afterwards.
    ``events`` hears each cell's start and end (from the workers too); ``on_plan`` sees the plan before any cell
    runs. A group whose task Dask gives up on (a worker killed by it on every try) fails its unstored cells.

    Raises what :func:`plan_regeneration` raises, ConfigError for ``workers`` < 1 or both ``workers`` and
    ``scheduler``, and SchedulerError for a scheduler that does not answer within ``scheduler_timeout`` seconds,
    each before any cell runs."""
    from ..results.board import build_board
    from ..results.store import ResultsStore

    if workers is not None and workers < 1:
        raise ConfigError(f"workers must be at least 1; got {workers}")
    if workers and scheduler:
        raise ConfigError("give --workers (a LocalCluster here) or --scheduler (an existing cluster), not both")
    store = store or ResultsStore()
    plan = plan_regeneration(leaderboard, store, retry_failed=retry_failed, force=force)
    emit = events or (lambda _event: None)
    client = cluster = None
    if scheduler or (workers and plan.todo):  # a scheduler address is checked even when nothing is to run
        client, cluster = _client(workers, scheduler, scheduler_timeout)
    run_id: int | None = None
    done: list[CellEvent] = []
    status = "interrupted"
    try:
        if on_plan:
            on_plan(plan)
        options = {"workers": workers, "scheduler": scheduler, "retry_failed": retry_failed, "force": force}
        run_id = store.start_run(leaderboard=plan.spec.name, n_planned=len(plan.todo), options=options)
        if client is None:
            for request, cells in plan.groups():
                done += run_group(store, run_id, request, [(c.model, c.benchmark, c.cell_key) for c in cells],
                                  score_options, emit)
        else:
            done = _on_dask(client, store, run_id, plan, score_options, emit)
        status = "done"
    finally:
        if run_id is not None:
            store.finish_run(run_id, status)
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    # the board's rows are the models' labels (a factory entry's model carries its own label)
    board = build_board(plan.spec.model_copy(update={"models": plan.models}), store, value=value, models=plan.models,
                        benchmarks=plan.benchmarks, stale=_still_stale(plan, done))
    store.add_snapshot(plan.spec.name, board.to_json(), run_id=run_id)
    return Regeneration(run_id, plan, done, board)


def _still_stale(plan: Plan, done: list[CellEvent]) -> dict[tuple[str, str], str]:
    computed = {(e.model, e.benchmark) for e in done if e.status in ("ok", "stored")}
    return {k: v for k, v in plan.stale().items() if k not in computed}


def _on_dask(client: Any, store: ResultsStore, run_id: int, plan: Plan, score_options: dict[str, Any] | None,
             emit: Events) -> list[CellEvent]:
    """One Dask task per model group; events reach ``emit`` through the run's topic. A task Dask gives up on
    (KilledWorker after its allowed failures) fails the cells it had not stored."""
    from distributed import as_completed

    fields = set(CellEvent.__dataclass_fields__)

    def forward(event: Any) -> None:
        _, message = event  # log_event adds the worker's address
        emit(CellEvent(**{k: v for k, v in message.items() if k in fields}))

    client.subscribe_topic(_topic(run_id), forward)
    futures = {}
    for i, (request, cells) in enumerate(plan.groups()):
        triples = [(c.model, c.benchmark, c.cell_key) for c in cells]
        future = client.submit(run_group, store.url, run_id, request, triples, score_options, None,
                               key=f"regenerate-{run_id}-{i}", pure=False)
        futures[future] = (request, triples)
    done: list[CellEvent] = []
    try:
        for future in as_completed(list(futures)):
            try:
                done += future.result()
            except Exception as exc:  # noqa: BLE001 - the task itself was lost (its workers died): fail its cells
                error = f"{type(exc).__name__}: {exc}"
                for label, benchmark, key in futures[future][1]:
                    if (stored := store.cell_result(run_id, key)) is not None:
                        event = CellEvent("done", label, benchmark, "stored", result_id=stored)
                    else:
                        store.add_failure(run_id=run_id, cell_key=key, model=label, benchmark=benchmark, error=error,
                                          traceback="".join(tb.format_exception(exc)))
                        event = CellEvent("done", label, benchmark, "failed", error=error)
                    done.append(event)
                    emit(event)
    finally:
        client.unsubscribe_topic(_topic(run_id))
    return done


def dry_run_estimates(plan: Plan) -> list[dict[str, Any]]:
    """Per model and stimulus set to run (one extraction, shared by the set's benchmarks through the activation
    cache): its ``cells`` (benchmark ids), the features' ``bytes`` still to extract, the ``peak_bytes`` of the
    largest pass and ``seconds``, from the extraction plan (:func:`brainbench.extraction.plan.plan_extraction`,
    which traces the model on two stimuli). Time: one timed forward pass over a batch of up to :data:`TIMED_BATCH`
    stimuli, per image, times the stimuli and passes still to extract (layers in the activation cache cost none);
    the hooks that keep features and the metric's time are not included.
    Memory: the largest pass's stored features plus one batch of forward activations. Where the model or the data
    does not load, ``note`` says why (the cell will fail or wait for its data; nothing is fatal here)."""
    from ..extraction.plan import plan_extraction
    from ..registry.catalog import get_benchmark
    from ..registry.entries import get_dataset

    out: list[dict[str, Any]] = []
    for request, cells in plan.groups():
        def row(benchmarks: list[str], note: str | None = None) -> dict[str, Any]:
            return {"model": cells[0].model, "cells": benchmarks, "stimuli": None, "bytes": 0, "peak_bytes": 0,
                    "seconds": 0.0, "note": note}

        try:
            model = request.build()
        except Exception as exc:  # noqa: BLE001 - a model that does not load fails when it runs; here, a note
            out.append(row([c.benchmark for c in cells], f"model does not load: {type(exc).__name__}: {exc}"))
            continue
        by_set: dict[str, dict[str, Any]] = {}
        for c in cells:
            try:
                stimuli = get_dataset(get_benchmark(c.benchmark).dataset).stimulus_set()
            except Exception as exc:  # noqa: BLE001 - data not here: said, not fatal
                out.append(row([c.benchmark], f"data does not load: {type(exc).__name__}: {exc}"))
                continue
            if stimuli.identifier in by_set:
                by_set[stimuli.identifier]["cells"].append(c.benchmark)
                continue
            entry = by_set[stimuli.identifier] = row([c.benchmark])
            entry["stimuli"] = stimuli.identifier
            try:
                xplan = plan_extraction(model, stimuli)
                per_stimulus = _forward_seconds(model, stimuli, xplan) if any(not p.cached for p in xplan.layers) \
                    else 0.0
            except Exception as exc:  # noqa: BLE001
                entry["note"] = f"cannot plan the extraction: {type(exc).__name__}: {exc}"
                continue
            entry["bytes"] = sum(p.stored_bytes for p in xplan.layers if not p.cached)
            for names, batch in zip(xplan.passes, xplan.batch_sizes):
                stored = sum(p.stored_bytes for p in xplan.layers if p.name in names)
                entry["peak_bytes"] = max(entry["peak_bytes"], stored + batch * xplan.forward_bytes_per_stimulus)
            entry["seconds"] = per_stimulus * xplan.n_stimuli * len(xplan.passes)
        out.extend(by_set.values())
    return out


def _forward_seconds(model: Any, stimuli: Any, xplan: Any) -> float:
    """Seconds per image of one forward pass (no gradients) over the first :data:`TIMED_BATCH` stimuli, on the plan's
    device."""
    import torch

    from ..device import seeded
    from ..extraction.inputs import _batch

    ids = stimuli.ids[:TIMED_BATCH]
    x = _batch(model, stimuli, ids).to(xplan.device)
    with torch.no_grad(), seeded(xplan.seed, xplan.device):
        start = time.perf_counter()
        model.module(x)
        return (time.perf_counter() - start) / len(ids)
