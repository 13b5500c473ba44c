"""The built-in tuners: ``lwf`` (Learning without Forgetting toward a region, :mod:`brainbench.tuning.lwf`) and
``fastfood`` (tuning through a d-dimensional Fastfood subspace, :mod:`brainbench.tuning.warp`).

``get_tuner(name).tune(model, benchmark, config)``: ``config`` maps the settings of
:class:`~brainbench.tuning.lwf.LwFConfig` / :class:`~brainbench.tuning.warp.FastfoodConfig` (``layer`` required;
``fastfood`` also ``d``) and of the training loop (:class:`~brainbench.tuning.train.TrainConfig`: ``epochs``,
``batch_size``, ``lr``, ``weight_decay``, ``optimizer``, ``schedule``, ``patience``, ``seed``), flat; plus ``device``
and ``checkpoint`` (LwF). An unknown key is a ConfigError naming the known ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from brainbench import TunerCard, hookimpl
from brainbench.errors import ConfigError
from brainbench.registry.contracts import Tuner

RUN_KEYS = ("device", "checkpoint", "progress", "name")


def _split(config: Mapping[str, Any], settings: type, extra: tuple[str, ...]) -> tuple[Any, dict[str, Any]]:
    from brainbench.tuning.train import TrainConfig

    train_keys = {f.name for f in dataclasses.fields(TrainConfig)}
    own = {f.name for f in dataclasses.fields(settings)} - {"train"}
    known = sorted(train_keys | own | set(extra) | set(RUN_KEYS))
    unknown = sorted(set(config) - set(known))
    if unknown:
        raise ConfigError(f"unknown tuner setting(s) {', '.join(unknown)}; known: {', '.join(known)}")
    if "layer" not in config:
        raise ConfigError("the tuner needs a layer (the readout layer): config['layer']")
    train = TrainConfig(**{k: v for k, v in config.items() if k in train_keys})
    values = {k: (tuple(v) if k == "train_parameters" and v is not None else v) for k, v in config.items() if k in own}
    run = {k: v for k, v in config.items() if k in RUN_KEYS or k in extra}
    return settings(**values, train=train), run


class LwFTuner(Tuner):
    card = TunerCard(name="lwf", version="1", description="Learning without Forgetting (Li & Hoiem 2017): a readout "
                                                          "predicts the region, distillation keeps the parent's outputs")

    def tune(self, model: Any, data: Any, config: Mapping[str, Any]) -> Any:
        from brainbench.tuning.lwf import LwFConfig, tune_lwf

        settings, run = _split(config, LwFConfig, ())
        return tune_lwf(model, _benchmark(data), settings, **run)


class FastfoodTuner(Tuner):
    card = TunerCard(name="fastfood", version="1", description="tuning through a d-dimensional Fastfood subspace "
                                                               "(Li et al. 2018; Aghajanyan et al. 2021)")

    def tune(self, model: Any, data: Any, config: Mapping[str, Any]) -> Any:
        from brainbench.tuning.warp import FastfoodConfig, tune_fastfood

        settings, run = _split(config, FastfoodConfig, ("d",))
        if "d" not in run:
            raise ConfigError("the fastfood tuner needs d (the subspace dimension): config['d']")
        d = run.pop("d")
        return tune_fastfood(model, _benchmark(data), d, settings, **run)


def _benchmark(data: Any) -> str:
    if not isinstance(data, str):
        raise ConfigError(f"the built-in tuners tune toward a benchmark: pass its id (e.g. 'cowley2023.V4'), not "
                          f"{type(data).__name__}")
    return data


@hookimpl
def register_tuners(register):
    register(LwFTuner.card, LwFTuner)
    register(FastfoodTuner.card, FastfoodTuner)
