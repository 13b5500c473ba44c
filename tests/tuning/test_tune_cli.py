"""``brainbench tune lwf`` and ``tune fastfood`` end to end: the tuned model is saved and scored by name; a run
killed mid-way resumes from its checkpoint (in a new process) to the same weights as a run never interrupted; a run
whose loss turns non-finite saves nothing and keeps its last good checkpoint."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

import brainbench
from brainbench.cli.commands import main

LWF = ["tune", "lwf", "-m", "synthetic_generator", "--weights", "random", "--seed", "0", "-b", "synthetic.late",
       "--layer", "block2", "--batch-size", "32", "--patience", "50", "-q"]


def test_tune_lwf_saves_a_model_scored_by_name_and_fastfood_records_its_subspace(home):
    out = CliRunner().invoke(main, [*LWF, "--name", "syn-lwf", "--epochs", "2", "--lambda", "1", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["record"]["tuner"] == "lwf" and data["record"]["epochs_run"] == 2
    assert data["record"]["config"]["train"]["dropout"] == "off"  # the default: the network that is scored
    assert not (home / "tuning-runs" / "syn-lwf.pt").exists()  # a finished run's checkpoint is removed
    assert "syn-lwf" in brainbench.list_models(where={"tuned_from": "synthetic_generator"})
    with pytest.raises(brainbench.ConfigError, match=r"syn-lwf was tuned toward synthetic.late on 240 stimuli of "
                                                     r"dataset 'synthetic', and 240 of them are stimuli that "
                                                     r"synthetic.early scores"):
        brainbench.score("syn-lwf", "synthetic.early", layers=["block2"], progress=False)  # no leakage
    features = brainbench.extract(brainbench.get_model("syn-lwf"), brainbench.get_dataset("synthetic").stimulus_set(), ["block2"],
                                  progress=False)
    assert features["block2"].shape == (300, 32 * 4 * 4)  # otherwise it is a model like any other
    ff = CliRunner().invoke(main, ["tune", "fastfood", *LWF[2:], "--name", "syn-ff", "--epochs", "1", "--d", "16",
                                   "--dropout", "train", "--json"])
    assert ff.exit_code == 0, ff.output
    record = json.loads(ff.output)["record"]
    assert record["config"]["train"]["dropout"] == "train"
    assert (record["tuner"], record["d"], record["D"]) == ("fastfood", 16, 16 * 3 * 25 + 16 + 32 * 16 * 9 + 32)
    listed = CliRunner().invoke(main, ["tune", "list", "--json"])
    assert sorted(row["name"] for row in json.loads(listed.output)) == ["syn-ff", "syn-lwf"]


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_killed_tune_run_resumes_in_a_new_process_to_the_same_weights(tmp_path):
    def env(home):
        return {**os.environ, "BRAINBENCH_HOME": str(tmp_path / home)}

    args = [sys.executable, "-m", "brainbench", *LWF, "--epochs", "6", "--lambda", "1"]
    whole = subprocess.run([*args, "--name", "whole"], env=env("a"), capture_output=True, text=True, timeout=600)
    assert whole.returncode == 0, whole.stderr
    checkpoint = tmp_path / "b" / "tuning-runs" / "cut.pt"
    run = subprocess.Popen([*args, "--name", "cut"], env=env("b"), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while not checkpoint.exists() and run.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    if run.poll() is None:
        run.send_signal(signal.SIGKILL)  # mid-run, after at least one epoch's checkpoint
    run.wait()
    assert run.returncode == -signal.SIGKILL, "the run ended before it could be killed after its first checkpoint"
    again = subprocess.run([*args, "--name", "cut"], env=env("b"), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "resumed from epoch" in again.stdout  # it did resume, and still ends with the same weights

    a = tmp_path / "a" / "tuned" / "whole" / "weights.safetensors"
    b = tmp_path / "b" / "tuned" / "cut" / "weights.safetensors"
    assert _sha(a) == _sha(b)


def test_a_run_whose_loss_turns_non_finite_saves_nothing_and_keeps_its_checkpoint(home, monkeypatch):
    import brainbench.tuning.lwf as lwf

    calls = [0]
    real = lwf.neural_loss

    def poisoned(predicted, target, kind="mse"):
        calls[0] += 1
        loss = real(predicted, target, kind)
        return loss * float("nan") if calls[0] == 12 else loss

    monkeypatch.setattr(lwf, "neural_loss", poisoned)
    out = CliRunner().invoke(main, [*LWF, "--name", "broken", "--epochs", "3", "--lambda", "0"])
    assert out.exit_code == 1, out.output
    assert "the loss became nan at step" in " ".join(out.output.split())
    assert "broken" not in brainbench.list_models()
    assert (home / "tuning-runs" / "broken.pt").exists()
