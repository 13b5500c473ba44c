"""tools/lwf_drift.py: LwF's distillation term alone, from the parent's weights, under each optimiser. With dropout
off its gradient is rounding residue only: SGD leaves the network where it is, Adam rescales the residue into
steps of about the learning rate and moves it (the README's table of the four settings)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[2] / "tools" / "lwf_drift.py"


def _tool():
    spec = importlib.util.spec_from_file_location("lwf_drift", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_distillation_term_alone_moves_the_network_under_adam_and_not_under_sgd():
    rows = _tool().drift("synthetic_generator", "synthetic.late", steps=6, batch_size=16,
                         settings=[("adam", 1e-3, "off"), ("sgd", 1e-2, "off")])
    adam, sgd = rows
    assert adam["grad_norm_step0"] == pytest.approx(sgd["grad_norm_step0"]) and sgd["grad_norm_step0"] < 1e-6
    assert abs(sgd["kl_from_parent"]) < 1e-7 and sgd["top1_agreement"] == 1.0  # steps the size of the residue
    assert adam["kl_from_parent"] > 1e-4 and adam["top1_agreement"] < 1.0  # residue rescaled to lr-sized steps
