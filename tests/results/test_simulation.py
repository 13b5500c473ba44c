"""The regeneration simulation against closed forms: list scheduling of equal tasks, and the scheduler and the store
each as the bottleneck."""

import math

import pytest

from brainbench.errors import ConfigError
from brainbench.results.simulation import Task, simulate


def test_equal_tasks_without_overheads_take_ceil_n_over_w_rounds():
    tasks = [Task(2.0, (0.5, 0.5)) for _ in range(10)]  # 3 s each
    for workers in (1, 3, 4, 10, 16):
        result = simulate(tasks, workers)
        assert result.makespan_s == pytest.approx(math.ceil(10 / workers) * 3.0)
        assert result.cells == 20 and result.limit == ("workers" if workers <= 10 else "longest task")
    assert simulate(tasks, 10).utilisation["workers"] == pytest.approx(1.0)
    assert simulate(tasks, 4).utilisation["workers"] == pytest.approx(30 / (4 * 9))


def test_longest_first_against_the_given_order():
    # by hand, 2 workers: given order 1,1,1,1,4 -> the 4 starts at 2 and ends at 6; longest first puts the 4 alone
    # on one worker and the four 1s on the other -> 4
    tasks = [Task(t, ()) for t in (1, 1, 1, 1, 4)]
    assert simulate(tasks, 2, order="given").makespan_s == pytest.approx(6.0)
    assert simulate(tasks, 2).makespan_s == pytest.approx(4.0)


def test_a_slow_store_is_the_limit_and_sets_the_write_rate():
    tasks = [Task(0.0, (0.01,) * 5) for _ in range(40)]  # 200 cells of 10 ms compute, 0.1 s per row written
    result = simulate(tasks, 16, write_s=0.1)
    assert result.limit == "store"
    assert result.makespan_s == pytest.approx(200 * 0.1, rel=0.01)  # the store serialises every row
    assert result.peak_writes_per_s == pytest.approx(10.0, abs=1)
    two = simulate(tasks, 16, write_s=0.1, store_servers=2)
    assert two.makespan_s == pytest.approx(10.0, rel=0.02) and two.peak_writes_per_s == pytest.approx(20, abs=1)


def test_a_busy_scheduler_is_the_limit():
    tasks = [Task(0.001, ()) for _ in range(1000)]
    result = simulate(tasks, 256, scheduler_s=0.001)
    # every task is handed out once and recorded once: 2 ms of scheduler time each, the workers mostly idle
    assert result.limit == "scheduler" and result.makespan_s == pytest.approx(2.0, rel=0.01)
    assert result.utilisation["scheduler"] == pytest.approx(1.0, rel=0.01)


def test_bad_input():
    with pytest.raises(ConfigError, match="task list is empty"):
        simulate([], 2)
    with pytest.raises(ConfigError, match="at least 1"):
        simulate([Task(1.0, ())], 0)
    with pytest.raises(ConfigError, match="non-finite"):
        simulate([Task(-1.0, ())], 1)
