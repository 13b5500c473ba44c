"""The shared training loop: it finds a least-squares solution, is deterministic, stops early on the validation
loss with the best epoch's weights, resumes a killed run to the same weights bit for bit, stops at a non-finite loss
naming the step with the last good checkpoint kept, and refuses a checkpoint of another run."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from brainbench.errors import ConfigError, TrainingError
from brainbench.tuning.train import TrainConfig, train


def _regression(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.normal(size=(n, 5)))
    y = x @ torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0], dtype=torch.float64) + 0.7 + 0.1 * torch.from_numpy(rng.normal(size=n))
    return x, y


def test_it_reaches_the_least_squares_solution_and_repeats_itself():
    x, y = _regression()
    want = np.linalg.lstsq(np.c_[x.numpy(), np.ones(len(x))], y.numpy(), rcond=None)[0]
    runs = []
    for _ in range(2):
        torch.manual_seed(123)  # the loop's result must not depend on the caller's random state
        net = torch.nn.Linear(5, 1).double()
        with torch.no_grad():
            net.weight.zero_(), net.bias.zero_()

        def loss(indices):
            return ((net(x[indices]).squeeze(1) - y[indices]) ** 2).mean()

        result = train(net, loss, len(x), config=TrainConfig(epochs=300, batch_size=16, lr=0.05, patience=None))
        runs.append(torch.cat([net.weight.detach().ravel(), net.bias.detach()]).numpy())
        assert result.epochs_run == 300 and result.steps == 300 * 4 and len(result.curves["train_loss"]) == 300
    np.testing.assert_allclose(runs[0], want, atol=0.02)
    assert np.array_equal(runs[0], runs[1])


def test_early_stopping_keeps_the_best_validation_epoch():
    x, y = _regression()
    net = torch.nn.Linear(5, 1).double()
    val = iter([4.0, 3.0, 2.0, 1.0, 1.5, 2.0, 9.0, 9.0])  # the first: before any step
    snapshots = {}

    def val_loss():
        snapshots[len(snapshots)] = net.weight.detach().clone()  # 0: the start, then after each epoch
        return next(val)

    result = train(net, lambda i: ((net(x[i]).squeeze(1) - y[i]) ** 2).mean(), len(x), val_loss=val_loss,
                   config=TrainConfig(epochs=7, batch_size=32, lr=0.01, patience=2))
    assert (result.epochs_run, result.best_epoch, result.stopped_early) == (5, 3, True)
    assert result.curves["val_loss"] == [3.0, 2.0, 1.0, 1.5, 2.0] and result.initial_val_loss == 4.0
    assert torch.equal(net.weight.detach(), snapshots[3]) and not torch.equal(snapshots[3], snapshots[5])


SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import numpy as np, torch
    from brainbench.tuning.train import TrainConfig, train

    checkpoint, out = sys.argv[1], sys.argv[2]
    die_at = int(os.environ.get("DIE_AT_STEP", "0"))
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Dropout(0.3), torch.nn.Linear(16, 1))
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(40, 4))).float()
    y = torch.from_numpy(rng.normal(size=40)).float()
    calls = [0]

    def loss(indices):
        calls[0] += 1
        if calls[0] == die_at:
            os.kill(os.getpid(), signal.SIGKILL)  # killed mid-epoch, as a preempted job is
        return ((net(x[indices]).squeeze(1) - y[indices]) ** 2).mean()

    def val_loss():
        return float(((net(x[:8]).squeeze(1) - y[:8]) ** 2).mean())

    result = train(net, loss, 40, val_loss=val_loss, checkpoint=checkpoint, fingerprint="toy",
                   config=TrainConfig(epochs=6, batch_size=8, lr=0.01, schedule="cosine", patience=None, seed=3))
    torch.save({"state": net.state_dict(), "resumed_from": result.resumed_from, "curves": result.curves}, out)
""")


def test_a_killed_run_resumes_from_its_checkpoint_to_the_same_weights(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    env = {**os.environ}

    def run(checkpoint, out, die_at=0):
        return subprocess.run([sys.executable, str(script), str(tmp_path / checkpoint), str(tmp_path / out)],
                              env={**env, "DIE_AT_STEP": str(die_at)}, capture_output=True, text=True, timeout=300)

    whole = run("whole.pt", "whole-out.pt")
    assert whole.returncode == 0, whole.stderr
    killed = run("cut.pt", "cut-out.pt", die_at=18)  # step 3 of epoch 4 (5 steps per epoch)
    assert killed.returncode == -9 and not (tmp_path / "cut-out.pt").exists()
    assert torch.load(tmp_path / "cut.pt", weights_only=False)["epoch"] == 3
    resumed = run("cut.pt", "cut-out.pt")
    assert resumed.returncode == 0, resumed.stderr
    a, b = torch.load(tmp_path / "whole-out.pt"), torch.load(tmp_path / "cut-out.pt")
    assert (a["resumed_from"], b["resumed_from"]) == (0, 3)
    assert a["state"].keys() == b["state"].keys()
    assert all(torch.equal(a["state"][k], b["state"][k]) for k in a["state"])
    assert a["curves"] == b["curves"]


def test_a_non_finite_loss_stops_the_run_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    x, y = _regression()
    net = torch.nn.Linear(5, 1).double()
    calls = [0]

    def loss(indices):
        calls[0] += 1
        value = ((net(x[indices]).squeeze(1) - y[indices]) ** 2).mean()
        return value * float("nan") if calls[0] == 7 else value

    path = tmp_path / "run.pt"
    with pytest.raises(TrainingError, match=r"the loss became nan at step 7 \(epoch 2, batch 3 of 4\); the checkpoint "
                                            r"of epoch 1 \(the last good state\) is kept"):
        train(net, loss, len(x), checkpoint=path, config=TrainConfig(epochs=3, batch_size=16))
    kept = torch.load(path, weights_only=False)
    assert kept["epoch"] == 1 and all(np.isfinite(v.numpy()).all() for v in kept["module"].values())
    values = iter([1.0, 1.0, float("inf")])  # the start, epoch 1, epoch 2
    with pytest.raises(TrainingError, match="the validation loss became inf after epoch 2 \\(step 8\\); the checkpoint "
                                            "of epoch 1"):
        train(torch.nn.Linear(5, 1).double(), lambda i: ((net(x[i]).squeeze(1) - y[i]) ** 2).mean(), len(x),
              val_loss=lambda: next(values), checkpoint=tmp_path / "other.pt", config=TrainConfig(epochs=3, batch_size=16))


def test_a_checkpoint_of_another_run_and_bad_settings_are_refused(tmp_path):
    x, y = _regression()
    net = torch.nn.Linear(5, 1).double()

    def loss(i):
        return ((net(x[i]).squeeze(1) - y[i]) ** 2).mean()

    path = tmp_path / "run.pt"
    train(net, loss, len(x), checkpoint=path, fingerprint="a", config=TrainConfig(epochs=2))
    with pytest.raises(ConfigError, match="belongs to another run \\(its config differ\\)"):
        train(net, loss, len(x), checkpoint=path, fingerprint="a", config=TrainConfig(epochs=2, lr=0.1))
    with pytest.raises(ConfigError, match="its fingerprint differ"):
        train(net, loss, len(x), checkpoint=path, fingerprint="b", config=TrainConfig(epochs=2))
    again = train(net, loss, len(x), checkpoint=path, fingerprint="a", config=TrainConfig(epochs=2))
    assert again.resumed_from == 2 and again.steps == 4  # a finished run is not trained again
    with pytest.raises(ConfigError, match="learning rate must be a positive number"):
        TrainConfig(lr=0)
    with pytest.raises(ConfigError, match="optimizer 'lbfgs' is not"):
        TrainConfig(optimizer="lbfgs")
    frozen = torch.nn.Linear(2, 1).requires_grad_(False)
    with pytest.raises(ConfigError, match="nothing to train"):
        train(frozen, loss, 4)


def test_the_start_competes_with_every_epoch_so_training_never_leaves_it_worse():
    x, y = _regression()
    net = torch.nn.Linear(5, 1).double()
    start = {k: v.clone() for k, v in net.state_dict().items()}
    val = iter([1.0, 2.0, 3.0])  # every epoch worse than the starting weights
    result = train(net, lambda i: ((net(x[i]).squeeze(1) - y[i]) ** 2).mean(), len(x), val_loss=lambda: next(val),
                   config=TrainConfig(epochs=2, batch_size=16, lr=0.1, patience=None))
    assert result.best_epoch == 0 and all(torch.equal(v, start[k]) for k, v in net.state_dict().items())


@pytest.mark.parametrize("mode", ["frozen", "train"])
def test_batch_norm_keeps_its_running_statistics_unless_asked_to_train_them(mode):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 1)).double()
    with torch.no_grad():
        net[1].running_mean.fill_(3.0)
        net[1].running_var.fill_(2.0)
    x, y = _regression()
    seen = []

    def loss(i):
        seen.append(net[1].training)
        return ((net(x[i]).squeeze(1) - y[i]) ** 2).mean()

    train(net, loss, len(x), config=TrainConfig(epochs=2, batch_size=16, lr=0.01, patience=None, batchnorm=mode))
    unchanged = bool((net[1].running_mean == 3.0).all() and (net[1].running_var == 2.0).all())
    assert unchanged == (mode == "frozen") and set(seen) == {mode == "train"}
    assert not net.training  # eval mode once trained


@pytest.mark.parametrize("dropout", ["off", "train"])
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_with_dropout_off_a_loss_that_is_zero_at_the_start_leaves_the_network_where_it_was(dropout, optimizer):
    # distilling a network onto its own outputs, as LwF's term does at step 0: the network is already the optimum
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.ReLU(), torch.nn.Dropout(0.5), torch.nn.Linear(16, 3),
                              torch.nn.BatchNorm1d(3)).double()
    x, _ = _regression()
    with torch.no_grad():
        target = net.eval()(x)
    start = {k: v.clone() for k, v in net.state_dict().items()}
    modes = []

    def loss(i):
        modes.append((net[2].training, net[4].training))
        return ((net(x[i]) - target[i]) ** 2).mean()

    train(net, loss, len(x), config=TrainConfig(epochs=2, batch_size=16, lr=0.01, patience=None, dropout=dropout,
                                                optimizer=optimizer))
    moved = max(float((v.double() - start[k].double()).abs().max()) for k, v in net.state_dict().items())
    assert (moved == 0.0) == (dropout == "off") and (moved > 1e-3 or dropout == "off")
    assert set(modes) == {(dropout == "train", False)}  # batch norm keeps its statistics either way (frozen)
    with pytest.raises(ConfigError, match="dropout 'on' is not 'off'"):
        TrainConfig(dropout="on")
