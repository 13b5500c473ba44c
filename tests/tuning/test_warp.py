"""Encoder warping: d_warp under explicit threshold rules, the sweep finding Li et al.'s toy intrinsic dimension,
a readout in the subspace reaching zero training loss exactly from d = n on, and Fastfood tuning on the synthetic
benchmark moving the network only within P's column space."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import brainbench
from brainbench.errors import ConfigError
from brainbench.tuning.fastfood import FastfoodProjection, LowDimensional
from brainbench.tuning.train import TrainConfig
from brainbench.tuning.warp import FastfoodConfig, ThresholdRule, default_grid, find_d_warp, tune_fastfood, warp

from helpers.toys import GroupSums


def _lbfgs(low, loss_of):
    optimiser = torch.optim.LBFGS([low.z], lr=1, max_iter=300, tolerance_grad=1e-15, tolerance_change=1e-18,
                                  line_search_fn="strong_wolfe")

    def closure():
        optimiser.zero_grad()
        loss = loss_of()
        loss.backward()
        return loss

    optimiser.step(closure)
    return float(loss_of().detach())


def test_absolute_and_relative_rules_give_different_d_as_in_li_et_al():
    # Li et al.'s MNIST numbers: baseline 0.9834... here a curve where 90 % of the baseline is reached earlier
    curve = {100: 0.80, 300: 0.86, 525: 0.886, 750: 0.901, 1000: 0.95}
    baseline = 0.984
    assert find_d_warp(curve, 0.90) == 750  # absolute 0.90 accuracy
    assert find_d_warp(curve, 0.9 * baseline) == 525  # 90 % of the baseline
    assert find_d_warp(curve, 0.99) is None  # never reached: None, not the largest d
    assert default_grid(1000, 4) == [1, 10, 100, 1000]
    with pytest.raises(ConfigError, match="threshold kind 'percent'"):
        ThresholdRule("percent")
    with pytest.raises(ConfigError, match="relative threshold needs a positive number"):
        ThresholdRule("relative", -0.5)


def test_the_sweep_finds_the_toy_problems_intrinsic_dimension_of_ten():
    target = torch.arange(10, dtype=torch.float64)
    with torch.no_grad():
        initial = float(((GroupSums()() - target) ** 2).sum())
    scores = {}
    for d in default_grid(1000, 25)[:14]:  # 1, 2, 3, 4, 5, 6, 8, 10, 12, 14, ...
        low = LowDimensional(GroupSums(), d, seed=d).double()
        scores[d] = 1 - _lbfgs(low, lambda low=low: ((low() - target) ** 2).sum()) / initial
    assert 9 not in scores or scores[9] < 1 - 1e-6
    assert find_d_warp(scores, 1 - 1e-9) == 10, scores


def test_a_readout_in_the_subspace_fits_n_generic_stimuli_exactly_from_d_equal_n():
    rng = np.random.default_rng(0)
    n, p = 8, 20
    x = torch.from_numpy(rng.normal(size=(n, p)))
    y = x @ torch.from_numpy(rng.normal(size=p))  # noiseless
    losses = {}
    for d in range(n - 3, n + 3):
        readout = torch.nn.Linear(p, 1, bias=False).double()
        with torch.no_grad():
            readout.weight.zero_()
        low = LowDimensional(readout, d, seed=d).double()
        losses[d] = _lbfgs(low, lambda low=low: ((low(x).squeeze(1) - y) ** 2).sum())
    initial = float((y ** 2).sum())
    assert all(losses[d] < 1e-12 * initial for d in range(n, n + 3)), losses
    assert all(losses[d] > 1e-3 * initial for d in range(n - 3, n)), losses


def _parent():
    return brainbench.get_model("synthetic_generator", weights="random", seed=1)


CONFIG = FastfoodConfig(layer="block1", train=TrainConfig(epochs=2, batch_size=64, lr=1e-2, patience=None, keep="last"))


def test_fastfood_tuning_moves_only_the_chosen_parameters_and_only_within_p():
    parent = _parent()
    result = tune_fastfood(parent, "synthetic.late", 12, CONFIG)
    record = result.record
    assert record["trained_parameters"] == ["block1.0.weight", "block1.0.bias"] and record["D"] == 16 * 3 * 25 + 16
    old, new = parent.module.state_dict(), result.model.module.state_dict()
    assert all(torch.equal(old[k], new[k]) for k in old if not k.startswith("block1.0"))
    delta = torch.cat([(new[k] - old[k]).reshape(-1) for k in record["trained_parameters"]]).double()
    P = FastfoodProjection(12, record["D"], seed=0).double().dense()
    z, *_ = torch.linalg.lstsq(P, delta.unsqueeze(1))
    assert float(delta.norm()) > 1e-4  # it moved ...
    assert float((P @ z).squeeze(1).sub(delta).norm()) < 1e-5 * float(delta.norm())  # ... within P's columns only
    # the readout alone equals a ridge fit on the extraction engine's own block1 features (scikit-learn's RidgeCV)
    from sklearn.linear_model import RidgeCV

    from brainbench.encoding.regression import RIDGE_ALPHAS
    from brainbench.tuning.data import load_tuning_data, mean_pearson

    data = load_tuning_data("synthetic.late", seed=0)
    features = brainbench.extract(parent, data.stimuli.subset(data.ids), ["block1"], progress=False, cache=False)
    x = np.asarray(features["block1"].data, dtype=np.float64)
    x = x / x[data.train].std()  # as the warm-up scales its training features
    ridge = RidgeCV(alphas=RIDGE_ALPHAS, alpha_per_target=True).fit(x[data.train], data.responses[data.train])
    want = mean_pearson(ridge.predict(x[data.test]), data.responses[data.test])
    assert record["held_out"]["readout_score"] == pytest.approx(want, rel=1e-4)
    # the label-free cost: the tuned and parent networks' own logits on the held-out stimuli, through the engine
    from brainbench.tuning.losses import label_free_cost

    inputs = torch.stack([parent.preprocess(data.stimuli.image(data.ids[i])) for i in data.test])
    with torch.no_grad():
        want = label_free_cost(result.model.module.eval()(inputs), parent.module.eval()(inputs))
    assert 0 < want["top1_agreement"] < 1 and want["kl_from_parent"] > 0  # the classes moved, a little
    assert record["held_out"]["top1_agreement"] == pytest.approx(want["top1_agreement"])
    assert record["held_out"]["kl_from_parent"] == pytest.approx(want["kl_from_parent"], rel=1e-4)
    with pytest.raises(ConfigError, match="d = 5000 is larger than the D = 1216 parameters"):
        tune_fastfood(parent, "synthetic.late", 5000, CONFIG)


def test_label_free_cost_known_answers():
    from scipy.special import rel_entr, softmax

    from brainbench.tuning.losses import label_free_cost

    parent = torch.tensor([[1.0, 0.0, -1.0], [0.0, 2.0, 0.0]])
    tuned = torch.tensor([[0.0, 1.0, -1.0], [0.0, 3.0, 1.0]])
    same = label_free_cost(parent, parent)
    assert same == {"kl_from_parent": pytest.approx(0.0, abs=1e-7), "top1_agreement": 1.0}
    cost = label_free_cost(tuned, parent)
    kl = rel_entr(softmax(parent.numpy(), axis=1), softmax(tuned.numpy(), axis=1)).sum(axis=1).mean()
    assert cost["top1_agreement"] == 0.5 and cost["kl_from_parent"] == pytest.approx(kl, rel=1e-5)
    with pytest.raises(ConfigError, match="one shape"):
        label_free_cost(tuned, parent[:, :2])


def test_warp_sweeps_d_reports_d_warp_under_its_rule_and_plots_the_curve(tmp_path):
    parent = _parent()
    seen = []
    rule = ThresholdRule("absolute", 0.3)
    result = warp(parent, "synthetic.late", CONFIG, ds=[1, 64], rule=rule, on_fit=lambda d, s: seen.append(d))
    assert seen == [1, 64] and [row["d"] for row in result.curve] == [1, 64] and result.D == 1216
    assert all(0 <= row["top1_agreement"] <= 1 and row["kl_from_parent"] >= 0 for row in result.curve)
    assert result.d_warp == find_d_warp({row["d"]: row["score"] for row in result.curve}, 0.3)
    assert result.threshold == 0.3 and "(absolute)" in result.summary() and result.record["grid"] == [1, 64]
    path = tmp_path / "warp.png"
    result.plot(str(path))
    assert Image.open(path).format == "PNG"
    relative = warp(parent, "synthetic.late", CONFIG, ds=[1], rule=ThresholdRule("relative", 0.5, "readout"))
    assert relative.threshold == pytest.approx(0.5 * relative.readout_score)
    with pytest.raises(ConfigError, match=r"d = 2000 is outside 1..D = 1216"):
        warp(parent, "synthetic.late", CONFIG, ds=[1, 2000])


def test_the_full_reference_trains_at_its_own_learning_rate():
    import dataclasses

    parent = _parent()
    rule = ThresholdRule("relative", 0.9, "full")
    # at a vanishing full_lr the full fine-tune stays where the ridge readout started: its score is the readout's
    still = warp(parent, "synthetic.late", dataclasses.replace(CONFIG, full_lr=1e-12), ds=[1], rule=rule)
    assert still.reference_score == pytest.approx(still.readout_score, abs=1e-6)
    assert still.record["config"]["full_lr"] == 1e-12
    moved = warp(parent, "synthetic.late", CONFIG, ds=[1], rule=rule)  # None: the full fit trains at train.lr
    assert abs(moved.reference_score - moved.readout_score) > 1e-3
    with pytest.raises(ConfigError, match="full_lr must be a positive number"):
        dataclasses.replace(CONFIG, full_lr=0.0)


def test_the_warp_command_prints_the_curve_and_d_warp_and_refuses_bad_grids(tmp_path):
    import json

    from click.testing import CliRunner

    from brainbench.cli.commands import main

    args = ["warp", "-m", "synthetic_generator", "--weights", "random", "--seed", "0", "-b", "synthetic.late",
            "--layer", "block1", "--epochs", "1", "--batch-size", "64", "--rule", "absolute", "--threshold", "0.2",
            "-q"]
    out = CliRunner().invoke(main, [*args, "--d", "4,32", "--keep", "last", "--batchnorm", "train", "--full-lr", "1e-4",
                                    "--dropout", "train",
                                    "--json", "--plot",
                                    str(tmp_path / "warp.svg")])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["record"]["config"]["train"]["keep"] == "last" and data["record"]["config"]["full_lr"] == 1e-4
    assert data["record"]["config"]["train"]["batchnorm"] == "train"
    assert data["record"]["config"]["train"]["dropout"] == "train"
    assert [row["d"] for row in data["curve"]] == [4, 32] and data["D"] == 1216 and data["threshold"] == 0.2
    assert data["d_warp"] == find_d_warp({row["d"]: row["score"] for row in data["curve"]}, 0.2)
    assert data["rule"] == {"kind": "absolute", "value": 0.2, "reference": "full"}
    assert (tmp_path / "warp.svg").read_text().lstrip().startswith("<?xml")
    bad = CliRunner().invoke(main, [*args, "--d", "4,x"])
    assert bad.exit_code == 2 and "--d takes whole numbers" in bad.output
    rates = CliRunner().invoke(main, [*args, "--d", "4", "--lr", "1e-3,1e-2", "--json"])
    assert rates.exit_code == 0, rates.output
    data = json.loads(rates.output)
    assert data["record"]["config"]["lr_grid"] == [1e-3, 1e-2] and set(data["curve"][0]["lr_val_loss"]) == {
        "0.001", "0.01"}
    table = CliRunner().invoke(main, [*args, "--d", "4", "--lr", "1e-3,1e-2"], terminal_width=200)
    assert table.exit_code == 0 and "lr chosen" in table.output and f"{data['curve'][0]['lr']:g}" in table.output
    edge = data["curve"][0]["lr_at_edge"]  # a two-rate grid: whichever wins is at an edge, and the note says so
    assert edge == ("smallest" if data["curve"][0]["lr"] == 1e-3 else "largest")
    assert f"chose lr {data['curve'][0]['lr']:g}, the {edge} of --lr" in table.output
    bad_lr = CliRunner().invoke(main, [*args, "--d", "4", "--lr", "1e-3,x"])
    assert bad_lr.exit_code == 2 and "--lr takes a learning rate or several" in bad_lr.output
    big = CliRunner().invoke(main, [*args, "--d", "99999"])
    assert big.exit_code == 2 and "d = 99999 is outside 1..D = 1216" in big.output


def test_the_warp_command_sweeps_several_models_side_by_side_on_one_grid_and_rule(tmp_path, monkeypatch):
    import json

    import matplotlib.pyplot as plt
    from click.testing import CliRunner

    from brainbench.cli.commands import main
    import brainbench.tuning.warp as warp_module
    from brainbench.tuning.warp import plot_warps

    drawn = []
    monkeypatch.setattr(warp_module, "plot_warps", lambda results, path: drawn.append(results) or plot_warps(
        results, path))
    # the generator's fixed weights (its default) and seeded random ones, the latter by the NAME.TAG syntax
    args = ["warp", "-m", "synthetic_generator", "-m", "synthetic_generator.random", "--seed", "0", "-b",
            "synthetic.late", "--layer", "block1", "--d", "4,32", "--epochs", "1", "--batch-size", "64", "--rule",
            "absolute", "--threshold", "0.2", "-q"]
    out = CliRunner().invoke(main, [*args, "--json", "--plot", str(tmp_path / "warps.png")])
    assert out.exit_code == 0, out.output
    entries = json.loads(out.output)["models"]
    assert [e["model"] for e in entries] == ["synthetic_generator", "synthetic_generator[random]"]
    for entry in entries:
        assert [row["d"] for row in entry["curve"]] == [4, 32] and entry["D"] == 1216 and entry["threshold"] == 0.2
        assert entry["d_warp"] == find_d_warp({row["d"]: row["score"] for row in entry["curve"]}, 0.2)
        assert entry["rule"] == {"kind": "absolute", "value": 0.2, "reference": "full"}
    # the two weight settings are different networks: the readouts on their frozen block1 differ
    assert entries[0]["readout_score"] != pytest.approx(entries[1]["readout_score"], abs=1e-3)
    assert entries[0]["record"]["parent_weights_hash"] != entries[1]["record"]["parent_weights_hash"]
    assert Image.open(tmp_path / "warps.png").format == "PNG"
    assert [[r.model for r in results] for results in drawn] == [[e["model"] for e in entries]]  # one plot, both

    table = CliRunner().invoke(main, [*args, "--plot", str(tmp_path / "warps.svg")], terminal_width=200)
    assert table.exit_code == 0, table.output
    header = next(line for line in table.output.splitlines() if "synthetic_generator[random]" in line)
    assert header.index("synthetic_generator ") < header.index("synthetic_generator[random]")  # a column each
    for entry in entries:  # the same seeds give the same scores in the table as in the JSON, one row per d
        for row in entry["curve"]:
            assert f"{row['score']:.4f}" in next(line for line in table.output.splitlines()
                                                 if line.strip("│┃ ").startswith(str(row["d"]) + " "))
    d_warp_row = next(line for line in table.output.splitlines() if "d_warp" in line and "│" in line)
    assert [c.strip() for c in d_warp_row.strip("│ ").split("│")][1:] == [
        str(e["d_warp"]) if e["d_warp"] is not None else "not reached" for e in entries]
    assert sum(line.startswith("synthetic_generator") and "d_warp" in line for line in table.output.splitlines()) == 2
    assert (tmp_path / "warps.svg").read_text().lstrip().startswith("<?xml")

    # plot_warps draws each model's curve, threshold and d_warp in one colour per model
    from brainbench.tuning.warp import WarpResult

    results = [WarpResult(model=e["model"], benchmark="synthetic.late", layer="block1", D=e["D"], curve=e["curve"],
                          rule=ThresholdRule("absolute", 0.2), readout_score=e["readout_score"],
                          reference_score=None, threshold=0.2, d_warp=32, record=e["record"]) for e in entries]
    fig = plot_warps(results)
    ax = fig.axes[0]
    curves = [line for line in ax.get_lines() if len(line.get_xdata()) == 2 and list(line.get_xdata()) == [4, 32]]
    assert [list(line.get_ydata()) for line in curves] == [[row["score"] for row in e["curve"]] for e in entries]
    colours = [line.get_color() for line in curves]
    assert colours[0] != colours[1]
    for colour in colours:  # its dashed threshold at 0.2 and its dotted d_warp at 32, in its colour
        mine = [line for line in ax.get_lines() if line.get_color() == colour and line not in curves]
        assert sorted((line.get_linestyle(), tuple(line.get_xdata()), tuple(line.get_ydata())) for line in mine) == [
            ("--", (0, 1), (0.2, 0.2)), (":", (32, 32), (0, 1))]
    plt.close(fig)
    with pytest.raises(ConfigError, match="needs one or more warp results"):
        plot_warps([])

    # refused before any fit: the same model twice, a model naming its weights beside other --weights
    twice = CliRunner().invoke(main, ["warp", "-m", "synthetic_generator", "-m", "synthetic_generator.fixed", "-b",
                                      "synthetic.late", "--layer", "block1", "--d", "4", "--epochs", "1", "-q"])
    assert twice.exit_code == 2 and "are the same model (synthetic_generator)" in twice.output
    clash = CliRunner().invoke(main, ["warp", "-m", "synthetic_generator.random", "--weights", "fixed", "-b",
                                      "synthetic.late", "--layer", "block1", "--d", "4", "--epochs", "1", "-q"])
    assert clash.exit_code == 2 and "names its weights (random) and --weights gives fixed" in clash.output


def test_a_learning_rate_grid_keeps_each_ds_fit_with_the_lowest_validation_loss():
    import dataclasses

    parent = _parent()
    rule = ThresholdRule("absolute", 0.3)
    # 1e4 blows the fit up (a non-finite loss, or a validation loss far above the sane rates'); it must never win
    grid = dataclasses.replace(CONFIG, lr_grid=(1e-3, 1e-2, 1e4))
    result = warp(parent, "synthetic.late", grid, ds=[4, 64], rule=rule)
    for row in result.curve:
        tried = row["lr_val_loss"]
        assert list(tried) == ["0.001", "0.01", "10000"]
        finite = {rate: loss for rate, loss in tried.items() if loss is not None and np.isfinite(loss)}
        assert row["lr"] == float(min(finite, key=finite.get)) and row["lr"] != 1e4
        assert row["val_loss"] == pytest.approx(finite[f"{row['lr']:g}"])
        assert row["lr_at_edge"] == {1e-3: "smallest", 1e-2: None}[row["lr"]]
        # the kept fit is the one a single-rate sweep at the chosen rate gives, exactly (seeded)
        alone = warp(parent, "synthetic.late", dataclasses.replace(
            CONFIG, train=dataclasses.replace(CONFIG.train, lr=row["lr"])), ds=[row["d"]], rule=rule)
        assert alone.curve[0]["score"] == pytest.approx(row["score"], abs=1e-6)
        assert alone.curve[0]["lr_val_loss"] == {f"{row['lr']:g}": pytest.approx(row["val_loss"])}
    assert result.record["config"]["lr_grid"] == [1e-3, 1e-2, 1e4]
    with pytest.raises(ConfigError, match="lr_grid names a learning rate twice"):
        dataclasses.replace(CONFIG, lr_grid=(1e-3, 1e-3))
    with pytest.raises(ConfigError, match="lr_grid must be one or more positive"):
        dataclasses.replace(CONFIG, lr_grid=(1e-3, -1.0))


def test_every_rate_failing_names_the_rates_tried():
    import dataclasses

    from brainbench.errors import TrainingError

    doomed = dataclasses.replace(CONFIG, lr_grid=(1e30, 1e35))
    with pytest.raises(TrainingError, match=r"every learning rate tried at d = 64 failed \(1e\+30, 1e\+35\)"):
        warp(_parent(), "synthetic.late", doomed, ds=[64], rule=ThresholdRule("absolute", 0.3))


def test_plot_warp_draws_sweeps_run_as_separate_jobs_side_by_side(tmp_path, monkeypatch):
    import json

    from click.testing import CliRunner

    from brainbench.cli.commands import main
    import brainbench.tuning.warp as warp_module
    from brainbench.tuning.warp import WarpResult, load_warps, plot_warps

    base = ["warp", "--seed", "0", "-b", "synthetic.late", "--layer", "block1", "--d", "4,32", "--epochs", "1",
            "--batch-size", "64", "--rule", "absolute", "--threshold", "0.2", "-q", "--json"]
    files = []
    for name in ("synthetic_generator", "synthetic_generator.random"):
        out = CliRunner().invoke(main, [*base, "-m", name])
        assert out.exit_code == 0, out.output
        files.append(tmp_path / f"{name}.json")
        files[-1].write_text(out.output)
    drawn = []
    monkeypatch.setattr(warp_module, "plot_warps", lambda results: drawn.append(results) or plot_warps(results))
    out = CliRunner().invoke(main, ["plot", "warp", *map(str, files), "-o", str(tmp_path / "warps.png")])
    assert out.exit_code == 0, out.output
    assert Image.open(tmp_path / "warps.png").format == "PNG"
    written = [json.loads(f.read_text()) for f in files]
    assert [r.as_dict() for r in drawn[0]] == written  # each file's sweep, read back whole, in the order given
    assert [line for line in out.output.splitlines() if "d_warp" in line] == [r.summary() for r in drawn[0]]
    assert [r.model for r in load_warps(files[1])] == ["synthetic_generator[random]"]

    def variant(name, change):
        data = json.loads(files[1].read_text())
        change(data)
        path = tmp_path / name
        path.write_text(json.dumps(data))
        return str(path)

    def refused(*paths):
        result = CliRunner().invoke(main, ["plot", "warp", str(files[0]), *paths, "-o", str(tmp_path / "x.png")])
        assert result.exit_code == 2 and not (tmp_path / "x.png").exists()
        return result.output

    assert "different benchmarks (synthetic.early, synthetic.late)" in refused(
        variant("bench.json", lambda d: d.update(benchmark="synthetic.early")))
    assert "different threshold rules" in refused(
        variant("rule.json", lambda d: d["rule"].update(value=0.3)))
    assert "synthetic_generator (block1) is in the files twice" in refused(str(files[0]))
    assert "lacks curve" in refused(variant("cut.json", lambda d: d.pop("curve")))
    assert "no warp result at" in refused(str(tmp_path / "absent.json"))
    (tmp_path / "junk.json").write_text("{not json")
    assert "is not a JSON file from `brainbench warp --json`" in refused(str(tmp_path / "junk.json"))
    with pytest.raises(ConfigError, match="is not a warp result"):
        WarpResult.from_dict([1, 2])
