"""The original-task cost (digits and CIFAR-10 accuracy, top-1 agreement otherwise) and ``brainbench experiment
neural-tuning``: a small CNN trained on scikit-learn's digits, tuned toward synthetic.late with LwF and with
lambda = 0; CIFAR-10's real pickle layout read from a handful of images; the experiment's II against
measure_interpretability called directly; the command's JSON against its own per-unit values."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import brainbench
from brainbench.errors import ConfigError, DataFileError, UnknownNameError
from brainbench.tuning.cost import (AGREEMENT, DIGITS_TEST, digits_network, digits_preprocess, load_task_set,
                                    task_accuracy)
from brainbench.tuning.train import TrainConfig

# LwF (lambda 10) and lambda 0 on digits_cnn's block2, Adam lr 2e-3, 10 epochs, batches of 32, seed 0
SETTINGS = dict(lambda_=10.0, train=TrainConfig(epochs=10, batch_size=32, lr=2e-3, patience=None, seed=0))


class PixelDistance:
    """Mean absolute difference of two probe images at 16 px (a cheap, exact distance for the II checks)."""

    name = "pixel-l1"

    def __init__(self, stimuli):
        from brainbench.interpret.measure import probe_images

        self.images = probe_images(stimuli, 16).reshape(len(stimuli), -1).numpy().astype(np.float64)

    def __call__(self, a, b):
        return np.abs(self.images[np.asarray(a)] - self.images[np.asarray(b)]).mean(axis=1)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """These networks are tiny: one torch thread trains them about 5 times faster on a shared CPU than two."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def experiment():
    from brainbench.tuning.experiment import neural_tuning

    probe = brainbench.get_dataset("synthetic").stimulus_set()
    distance = PixelDistance(probe)
    parent = digits_network()
    result = neural_tuning(parent, "synthetic.late", "block2", task="digits", distance=distance, k=5,
                           baseline_sets=20, n_permutations=200, **SETTINGS)
    return parent, probe, distance, result


def test_digits_are_sklearns_images_and_the_small_network_learns_them():
    from sklearn.datasets import load_digits

    test, train = load_task_set("digits"), load_task_set("digits", split="train")
    bunch = load_digits()
    order = np.random.default_rng(0).permutation(1797)
    assert len(test.labels) == DIGITS_TEST == 360 and len(train.labels) == 1437
    assert np.array_equal(test.labels, bunch.target[order[:360]])
    assert np.array_equal(test.images[7, :, :, 1], np.rint(bunch.images[order[7]] * 255 / 16).astype(np.uint8))
    net = digits_network()
    assert digits_preprocess(test.pil(0)).shape == (3, 32, 32)
    # a synthetic.late image (64 px) goes through the same preprocessing: resized to 32 px
    stimuli = brainbench.get_dataset("synthetic").stimulus_set()
    assert net.preprocess(stimuli.image(stimuli.ids[0])).shape == (3, 32, 32)
    measured = task_accuracy(net, "digits")
    logits = net.module(torch.stack([digits_preprocess(test.pil(i)) for i in range(360)])).detach().numpy()
    assert measured == {"measure": "accuracy", "value": float((logits.argmax(1) == test.labels).mean()), "n": 360,
                        "dataset": "digits", "split": "test"}
    assert measured["value"] > 0.95  # measured 0.967 at seed 0, 4 epochs
    assert task_accuracy(net, "digits", n=10)["n"] == 10


def test_tuning_raises_the_held_out_score_and_lwf_keeps_more_digits_than_lambda_zero(experiment):
    """Measured (seed 0): held-out r parent 0.178, LwF 0.199, lambda 0 0.204; digits accuracy parent 0.967,
    LwF 0.944, lambda 0 0.911 (12 of 360 images apart)."""
    parent, _probe, _distance, result = experiment
    parent_score, lwf_score, free_score = result.held_out
    assert lwf_score > parent_score + 0.01 and free_score > parent_score + 0.01, result.held_out
    accuracy = [t["value"] for t in result.task]
    assert all(t["measure"] == "accuracy" and t["dataset"] == "digits" and t["n"] == 360 for t in result.task)
    assert accuracy[0] == task_accuracy(parent, "digits")["value"]
    assert accuracy[1] == task_accuracy(result.tuned[0].model, "digits")["value"]
    assert accuracy[1] >= accuracy[2] + 5 / 360, accuracy  # LwF keeps at least 5 more of the 360 test digits
    assert result.held_out[1] == result.tuned[0].record["held_out"]["score"]
    assert result.tuned[0].record["config"]["lambda_"] == 10.0 and result.tuned[1].record["config"]["lambda_"] == 0.0


def test_the_experiments_ii_is_measure_interpretability_called_directly(experiment):
    from scipy import stats

    from brainbench.interpret.measure import measure_interpretability

    parent, probe, distance, result = experiment
    for net, got in zip([parent] + [t.model for t in result.tuned], result.ii, strict=True):
        direct = measure_interpretability(net, probe, "block2", k=5, distance=distance, baseline_sets=20, seed=0)
        assert np.array_equal(direct.ii, got.ii) and np.array_equal(direct.normalised, got.normalised)
    values = [r.ii for r in result.ii]
    assert result.anova.f == pytest.approx(stats.f_oneway(*values).statistic, rel=1e-12)
    welch = stats.ttest_ind(values[1], values[0], equal_var=False)
    assert result.pairs[(1, 0)].welch_t == pytest.approx(welch.statistic, rel=1e-12)
    assert result.pairs[(1, 0)].welch_p == pytest.approx(welch.pvalue, rel=1e-12)
    assert not np.array_equal(values[0], values[2])  # tuning moved block2's units


def test_top1_agreement_is_the_lwf_records_and_is_measured_for_a_fastfood_child(experiment):
    from brainbench.tuning.cost import agreement, top1_agreement
    from brainbench.tuning.warp import FastfoodConfig, tune_fastfood

    parent, probe, _distance, result = experiment
    lwf = result.tuned[0]
    test_ids = lwf.record["stimulus_ids"]["test"]
    assert top1_agreement(lwf.model, parent, probe, test_ids) == pytest.approx(
        lwf.record["held_out"]["top1_agreement"], abs=1e-7)
    generator = brainbench.get_model("synthetic_generator", weights="random", seed=1)
    fastfood = tune_fastfood(generator, "synthetic.late", 12, FastfoodConfig(
        layer="block1", train=TrainConfig(epochs=2, batch_size=64, lr=5e-1, patience=None, keep="last")))
    ids = fastfood.record["stimulus_ids"]["test"]
    with torch.no_grad():  # by hand: both networks' argmax on the held-out images
        x = torch.stack([generator.preprocess(probe.image(i)) for i in ids])
        same = (fastfood.model.module(x).argmax(1) == generator.module(x).argmax(1)).float().mean().item()
    assert 0 < same < 1  # the warp moved some images' top class, not all
    expected = {"measure": AGREEMENT, "value": pytest.approx(same), "n": 60, "dataset": "synthetic.late held-out stimuli"}
    assert fastfood.record["held_out"]["top1_agreement"] == pytest.approx(same)  # the Fastfood record carries it
    assert agreement(fastfood.record) == expected
    bare = {**fastfood.record, "held_out": {"score": fastfood.record["held_out"]["score"]}}  # a record without it
    with pytest.raises(ConfigError, match="holds no top-1 agreement with the parent; pass the tuned model"):
        agreement(bare)
    assert agreement(bare, model=fastfood.model, parent=generator) == expected  # measured here instead


def test_the_printed_table_and_the_figure_give_the_experiments_numbers(experiment, capsys, tmp_path):
    from brainbench.cli.experiment import print_report

    _parent, _probe, _distance, result = experiment
    print_report(result)
    lines = capsys.readouterr().out.splitlines()
    for label, score, task, ii in zip(result.labels, result.held_out, result.task, result.ii, strict=True):
        row = next(line for line in lines if f" {label} " in line and "│" in line)
        assert f"{score:.4f}" in row and f"{task['value']:.4f}" in row and f"{ii.mean:.4f} ± {ii.sd:.4f}" in row
    assert any("accuracy (digits)" in line for line in lines) and any("II (pixel-l1)" in line for line in lines)
    assert f"ANOVA across the three: F = {result.anova.f:.3f}, p = {result.anova.p:.3g}" in "\n".join(lines)
    figure = result.plot(str(tmp_path / "experiment.svg"))
    heights = [[bar.get_height() for bar in ax.patches] for ax in figure.axes[:3]]
    assert heights == [result.held_out, [t["value"] for t in result.task], [r.mean for r in result.ii]]
    assert (tmp_path / "experiment.svg").read_text().lstrip().startswith("<?xml")


def test_a_child_that_kept_its_parents_weights_is_named_in_the_report(experiment, capsys):
    from brainbench.cli.experiment import kept_start, print_report

    _parent, _probe, _distance, result = experiment
    record = result.tuned[0].record
    assert record["initial_val_loss"] is not None and record["best_epoch"] >= 1  # this child trained
    assert kept_start(record) is None
    kept = {**record, "best_epoch": 0, "initial_val_loss": 0.5, "curves": {"val_loss": [0.7, 0.6]}}
    line = kept_start(kept)
    assert "lambda 10 child kept its parent's weights" in line and "(0.5; the best epoch's 0.6)" in line
    last = {**kept, "config": {**kept["config"], "train": {**kept["config"]["train"], "keep": "last"}}}
    assert kept_start(last) is None  # --keep last keeps the last epoch, whatever the validation loss
    result.tuned[0].record = kept
    try:
        print_report(result)
    finally:
        result.tuned[0].record = record
    assert "lambda 10 child kept its parent's weights" in capsys.readouterr().out


def _cifar_files(root, test_images, test_labels):
    """CIFAR-10's python layout with 2 images per training batch: data (n, 3072) uint8, channel-major."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)

    def rows(images):
        return np.stack([im.transpose(2, 0, 1).reshape(-1) for im in images]).astype(np.uint8)

    rng = np.random.default_rng(0)
    for i in range(1, 6):
        train = rng.integers(0, 256, size=(2, 32, 32, 3), dtype=np.uint8)
        with open(folder / f"data_batch_{i}", "wb") as f:
            pickle.dump({"batch_label": f"training batch {i} of 5", "labels": [i, i + 1], "data": rows(train),
                         "filenames": [f"t{i}a.png", f"t{i}b.png"]}, f)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({"batch_label": "testing batch 1 of 1", "labels": list(test_labels), "data": rows(test_images),
                     "filenames": [f"{i}.png" for i in range(len(test_labels))]}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"num_cases_per_batch": 10000, "label_names": ["airplane", "automobile", "bird", "cat", "deer",
                                                                    "dog", "frog", "horse", "ship", "truck"],
                     "num_vis": 3072}, f)
    return folder


def _colour_model():
    """Predicts class 0, 1 or 2 by the image's brightest channel (red, green, blue) of 10 logits."""

    class Brightest(torch.nn.Module):
        def forward(self, x):
            means = x.mean(dim=(2, 3))
            return torch.cat([means, torch.full((x.shape[0], 7), -1.0)], dim=1)

    def preprocess(image):
        return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)

    return brainbench.wrap(Brightest(), preprocess, name="brightest")


def test_cifar10_accuracy_on_its_real_pickle_layout_is_the_hand_count(tmp_path):
    colours = [(250, 10, 10), (10, 250, 10), (10, 10, 250), (200, 30, 30), (30, 30, 200), (30, 220, 30)]
    images = [np.full((32, 32, 3), c, dtype=np.uint8) for c in colours]
    images[0][5, 7] = (1, 2, 3)  # one pixel apart: the layout (row, column, channel) must survive
    labels = [0, 1, 0, 0, 5, 2]  # brightest channel: 0, 1, 2, 0, 2, 1 -> right on images 0, 1, 3: 3 of 6
    folder = _cifar_files(tmp_path, images, labels)
    test = load_task_set("cifar10", root=tmp_path)
    assert test.images.shape == (6, 32, 32, 3) and np.array_equal(test.images[0], images[0])
    assert tuple(test.images[0, 5, 7]) == (1, 2, 3) and test.classes[2] == "bird"
    assert load_task_set("cifar10", root=folder, split="train").labels.tolist() == [1, 2, 2, 3, 3, 4, 4, 5, 5, 6]
    assert task_accuracy(_colour_model(), "cifar10", root=tmp_path) == {
        "measure": "accuracy", "value": 0.5, "n": 6, "dataset": "cifar10", "split": "test"}
    assert task_accuracy(_colour_model(), "cifar10", root=tmp_path, n=2)["value"] == 1.0
    (folder / "data_batch_3").unlink()
    with pytest.raises(DataFileError, match="missing data_batch_3.*cifar-10-python.tar.gz"):
        load_task_set("cifar10", root=tmp_path, split="train")
    (folder / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(DataFileError, match="is not a CIFAR-10 batch"):
        load_task_set("cifar10", root=tmp_path)


def test_a_model_whose_logits_are_not_the_sets_classes_is_refused():
    generator = brainbench.get_model("synthetic_generator", weights="random", seed=1)
    net = digits_network()
    with pytest.raises(ConfigError, match=r"no labelled image set 'mnist'; there are digits, cifar10"):
        task_accuracy(net, "mnist")

    class Twelve(torch.nn.Module):
        def forward(self, x):
            return torch.zeros(x.shape[0], 12)

    with pytest.raises(ConfigError, match=f"gives \\(12,\\) outputs per image but digits has 10 classes.*{AGREEMENT}"):
        task_accuracy(brainbench.wrap(Twelve(), digits_preprocess, name="twelve12"), "digits")
    from brainbench.tuning.experiment import neural_tuning

    with pytest.raises(ConfigError, match="lambda must be > 0 for the LwF child"):
        neural_tuning(generator, "synthetic.late", "block2", lambda_=0.0)
    with pytest.raises(ConfigError, match="task 'imagenet' is not one of agreement, digits, cifar10"):
        neural_tuning(generator, "synthetic.late", "block2", task="imagenet")
    # refused before any tuning: the layer block9 does not exist, so a check left until later would fail on it instead
    with pytest.raises(UnknownNameError, match="lpipz"):
        neural_tuning(generator, "synthetic.late", "block9", distance="lpipz")
    with pytest.raises(ConfigError, match="has 300 images, fewer than k = 400"):
        neural_tuning(generator, "synthetic.late", "block9", k=400)
    with pytest.raises(ConfigError, match="task_n and task_root choose the images of a labelled set"):
        neural_tuning(generator, "synthetic.late", "block9", task_n=10)
    twelve = brainbench.wrap(Twelve(), digits_preprocess, name="twelve")
    with pytest.raises(ConfigError, match="twelve gives \\(12,\\) outputs per image but digits has 10 classes"):
        neural_tuning(twelve, "synthetic.late", "block9", task="digits")


def test_the_command_reports_agreement_as_such_and_its_tests_in_json(tmp_path, home):
    from scipy import stats

    from brainbench.cli.commands import main

    probe = tmp_path / "probe"
    probe.mkdir()
    rng = np.random.default_rng(3)
    for i in range(16):
        Image.fromarray(rng.integers(0, 256, size=(24, 24, 3), dtype=np.uint8)).save(probe / f"p{i:02d}.png")
    out = CliRunner().invoke(main, ["experiment", "neural-tuning", "-m", "synthetic_generator", "--weights", "random",
                                    "-b", "synthetic.late", "--layer", "block2", "--lambda", "1", "--epochs", "2",
                                    "--lr", "1e-2", "--keep", "last", "--optimizer", "sgd", "--dropout", "train",
                                    "--probe", str(probe), "--k", "3",
                                    "--baseline-sets", "10",
                                    "--permutations", "100", "--json", "--plot", str(tmp_path / "fig.png"),
                                    "--save", "exp22"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    labels = [row["model"] for row in report["rows"]]
    assert labels == ["synthetic_generator[random]", "synthetic_generator[random] LwF (lambda 1)",
                      "synthetic_generator[random] lambda 0"]
    assert [row["task_measure"] for row in report["rows"]] == [AGREEMENT] * 3
    records = report["records"]
    assert all(r["config"]["train"]["keep"] == "last" and r["epochs_run"] == 2 for r in records.values())
    assert all((r["config"]["train"]["optimizer"], r["config"]["train"]["dropout"]) == ("sgd", "train")
               for r in records.values())
    assert [row["task_value"] for row in report["rows"]] == [
        1.0, records[labels[1]]["held_out"]["top1_agreement"], records[labels[2]]["held_out"]["top1_agreement"]]
    assert [row["held_out_score"] for row in report["rows"]] == [
        records[labels[1]]["held_out"]["parent_score"], records[labels[1]]["held_out"]["score"],
        records[labels[2]]["held_out"]["score"]]
    values = [np.asarray(report["ii"]["values"][label]) for label in labels]
    assert report["ii"]["distance"] == "efficientnet_lite0-perceptual" and all(v.size == 32 for v in values)
    assert report["anova"]["f"] == pytest.approx(stats.f_oneway(*values).statistic, rel=1e-9)
    pair = next(p for p in report["pairs"] if p["a"] == labels[2] and p["b"] == labels[0])
    assert pair["welch_t"] == pytest.approx(stats.ttest_ind(values[2], values[0], equal_var=False).statistic,
                                            rel=1e-9)
    assert (tmp_path / "fig.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    stored = {row["name"]: row for row in json.loads(CliRunner().invoke(main, ["tune", "list", "--json"]).output)}
    assert stored["exp22-lwf"]["parent"] == stored["exp22-control"]["parent"] == "synthetic_generator"
    saved = brainbench.get_model("exp22-lwf")
    assert saved.card.tuned_from == "synthetic_generator"
    assert not any(name.startswith("digits_cnn") for name in stored)  # the experiment fixture saved nothing
    from brainbench.tuning.experiment import neural_tuning

    generator = brainbench.get_model("synthetic_generator", weights="random", seed=1)
    for prefix, message in (("exp22", "a tuned model 'exp22-lwf' is already stored"), ("exp 22", "must be letters")):
        with pytest.raises(ConfigError, match=message):  # before any tuning: block9 would fail there
            neural_tuning(generator, "synthetic.late", "block9", save=prefix)
