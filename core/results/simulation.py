"""How long regenerating a leaderboard takes at scale, and what limits it: a discrete-event simulation of cells run
on ``W`` workers, with a central scheduler and a results store as shared resources.

The work is a list of :class:`Task`: one model on one stimulus set, whose features are extracted once
(``extract_s``) and then scored by every benchmark on that stimulus set (``metric_s``, one cell each), each cell's
result written to the store before the next cell starts. This is how regeneration groups cells (features once per
model and stimulus set, shared through the activation cache). Three resources are simulated:

- **workers** (``W``): each runs one task at a time, taking the next from the queue the moment it is free;
- **the scheduler**: one server that spends ``scheduler_s`` on every task it hands out and every completion it
  records (Dask's central scheduler: order 1 ms of scheduler time per task, measured by ``benchmarks/``);
- **the store**: ``store_servers`` servers (1 for SQLite, whose writers queue on one lock; a few for PostgreSQL) that
  spend ``write_s`` per row; a worker waits for its write.

The result is the makespan, each resource's utilisation, the lower bounds each resource alone imposes
(``workers``: work / W; ``longest task``; ``scheduler``: tasks x 2 x scheduler_s; ``store``: cells x
write_s / store_servers), which of them the
makespan sits closest to (the limit), and the peak write rate over one-second windows. The method is plain
event-driven list scheduling (Graham 1969), with tasks taken longest first (LPT) or in the given order.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from ..errors import ConfigError

__all__ = ["SimulationResult", "Task", "simulate"]


@dataclass(frozen=True)
class Task:
    """One model on one stimulus set: extraction (seconds on one worker) then one metric per benchmark cell."""

    extract_s: float
    metric_s: tuple[float, ...]
    label: str = ""

    @property
    def work_s(self) -> float:
        return self.extract_s + sum(self.metric_s)


@dataclass
class SimulationResult:
    """Makespan (s), per-resource utilisation (0-1), lower bounds (s), the limit, and the peak store write rate
    (rows/s over one-second windows)."""

    workers: int
    tasks: int
    cells: int
    makespan_s: float
    utilisation: dict[str, float]
    bounds: dict[str, float]
    limit: str
    peak_writes_per_s: float
    mean_writes_per_s: float
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        util = ", ".join(f"{k} {v:.0%}" for k, v in self.utilisation.items())
        return (f"{self.workers} workers: {self.tasks} tasks / {self.cells} cells in {_hours(self.makespan_s)} "
                f"(limit: {self.limit}; utilisation {util}; store peak {self.peak_writes_per_s:.1f} rows/s, "
                f"mean {self.mean_writes_per_s:.2f})")


def _hours(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.2f} s"


def simulate(tasks: Sequence[Task], workers: int, *, scheduler_s: float = 0.0, write_s: float = 0.0,
             store_servers: int = 1, order: Literal["longest_first", "given"] = "longest_first") -> SimulationResult:
    """Simulate running ``tasks`` on ``workers`` (module docstring). Times in seconds.

    Raises ConfigError for no tasks, fewer than one worker or store server, or a negative or non-finite time."""
    if not tasks:
        raise ConfigError("nothing to simulate: the task list is empty")
    if workers < 1 or store_servers < 1:
        raise ConfigError(f"workers and store_servers must be at least 1; got {workers} and {store_servers}")
    for name, value in (("scheduler_s", scheduler_s), ("write_s", write_s)):
        if not (math.isfinite(value) and value >= 0):
            raise ConfigError(f"{name} must be a finite time >= 0 seconds; got {value!r}")
    for t in tasks:
        if not all(math.isfinite(v) and v >= 0 for v in (t.extract_s, *t.metric_s)):
            raise ConfigError(f"task {t.label or t!r} has a negative or non-finite time; times are seconds >= 0")
    if order not in ("longest_first", "given"):
        raise ConfigError(f"order must be 'longest_first' or 'given'; got {order!r}")
    queue = sorted(tasks, key=lambda t: -t.work_s) if order == "longest_first" else list(tasks)
    queue.reverse()  # pop() from the end takes them in order

    # events in time order (time, sequence, worker, kind, metric index); the scheduler and the store serve their jobs
    # first come, first served, so processing events in time order keeps both queues exact
    events: list[tuple[float, int, int, str, int]] = []
    seq = 0

    def push(time: float, worker: int, kind: str, index: int = 0) -> None:
        nonlocal seq
        heapq.heappush(events, (time, seq, worker, kind, index))
        seq += 1

    for w in range(workers):
        push(0.0, w, "request")
    scheduler_free = 0.0
    store_free = [0.0] * store_servers  # a heap of the times each store server is next free
    writes: list[float] = []
    busy = {"workers": 0.0, "scheduler": 0.0, "store": 0.0}
    current: dict[int, Task] = {}
    end = 0.0
    while events:
        time, _, w, kind, index = heapq.heappop(events)
        if kind == "request":  # record the finished task (if any) and hand out the next (if any)
            cost = scheduler_s * ((w in current) + bool(queue))
            scheduler_free = max(time, scheduler_free) + cost
            busy["scheduler"] += cost
            current.pop(w, None)
            if queue:
                task = current[w] = queue.pop()
                busy["workers"] += task.work_s
                push(scheduler_free + task.extract_s, w, "metric", 0)
            else:
                end = max(end, scheduler_free)
        elif kind == "metric":  # start metric ``index`` of the worker's task, or ask for the next task
            task = current[w]
            if index < len(task.metric_s):
                push(time + task.metric_s[index], w, "write", index)
            else:
                push(time, w, "request")
        else:  # "write": the cell's row, on the first free store server
            free = heapq.heappop(store_free)
            finish = max(time, free) + write_s
            heapq.heappush(store_free, finish)
            busy["store"] += write_s
            writes.append(finish)
            push(finish, w, "metric", index + 1)
    cells = sum(len(t.metric_s) for t in tasks)
    work = sum(t.work_s for t in tasks)
    bounds = {
        "workers": work / workers,
        "longest task": max(t.work_s for t in tasks),
        "scheduler": 2 * scheduler_s * len(tasks),
        "store": cells * write_s / store_servers,
    }
    makespan = end
    utilisation = {"workers": busy["workers"] / (workers * makespan) if makespan else 0.0,
                   "scheduler": busy["scheduler"] / makespan if makespan else 0.0,
                   "store": busy["store"] / (store_servers * makespan) if makespan else 0.0}
    limit = max(bounds, key=lambda k: bounds[k])
    peak = 0.0
    if writes:
        writes.sort()
        j = 0
        for i, time in enumerate(writes):  # the most writes in any window (time - 1 s, time]
            while writes[j] <= time - 1.0 + 1e-9:  # (time - 1 s, time], up to rounding
                j += 1
            peak = max(peak, i - j + 1)
    notes = []
    if bounds[limit] < 0.9 * makespan:
        notes.append(f"the makespan is {makespan / bounds[limit]:.2f}x the largest lower bound ({limit}): "
                     "resources wait on each other")
    return SimulationResult(workers, len(tasks), cells, makespan, utilisation, bounds, limit, float(peak),
                            cells / makespan if makespan else 0.0, notes)
