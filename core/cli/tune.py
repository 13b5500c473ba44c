"""``brainbench tune``: tuned models, stored in the data home (:mod:`brainbench.tuning.saved`) and registered by name
like any model (``score -m NAME``, ``list models --where tuned_from=PARENT``).

``tune list`` and ``tune delete`` manage the stored ones. A command that tunes is one more ``@tune.command()`` in this
group (or ``tune.add_command(cmd)`` from another module of this folder) that ends by saving its
:class:`~brainbench.registry.contracts.TuningResult` (``result.save(name)``) and printing :func:`describe_saved`.
"""

from __future__ import annotations

import json

import click

from .output import console, handle_errors, rich_table

__all__ = ["describe_saved", "tune"]


@click.group()
def tune() -> None:
    """Tune a model toward a brain region (lwf, fastfood), and the tuned models: list the stored ones, delete one
    (each is a registered model, scored by its name)."""


def _row(stored) -> dict:
    card = stored.card or {}
    ids = card.get("stimulus_ids") if isinstance(card.get("stimulus_ids"), dict) else {}
    return {"name": stored.name, "parent": card.get("parent"), "parent_weights": card.get("parent_weights"),
            "tuner": card.get("tuner"), "tuner_version": card.get("tuner_version"), "data": card.get("data"),
            "stimuli": {split: len(v) for split, v in ids.items() if isinstance(v, list)},
            "seed": card.get("seed"), "created": card.get("created"), "folder": str(stored.folder),
            "problem": stored.problem}


def describe_saved(folder) -> str:
    """The lines a tuning command prints after saving to ``folder``: where, and how to use the model."""
    name = folder.name
    return (f"tuned model {name!r} stored in {folder}\nscore it by name, e.g. brainbench score -m {name} -b BENCHMARK; "
            f"list it with brainbench tune list")


@tune.command("list")
@click.option("--parent", "-p", default=None, help="only the models tuned from this parent")
@click.option("--json", "as_json", is_flag=True, help="print JSON (with the folder and the stimuli per split)")
@handle_errors
def list_cmd(parent: str | None, as_json: bool) -> None:
    """The stored tuned models: name, parent, tuner, data, stimuli per split, created (and any problem)."""
    from ..tuning.saved import list_tuned, tuned_roots

    rows = [_row(s) for s in list_tuned(parent)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    columns = ["name", "parent", "tuner", "data", "stimuli", "seed", "created"]
    cells = [[r["name"], r["parent"], f"{r['tuner']} {r['tuner_version']}", r["data"],
              ", ".join(f"{k} {v}" for k, v in r["stimuli"].items()), r["seed"], r["created"]] for r in rows]
    if any(r["problem"] for r in rows):
        columns.append("problem")
        cells = [c + [r["problem"]] for c, r in zip(cells, rows)]
    where = " or ".join(str(p) for p in tuned_roots())
    console().print(rich_table(f"{len(rows)} tuned model{'s' * (len(rows) != 1)}"
                               f"{f' of {parent}' if parent else ''} (in {where})", columns, cells))


@tune.command("delete")
@click.argument("name")
@handle_errors
def delete_cmd(name: str) -> None:
    """Remove the stored tuned model NAME (its folder: weights and card); it is no longer a registered model. Models
    tuned from it are named (they can no longer be built), not removed."""
    from ..tuning.saved import delete_tuned, list_tuned

    folder = delete_tuned(name)
    click.echo(f"removed tuned model {name!r}: {folder}")
    children = [s.name for s in list_tuned(parent=name)]
    if children:
        click.echo(f"note: {', '.join(children)} {'was' if len(children) == 1 else 'were'} tuned from {name!r} and can "
                   "no longer be built; delete them too (brainbench tune delete NAME)", err=True)


def _add_tuners() -> None:
    from .tuners import fastfood_command, lwf_command

    tune.add_command(lwf_command)
    tune.add_command(fastfood_command)


_add_tuners()
